"""Find dictations in the inbox and claim each one exactly once.

A claim hashes the file, names the job after the content (same audio dropped twice →
same job), and moves the file by atomic rename into the work area under that id, so no
patient name survives in a path and no file is touched while it is still being written.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Collection, Iterable, Iterator

from filelock import FileLock, Timeout

from pipeline import progress
from pipeline.errors import DicteeError
from pipeline.files import write_json_atomic
from pipeline.records import Dictation
from pipeline.settings import Settings

JOB_ID_LENGTH = 16
IGNORED_PREFIXES = (".", "~")
IGNORED_SUFFIXES = (".part", ".tmp", ".crdownload")
CLAIM_SUFFIX = ".claim.json"
# Practitioners mark urgency by dropping into inbox/urgent/ or naming the file "… urgent …".
URGENT_FOLDER = "urgent"
URGENT_WORD = "urgent"


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def job_id_for(sha256: str) -> str:
    return sha256[:JOB_ID_LENGTH]


def is_candidate(path: Path) -> bool:
    """A regular file that may be a dictation: not hidden, not a partial download, not a link."""
    return (
        not path.name.startswith(IGNORED_PREFIXES)
        and not path.name.lower().endswith(IGNORED_SUFFIXES)
        and path.is_file()
        and not path.is_symlink()
    )


def is_urgent(path: Path) -> bool:
    return path.parent.name == URGENT_FOLDER or URGENT_WORD in path.name.lower()


def inbox_folders(inbox: Path, practitioners: Iterable[str] = ()) -> list[Path]:
    """Where dictations are taken from: the inbox, each practitioner's subfolder, and their urgent/."""
    owners = [inbox, *(inbox / folder for folder in practitioners)]
    return [folder for owner in owners for folder in (owner, owner / URGENT_FOLDER)]


def author_of(path: Path, inbox: Path, practitioners: Collection[str] = ()) -> tuple[bool, str | None]:
    """(taken, practitioner folder) for a file under the inbox; files in other subfolders are not taken."""
    try:
        parts = path.relative_to(inbox).parts[:-1]
    except ValueError:
        return False, None
    if parts and parts[-1] == URGENT_FOLDER:
        parts = parts[:-1]
    if not parts:
        return True, None
    return (True, parts[0]) if len(parts) == 1 and parts[0] in practitioners else (False, None)


def stray_files(inbox: Path, practitioners: Collection[str] = ()) -> int:
    """Audio left in inbox subfolders no practitioner owns: counted so the user can be told."""
    return sum(1 for path in inbox.rglob("*") if is_candidate(path) and not author_of(path, inbox, practitioners)[0])


def list_candidates(inbox: Path, practitioners: Iterable[str] = ()) -> list[Path]:
    """Files waiting in the inbox folders, urgent first, then oldest first."""
    found = []
    for folder in inbox_folders(inbox, practitioners):
        for entry in folder.iterdir() if folder.is_dir() else ():
            try:
                if is_candidate(entry):
                    found.append((not is_urgent(entry), entry.stat().st_mtime, entry.name, entry))
            except FileNotFoundError:
                continue  # claimed by another run between listing and looking
    return [entry for *_, entry in sorted(found)]


def is_stable(path: Path, *, window_s: float, now: float | None = None) -> bool:
    """A file untouched for `window_s` is taken as fully written."""
    try:
        return (now or time.time()) - path.stat().st_mtime >= window_s
    except FileNotFoundError:
        return False


def safe_suffix(name: str) -> str:
    """The extension alone, lower-cased, restricted to plain characters (names can be hostile)."""
    suffix = Path(name.replace("\x00", "")).suffix.lower()
    return suffix if suffix[1:].isalnum() and len(suffix) <= 6 else ""


def already_handled(job_id: str, *, outbox: Path) -> bool:
    return (outbox / job_id / "result.json").exists() or (outbox / "quarantine" / job_id).exists()


class AlreadyRunning(DicteeError):
    pass


def require_inbox(inbox: Path) -> None:
    """Every run starts here: a missing inbox (a share not mounted, a typo) is said, not crashed on."""
    if not inbox.is_dir():
        raise DicteeError(f"dossier introuvable / folder not found: {inbox}")


@contextmanager
def exclusive_run(work_dir: Path) -> Iterator[None]:
    """One batch or watch at a time on an outbox: a second would resume the first's claims."""
    work_dir.mkdir(parents=True, exist_ok=True)
    lock = FileLock(work_dir / ".lock", blocking=False)
    try:
        lock.acquire()
    except Timeout as error:
        raise AlreadyRunning(
            "un autre traitement utilise déjà cette boîte d'envoi / another run is already using this outbox"
        ) from error
    try:
        yield  # the lock goes with the process, even on kill -9 (an OS lock on the file)
    finally:
        lock.release()


