"""The outbox: its layout, and the only code that writes a job's folders.

    outbox/<job_id>/            draft.docx, result.json, state.json, audio.* (a draft under review)
    outbox/filed/<job_id>/      the same, read-only, once filed (pipeline/filing.py)
    outbox/quarantine/<job_id>/ audio, error.json, raison.txt (a recording that cannot be drafted)
    outbox/.work/               claims, staging folders, uploads, hints: work in flight

A job folder appears complete or not at all: everything is written into a hidden staging
folder and renamed into place, so a crash never leaves half a draft for the secretary. A job's
state lives in its state.json alone (the review database is an index of it), and a transition
of that state is atomic (`transition`). Files go through the vault: sealed when encryption is on.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from pipeline.errors import BadInput
from pipeline import ingest  # a module reference: ingest reads this module's layout too
from pipeline.records import Dictation
from pipeline.typed import is_typed
from pipeline.vault import Vault

STATE_PENDING, TO_SIGN, FILED, REJECTED = "pending_review", "to_sign", "filed", "rejected"
DRAFT, RESULT, STATE, ERROR = "draft.docx", "result.json", "state.json", "error.json"
QUARANTINE_README = "raison.txt"


def job_folder(outbox: Path, job_id: str) -> Path:
    return outbox / job_id


def filed_folder(outbox: Path, job_id: str | None = None) -> Path:
    return outbox / "filed" / job_id if job_id else outbox / "filed"


def quarantine_folder(outbox: Path, job_id: str | None = None) -> Path:
    return outbox / "quarantine" / job_id if job_id else outbox / "quarantine"


def work_folder(outbox: Path) -> Path:
    return outbox / ".work"


def read_state(folder: Path, vault: Vault) -> dict:
    return vault.read_json(folder / STATE)


def set_state(folder: Path, vault: Vault, state: str, username: str, **extra) -> None:
    """A new state, appended to the job's history (who, when, and what else the step says)."""
    data = read_state(folder, vault)
    data["state"] = state
    data["history"].append({"state": state, "at": now_iso(), "by": username, **extra})
    vault.write_json(folder / STATE, data)


class MovedOn(Exception):
    """Another transition of this job went through first."""


@contextmanager
def transition(folder: Path, vault: Vault, *, expected: frozenset[str]) -> Iterator[None]:
    """Exactly one of two simultaneous transitions of a job goes through. Each step of its
    history has one mark, made by an exclusive create (atomic on every filesystem): the first
    to make it wins; one that comes after sees the state has moved on (MovedOn). A transition
    that fails midway takes its mark back."""
    step = len(read_state(folder, vault)["history"])
    mark = folder / f".step-{step}"
    try:
        os.close(os.open(mark, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    except FileExistsError:
        raise MovedOn from None
    try:
        if read_state(folder, vault)["state"] not in expected:
            raise MovedOn
        yield
    except BaseException:
        mark.unlink(missing_ok=True)
        raise


def now_iso() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def staging_dir(outbox: Path, job_id: str, purpose: str = "staging") -> Path:
    """Where a job's files are assembled before they appear in the outbox."""
    path = work_folder(outbox) / f"{job_id}.{purpose}"
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


@contextmanager
def staged(outbox: Path, job_id: str, purpose: str = "staging") -> Iterator[Path]:
    """A staging folder; if the disk fills or turns read-only while it is written, it is removed
    (no orphan) and the error says so in French and English. The claim stays for the next run."""
    path = work_folder(outbox) / f"{job_id}.{purpose}"
    try:
        yield staging_dir(outbox, job_id, purpose)
    except OSError as error:
        shutil.rmtree(path, ignore_errors=True)
        raise ingest.outbox_error(error, outbox, claimed=True) from None


def publish_job(dictation: Dictation, docx: bytes, result: dict, *, outbox: Path, vault: Vault) -> Path:
    """Stage draft, result, state and audio (sealed if `vault` has a key), then rename into place."""
    with staged(outbox, dictation.job_id) as staging:
        vault.write_bytes(staging / DRAFT, docx)
        vault.write_json(staging / RESULT, result)
        vault.write_json(
            staging / STATE,
            {"state": STATE_PENDING, "history": [{"state": STATE_PENDING, "at": now_iso(), "by": "pipeline"}]},
        )
        return _move_into_place(dictation, staging, job_folder(outbox, dictation.job_id), vault, outbox=outbox)


def quarantine(dictation: Dictation, error: BadInput, *, outbox: Path, vault: Vault) -> Path:
    """Keep the audio with a plain French and English reason. It is not retried by itself:
    dropping the recording again, or `dictee retry JOB_ID`, processes it under the current settings."""
    with staged(outbox, dictation.job_id, "quarantine") as staging:
        # The reason stays readable; with encryption on, the file name (it may name the patient) does not.
        shown_name = "voir / see error.json (dictee decrypt)" if vault.enabled else dictation.original_name
        (staging / QUARANTINE_README).write_text(
            f"Fichier : {shown_name}\n"
            f"Refusé : {error.fr}\n\n"
            f"File: {shown_name}\n"
            f"Rejected: {error.en}\n",
            encoding="utf-8",
        )
        vault.write_json(
            staging / ERROR,
            {"job_id": dictation.job_id, "code": error.code, "fr": error.fr, "en": error.en,
             "original_name": dictation.original_name, "sha256": dictation.sha256, "at": now_iso()},
        )
        return _move_into_place(dictation, staging, quarantine_folder(outbox, dictation.job_id), vault, outbox=outbox)


def _move_into_place(dictation: Dictation, staging: Path, target: Path, vault: Vault, *, outbox: Path) -> Path:
    """Add the audio, rename the staged folder into place, then let go of the claim. If an
    earlier run died between that rename and the cleanup, its finished folder is kept."""
    if dictation.path.exists():
        kind = "notes" if is_typed(dictation.path) else "audio"  # the player serves audio.* only
        vault.copy_in(dictation.path, staging / f"{kind}{dictation.path.suffix}")
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists():
        shutil.rmtree(staging)
    else:
        os.replace(staging, target)
    dictation.path.unlink(missing_ok=True)
    ingest.release_claim(dictation)
    ingest.drop_superseded(dictation.job_id, outbox=outbox)
    return target
