"""The outbox: its layout, and the only code that writes a job's folders.

    outbox/<job_id>/            draft.docx, result.json, state.json, audio.* (a draft under review)
    outbox/filed/<job_id>/      the same, read-only, once filed (pipeline/filing.py)
    outbox/quarantine/<job_id>/ audio, error.json, raison.txt (a recording that cannot be drafted)
    outbox/.work/               claims, staging folders, uploads, hints: work in flight
    outbox/register/            the practice's patients, correspondents, appointments (pipeline/directory/)
    outbox/adaptation/          examples and learned words for the practice's recognizer (pipeline/adapt/)

A job folder appears complete or not at all: everything is written into a hidden staging
folder and renamed into place, so a crash never leaves half a draft for the secretary. A job's
state lives in its state.json alone (the review database is an index of it), and a transition
of that state is atomic (`transition`).

An `Outbox` is the folder with the vault its files go through (sealed when encryption is on):
callers name a job and read or write its files here; they neither build its paths nor meet
sealed bytes.
"""

from __future__ import annotations

import copy
import datetime as dt
import os
import shutil
import time
from contextlib import contextmanager
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Iterator

from pipeline.errors import BadInput, TransientError
from pipeline.files import process_token, token_alive
from pipeline.records import Dictation
from pipeline.result import DictationResult, version_of
from pipeline.typed import is_typed
from pipeline.vault import PLAIN, Vault

STATE_PENDING, TO_SIGN, FILED, REJECTED = "pending_review", "to_sign", "filed", "rejected"
DRAFT, RESULT, STATE, ERROR = "draft.docx", "result.json", "state.json", "error.json"
QUARANTINE_README = "raison.txt"
# Files refused for their size are kept as a sample of their first bytes, not whole.
ABSURD = frozenset({"too_large"})
ABSURD_SAMPLE, ABSURD_SAMPLE_BYTES = "debut-du-fichier.bin", 64 * 1024


class MovedOn(Exception):
    """Another transition of this job went through first."""


@dataclass(frozen=True, slots=True)
class Step:
    """One step of a job's history: the state reached, when, by whom, and what the step records."""

    state: str
    at: str
    by: str
    comment: str | None = None
    signature: str | None = None  # the line a signed letter bears
    signed_by: str | None = None
    signed_by_rpps: str | None = None

    @classmethod
    def read(cls, data: dict[str, Any]) -> Step:
        return cls(**{field.name: data.get(field.name) for field in fields(cls)})


@dataclass(frozen=True, slots=True)
class JobState:
    """state.json: where a job stands, and how it got there."""

    state: str
    history: tuple[Step, ...]

    @classmethod
    def read(cls, data: dict[str, Any]) -> JobState:
        history = tuple(Step.read(step) for step in data["history"])
        return cls(data.get("state") or history[-1].state, history)

    @property
    def drafted_at(self) -> str:
        return self.history[0].at

    @property
    def filed(self) -> Step | None:
        return next((step for step in reversed(self.history) if step.state == FILED), None)

    @property
    def last_comment(self) -> Step | None:
        return next((step for step in reversed(self.history) if step.comment), None)

    @property
    def signature(self) -> str | None:
        return next((step.signature for step in reversed(self.history) if step.signature), None)