def claim_dictation(path: Path, *, work_dir: Path, outbox: Path, author: str | None = None) -> Dictation | None:
    """Move `path` into the work area under its job id. None if this audio was already handled,
    or if another claimer took the file first."""
    try:
        sha256 = file_sha256(path)
        modified = path.stat().st_mtime
    except FileNotFoundError:
        return None  # claimed by someone else meanwhile
    job_id = job_id_for(sha256)
    if already_handled(job_id, outbox=outbox):
        path.unlink(missing_ok=True)  # identical content already drafted or quarantined
        return None
    work_dir.mkdir(parents=True, exist_ok=True)
    target = work_dir / f"{job_id}{safe_suffix(path.name)}"
    claim_record = work_dir / f"{job_id}{CLAIM_SUFFIX}"
    if target.exists():  # a re-drop while the first copy is in progress
        path.unlink(missing_ok=True)
        return None
    received_at = datetime.fromtimestamp(modified, tz=timezone.utc).isoformat(timespec="seconds")
    urgent = is_urgent(path)
    write_json_atomic(
        claim_record,
        {"original_name": path.name, "sha256": sha256, "received_at": received_at, "urgent": urgent, "author": author},
    )
    try:
        _move_atomic(path, target)
    except FileNotFoundError:
        return None  # lost the race: the winner's claim record says the same thing as ours
    return Dictation(
        job_id=job_id, path=target, original_name=path.name, sha256=sha256, duration_s=0.0,
        received_at=received_at, urgent=urgent, author=author,
    )


def unfinished_claims(work_dir: Path) -> list[Dictation]:
    """Jobs claimed by an earlier run that stopped before finishing them: resume these."""
    if not work_dir.is_dir():
        return []
    claims = []
    for record in sorted(work_dir.glob(f"*{CLAIM_SUFFIX}")):
        job_id = record.name.removesuffix(CLAIM_SUFFIX)
        audio = next(
            (p for p in work_dir.glob(f"{job_id}*") if p.is_file() and p.stem == job_id and p.suffix != ".partial"),
            None,
        )  # the claimed audio itself, not a staging folder or a half-copied file beside it
        if audio is None:
            record.unlink(missing_ok=True)  # claim written, move never happened: file is still in the inbox
            continue
        meta = json.loads(record.read_text(encoding="utf-8"))
        claims.append(
            Dictation(
                job_id=job_id,
                path=audio,
                original_name=meta["original_name"],
                sha256=meta["sha256"],
                duration_s=0.0,
                received_at=meta["received_at"],
                urgent=meta.get("urgent", False),
                author=meta.get("author"),
            )
        )
    return sorted(claims, key=lambda claim: not claim.urgent)


def release_claim(dictation: Dictation) -> None:
    """Forget the claim record once the audio has left the work area."""
    (dictation.path.parent / f"{dictation.job_id}{CLAIM_SUFFIX}").unlink(missing_ok=True)


def _move_atomic(source: Path, target: Path) -> None:
    try:
        os.replace(source, target)
    except OSError:  # another filesystem: copy beside the target, then rename into place
        partial = target.with_name(target.name + ".partial")
        shutil.copyfile(source, partial)
        with partial.open("rb") as handle:
            os.fsync(handle.fileno())
        os.replace(partial, target)
        source.unlink()


def wait_until_written(paths: Iterable[Path], *, window_s: float, bound_s: float, poll_s: float = 0.2) -> list[Path]:
    """Wait until every file is stable (untouched for `window_s`), for `bound_s` at most.
    Returns those still changing at the bound; a file that vanished meanwhile is not waited for."""
    waiting = list(paths)
    deadline = time.monotonic() + bound_s
    while True:
        waiting = [path for path in waiting if path.exists() and not is_stable(path, window_s=window_s)]
        if not waiting or time.monotonic() >= deadline:
            return waiting
        time.sleep(poll_s)


@dataclass(frozen=True, slots=True)
class Backlog:
    """What one run takes: jobs to run, re-dropped duplicates, and the inbox positions (1-based,
    in processing order) of files left because they kept changing. Positions, never names."""

    dictations: list[Dictation]
    duplicates: int = 0
    still_writing: tuple[int, ...] = field(default=())


def claim_backlog(settings: Settings) -> Backlog:
    """Resume unfinished claims, then claim every file in the inbox, waiting (up to
    `settings.write_wait_s`) for those still being written."""
    dictations = unfinished_claims(settings.work_dir)
    candidates = list_candidates(settings.inbox, settings.practitioners)
    unstable = [path for path in candidates if not is_stable(path, window_s=settings.stable_seconds)]
    if unstable:
        progress.waiting_for_writes(files=len(unstable))
    still_changing = set(wait_until_written(unstable, window_s=settings.stable_seconds, bound_s=settings.write_wait_s))
    duplicates, still_writing = 0, []
    for position, path in enumerate(candidates, start=1):
        if path in still_changing:
            still_writing.append(position)  # left in the inbox: the next run or `dictee watch` takes it
            continue
        _, author = author_of(path, settings.inbox, settings.practitioners)
        claimed = claim_dictation(path, work_dir=settings.work_dir, outbox=settings.outbox, author=author)
        if claimed is None:
            duplicates += 1
        elif all(claimed.job_id != other.job_id for other in dictations):
            dictations.append(claimed)
    ordered = sorted(dictations, key=lambda dictation: not dictation.urgent)
    return Backlog(ordered, duplicates, tuple(still_writing))