@dataclass(frozen=True, slots=True)
class Outbox:
    """The outbox folder, and the vault every file in it goes through."""

    root: Path
    vault: Vault = PLAIN

    # --- layout -------------------------------------------------------------------------

    def job_folder(self, job_id: str) -> Path:
        return self.root / job_id

    def filed_folder(self, job_id: str | None = None) -> Path:
        return self.root / "filed" / job_id if job_id else self.root / "filed"

    def quarantine_folder(self, job_id: str | None = None) -> Path:
        return self.root / "quarantine" / job_id if job_id else self.root / "quarantine"

    def work_folder(self) -> Path:
        return self.root / ".work"

    def directory_file(self, name: str) -> Path:
        """The practice's patients, correspondents or appointments, as last imported."""
        return self.root / "register" / f"{name}.json"

    def adaptation_folder(self) -> Path:
        """What the practice's recognizer learns from: examples and learned words."""
        return self.root / "adaptation"

    def job(self, job_id: str) -> JobFiles:
        """A draft's files (under review). Raises ValueError for what is no job id."""
        return JobFiles(self, job_id, self.job_folder(_checked_id(job_id)))

    def filed_job(self, job_id: str) -> JobFiles:
        """A filed letter's files, read-only."""
        return JobFiles(self, job_id, self.filed_folder(_checked_id(job_id)))

    def quarantined_job(self, job_id: str) -> JobFiles:
        """A recording set aside: its audio, error.json and reason."""
        return JobFiles(self, job_id, self.quarantine_folder(_checked_id(job_id)))

    def jobs(self) -> list[JobFiles]:
        """Every job under review or decided (not the filed copies, not quarantined), by id."""
        return [JobFiles(self, state.parent.name, state.parent) for state in sorted(self.root.glob(f"*/{STATE}"))
                if state.parent.name.isalnum()]

    # --- files, through the vault ---------------------------------------------------------

    def read_bytes(self, path: Path) -> bytes:
        return self.vault.read_bytes(path)

    def read_json(self, path: Path) -> dict:
        return self.vault.read_json(path)

    def write_bytes(self, path: Path, data: bytes) -> None:
        self.vault.write_bytes(path, data)

    def write_json(self, path: Path, data: dict) -> None:
        self.vault.write_json(path, data)

    def sealed_text(self, text: str) -> str:
        """Patient text kept beside the files (a comment in the review database), sealed as they are."""
        return self.vault.seal(text.encode("utf-8")).decode("utf-8")

    @property
    def sealed(self) -> bool:
        """Whether files are written sealed (then no file name may show in a readable file)."""
        return self.vault.enabled

    # --- a job's state --------------------------------------------------------------------

    def read_state(self, folder: Path) -> dict:
        return self.read_json(folder / STATE)

    def set_state(self, folder: Path, state: str, username: str, **extra) -> None:
        """A new state, appended to the job's history (who, when, and what else the step says)."""
        data = self.read_state(folder)
        data["state"] = state
        data["history"].append({"state": state, "at": now_iso(), "by": username, **extra})
        self.write_json(folder / STATE, data)

    @contextmanager
    def transition(self, folder: Path, *, expected: frozenset[str]) -> Iterator[None]:
        """Exactly one of two simultaneous transitions of a job goes through. Each step of its
        history has one mark, made by an exclusive create (atomic on every filesystem) and naming
        its process: the first to make it wins; one that comes after sees the state has moved on
        (MovedOn). A transition that fails midway takes its mark back; one whose process died
        midway (a kill, a power cut) left a mark that the next attempt recognises and clears."""
        step = len(self.read_state(folder)["history"])
        mark = folder / f".step-{step}"
        if not self._take_mark(mark):
            raise MovedOn
        try:
            if self.read_state(folder)["state"] not in expected:
                raise MovedOn
            yield
        except BaseException:
            mark.unlink(missing_ok=True)
            raise

    @staticmethod
    def _take_mark(mark: Path) -> bool:
        for _ in range(2):
            try:
                descriptor = os.open(mark, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
            except FileExistsError:
                try:
                    holder = mark.read_text(encoding="ascii", errors="replace")
                except FileNotFoundError:
                    continue  # taken back meanwhile: try again
                if holder and token_alive(holder):
                    return False
                if not holder and time.time() - _mtime(mark) < EMPTY_MARK_GRACE_S:
                    return False  # being written by its maker this instant
                mark.unlink(missing_ok=True)  # its process is gone: the step never happened
                continue
            with os.fdopen(descriptor, "w", encoding="ascii") as handle:
                handle.write(process_token())
            return True
        return False

    def clear_dead_marks(self) -> int:
        """Marks of transitions whose process died, cleared at start-up (the next attempt would too)."""
        cleared = 0
        for mark in self.root.glob("*/.step-*"):
            holder = mark.read_text(encoding="ascii", errors="replace") if mark.is_file() else ""
            if (holder and not token_alive(holder)) or (not holder and time.time() - _mtime(mark) > EMPTY_MARK_GRACE_S):
                mark.unlink(missing_ok=True)
                cleared += 1
        return cleared

    # --- staging and publishing -----------------------------------------------------------

    def staging_dir(self, job_id: str, purpose: str = "staging") -> Path:
        """Where a job's files are assembled before they appear in the outbox."""
        path = self.work_folder() / f"{job_id}.{purpose}"
        shutil.rmtree(path, ignore_errors=True)
        path.mkdir(parents=True)
        return path

    @contextmanager
    def staged(self, job_id: str, purpose: str = "staging") -> Iterator[Path]:
        """A staging folder; if the disk fills or turns read-only while it is written, it is removed
        (no orphan) and the error says so in French and English. The claim stays for the next run."""
        path = self.work_folder() / f"{job_id}.{purpose}"
        try:
            yield self.staging_dir(job_id, purpose)
        except OSError as error:
            shutil.rmtree(path, ignore_errors=True)
            raise outbox_error(error, self.root, claimed=True) from None

    def publish(self, dictation: Dictation, docx: bytes, result: dict) -> Path:
        """Stage draft, result, state and audio, then rename into place."""
        with self.staged(dictation.job_id) as staging:
            self.write_bytes(staging / DRAFT, docx)
            self.write_json(staging / RESULT, result)
            self.write_json(
                staging / STATE,
                {"state": STATE_PENDING, "history": [{"state": STATE_PENDING, "at": now_iso(), "by": "pipeline"}]},
            )
            return self._move_into_place(dictation, staging, self.job_folder(dictation.job_id))

    def quarantine(self, dictation: Dictation, error: BadInput) -> Path:
        """Keep the audio with a plain French and English reason. It is not retried by itself:
        dropping the recording again, or `dictee retry JOB_ID`, processes it under the current settings."""
        with self.staged(dictation.job_id, "quarantine") as staging:
            # The reason stays readable; with encryption on, the file name (it may name the patient) does not.
            shown_name = "voir / see error.json (dictee decrypt)" if self.sealed else dictation.original_name
            (staging / QUARANTINE_README).write_text(
                f"Fichier : {shown_name}\n"
                f"Refusé : {error.fr}\n\n"
                f"File: {shown_name}\n"
                f"Rejected: {error.en}\n",
                encoding="utf-8",
            )
            self.write_json(
                staging / ERROR,
                {"job_id": dictation.job_id, "code": error.code, "fr": error.fr, "en": error.en,
                 "original_name": dictation.original_name, "sha256": dictation.sha256, "at": now_iso(),
                 "size": dictation.path.stat().st_size if dictation.path.exists() else None},
            )
            if error.code in ABSURD and dictation.path.exists():
                # Not a dictation: keep its first bytes as a sample (the hash is in error.json), not a
                # copy of gigabytes (and sealing gigabytes would fail).
                self.vault.copy_in(dictation.path, staging / ABSURD_SAMPLE, limit=ABSURD_SAMPLE_BYTES)
                dictation.path.unlink()
            return self._move_into_place(dictation, staging, self.quarantine_folder(dictation.job_id))

    def _move_into_place(self, dictation: Dictation, staging: Path, target: Path) -> Path:
        """Add the audio, rename the staged folder into place, then let go of the claim. If an
        earlier run died between that rename and the cleanup, its finished folder is kept."""
        if dictation.path.exists():
            kind = "notes" if is_typed(dictation.path) else "audio"  # the player serves audio.* only
            self.vault.copy_in(dictation.path, staging / f"{kind}{dictation.path.suffix}")
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.exists():
            shutil.rmtree(staging)
        else:
            os.replace(staging, target)
        dictation.path.unlink(missing_ok=True)
        release_claim(dictation)
        drop_superseded(dictation.job_id, outbox=self.root)
        return target


def _checked_id(job_id: str) -> str:
    if not job_id.isalnum():  # never a path: no separator, no « .. »
        raise ValueError("identifiant invalide / invalid id")
    return job_id


class JobFiles:
    """One job's files, read and written through the outbox's vault; only the store knows their
    names. A request holds one: result.json is read once, and what is saved is what it reads next."""

    def __init__(self, outbox: Outbox, job_id: str, folder: Path) -> None:
        self.outbox, self.job_id, self.folder = outbox, job_id, folder
        self._result: dict[str, Any] | None = None

    @property
    def audio(self) -> Path | None:
        """The recording the draft was made from (None for typed notes)."""
        return next(self.folder.glob("audio.*"), None)

    @property
    def draft(self) -> Path:
        return self.folder / DRAFT

    def exists(self) -> bool:
        return (self.folder / RESULT).is_file()

    def modified(self) -> float:
        """When result.json was last written (0 if it is gone)."""
        return _mtime(self.folder / RESULT)

    def result_data(self) -> dict[str, Any]:
        """result.json as stored (a copy: editing it changes nothing until `save`)."""
        return copy.deepcopy(self._stored())

    def _stored(self) -> dict[str, Any]:
        if self._result is None:
            self._result = self.outbox.read_json(self.folder / RESULT)
        return self._result

    def result(self) -> DictationResult:
        """result.json through the model (raises pydantic's ValidationError for a file it refuses)."""
        return DictationResult.read(self.result_data())

    def save(self, result: dict[str, Any], *, by: str) -> DictationResult:
        """result.json as edited, one version further, saying who edited it and when — only if the
        model reads it back (the one validation: raises ValidationError, and nothing is written)."""
        review = {"edited_by": by, "edited_at": now_iso(), "version": version_of(self._stored()) + 1}
        checked = DictationResult.read({**result, "review": {**(result.get("review") or {}), **review}})
        data = checked.to_json()
        self.outbox.write_json(self.folder / RESULT, data)
        self._result = data
        return checked

    def write_draft(self, docx: bytes) -> None:
        self.outbox.write_bytes(self.draft, docx)

    def state(self) -> JobState:
        return JobState.read(self.outbox.read_state(self.folder))


# The work area and quarantine, as ingest leaves them: a claim's record beside the claimed
# audio, and quarantine folders set aside while a recording dropped again is processed.
CLAIM_SUFFIX = ".claim.json"
SUPERSEDED = ".superseded"


class OutboxUnavailable(TransientError):
    """The outbox cannot take the files (full, read-only): nothing is lost, say so and stop.
    `short` is the reason alone, for a summary line."""

    def __init__(self, message: str, short: str) -> None:
        super().__init__(message)
        self.short = short


def outbox_error(error: OSError, outbox: Path, *, claimed: bool = False) -> OutboxUnavailable:
    """`claimed`: the dictation was already in the work area (a draft could not be written), so
    it is resumed from there, not from the inbox."""
    reason = {28: ("plus de place sur le disque", "no space left on the disk"),
              30: ("système de fichiers en lecture seule", "read-only file system"),
              13: ("accès refusé", "permission denied")}.get(error.errno, ("erreur d'écriture", "write error"))
    where = (("reprend au prochain passage", "it is resumed at the next run") if claimed else
             ("les dictées restent dans la boîte de réception, relancez quand c'est réglé",
              "the dictations stay in the inbox, run again once it is fixed"))
    return OutboxUnavailable(
        f"la boîte d'envoi {outbox} ne peut pas recevoir les fichiers ({reason[0]}) : {where[0]} / "
        f"the outbox cannot take the files ({reason[1]}): {where[1]}",
        short=f"{reason[0]} / {reason[1]}")


def release_claim(dictation: Dictation) -> None:
    """Forget the claim once the audio has left the work area (published, quarantined or given
    back): its record, and the original kept on the inbox's filesystem."""
    if dictation.held_original is not None:
        dictation.held_original.unlink(missing_ok=True)
    (dictation.path.parent / f"{dictation.job_id}{CLAIM_SUFFIX}").unlink(missing_ok=True)


def drop_superseded(job_id: str, *, outbox: Path) -> None:
    for folder in (Outbox(outbox).quarantine_folder() / SUPERSEDED).glob(f"{job_id}.*"):
        shutil.rmtree(folder, ignore_errors=True)


EMPTY_MARK_GRACE_S = 5.0  # a mark is created, then its process written in: a moment apart


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except FileNotFoundError:
        return time.time()


def now_iso() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def parse_instant(at: str) -> dt.datetime:
    """An ISO time as the outbox's files write it; one without a zone is UTC, as `now_iso` writes."""
    parsed = dt.datetime.fromisoformat(at)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.timezone.utc)
