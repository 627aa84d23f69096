"""Find dictations in the inbox and claim each one exactly once.

A claim hashes the file, names the job after the content (same audio dropped twice →
same job), and moves the file by atomic rename into the work area under that id, so no
patient name survives in a path and no file is touched while it is still being written.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Collection, Iterable, Iterator

from filelock import FileLock, Timeout

from pipeline import progress, store
from pipeline.store import (  # the work area's and quarantine's layout is the store's
    CLAIM_SUFFIX, SUPERSEDED, outbox_error, release_claim,
)
from pipeline.audio import sniff_suffix
from pipeline.errors import DicteeError
from pipeline.files import file_sha256, remove_dead_partials, write_json_atomic
from pipeline.records import Dictation
from pipeline.settings import Settings

JOB_ID_LENGTH = 16
IGNORED_PREFIXES = (".", "~")
IGNORED_SUFFIXES = (".part", ".tmp", ".crdownload")
HELD_FOLDER = ".dictee-held"  # beside a file claimed from another filesystem: its original, kept
# Practitioners mark urgency by dropping into inbox/urgent/ or naming the file "… urgent …".
URGENT_FOLDER = "urgent"
URGENT_WORD = "urgent"


def readable_name(name: str) -> str:
    """A file name as text whatever its bytes: UTF-8, else Windows-1252 (Windows shares and old
    dictaphones write Latin-1 names, which Python holds as undecodable surrogates)."""
    raw = os.fsencode(name)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("cp1252", errors="replace")


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


def why_ignored(path: Path) -> str | None:
    """Why a file in the inbox is not taken, said in French / English; None if it is a candidate."""
    if path.is_symlink():
        return "lien / link"
    if path.name.startswith(IGNORED_PREFIXES):
        return "caché ou verrou / hidden or lock"
    if path.name.lower().endswith(IGNORED_SUFFIXES):
        return "copie en cours / partial download"
    return None


# The project's own placeholders (an empty folder kept in git, a desktop's index): never a
# dictation left aside, so never counted as one.
PLACEHOLDERS = frozenset({".gitkeep", ".keep", ".gitignore", ".DS_Store", "desktop.ini", "Thumbs.db"})
WATCHER_SENTINEL = ".dictee-events-sync"  # pipeline/watch.py's own, « .dictee-events-sync-<n> »


def ignored_files(inbox: Path, practitioners: Iterable[str] = ()) -> Counter:
    """Files left in the inbox folders on purpose, by reason (never by name), so the user is told."""
    reasons: Counter = Counter()
    for folder in inbox_folders(inbox, practitioners):
        for entry in folder.iterdir() if folder.is_dir() else ():
            if entry.name in PLACEHOLDERS or entry.name.startswith(WATCHER_SENTINEL):
                continue
            reason = why_ignored(entry)
            if reason and (entry.is_symlink() or entry.is_file()):
                reasons[reason] += 1
    return reasons


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
    """Audio left in inbox subfolders no practitioner owns: counted so the user can be told
    (originals we keep while their copy is processed are ours, not strays)."""
    return sum(1 for path in inbox.rglob("*") if is_candidate(path) and path.parent.name != HELD_FOLDER
               and not author_of(path, inbox, practitioners)[0])


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


def supersede_quarantine(job_id: str, *, outbox: Path) -> None:
    """Quarantine is never a dead end: a recording dropped again is processed again. Its old
    quarantine folder is set aside (not deleted: until the new outcome is published it may hold
    the only copy) and removed once the job is drafted or quarantined anew."""
    folder = store.Outbox(outbox).quarantine_folder(job_id)
    if folder.is_dir():
        aside = store.Outbox(outbox).quarantine_folder() / SUPERSEDED / f"{job_id}.{time.time_ns()}"
        aside.parent.mkdir(parents=True, exist_ok=True)
        os.replace(folder, aside)


def retry_quarantined(job_id: str, *, settings: Settings) -> Path:
    """Put a quarantined recording back into the inbox (opened if sealed, under its original
    name's extension) so the next run processes it under the current settings."""
    audio = settings.store().quarantined_job(job_id).audio if job_id.isalnum() else None
    if audio is None:
        raise DicteeError(f"aucun enregistrement en quarantaine sous cet identifiant / no quarantined recording "
                          f"with this id: {job_id}")
    require_inbox(settings.inbox)
    target = settings.inbox / f"{job_id}{audio.suffix}"
    partial = settings.inbox / f".{job_id}.retry.part"  # hidden until whole: never claimed half-written
    partial.write_bytes(settings.store().read_bytes(audio))
    old = time.time() - settings.stable_seconds - 1
    os.utime(partial, (old, old))
    os.replace(partial, target)
    return target


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
        remove_dead_partials(work_dir)  # half-written files of a run killed mid-write: never work
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
    if store.Outbox(outbox).job(job_id).exists():
        path.unlink(missing_ok=True)  # identical content already drafted
        return None
    supersede_quarantine(job_id, outbox=outbox)  # dropped again: heard again under today's settings
    work_dir.mkdir(parents=True, exist_ok=True)
    # Stored under what it is (an mp3 named .wav is an mp3), the name's extension otherwise.
    target = work_dir / f"{job_id}{sniff_suffix(path) or safe_suffix(path.name)}"
    claim_record = work_dir / f"{job_id}{CLAIM_SUFFIX}"
    if target.exists():  # a re-drop while the first copy is in progress
        path.unlink(missing_ok=True)
        return None
    received_at = datetime.fromtimestamp(modified, tz=timezone.utc).isoformat(timespec="seconds")
    urgent = is_urgent(path)
    original_name = readable_name(path.name)
    held = path.parent / HELD_FOLDER / f"{job_id}{target.suffix}"
    try:
        write_json_atomic(
            claim_record,
            {"original_name": original_name, "sha256": sha256, "received_at": received_at, "urgent": urgent,
             "author": author, "held_original": str(held)},
        )
        kept = _move_atomic(path, target, keep_source_at=held)
    except FileNotFoundError:
        return None  # lost the race: the winner's claim record says the same thing as ours
    except OSError as error:  # full or read-only outbox: leave the file where it was
        claim_record.unlink(missing_ok=True)
        raise outbox_error(error, outbox) from None
    return Dictation(
        job_id=job_id, path=target, original_name=original_name, sha256=sha256, duration_s=0.0,
        received_at=received_at, urgent=urgent, author=author, held_original=held if kept else None,
    )


def claim_bytes(data: bytes, *, name: str, work_dir: Path, outbox: Path, author: str | None = None) -> Dictation | None:
    """Claim content handed over directly (typed notes on standard input, `dictee draft FILE`),
    exactly as a file dropped in the inbox would be."""
    incoming = work_dir / f".incoming-{os.getpid()}-{time.time_ns()}"
    incoming.mkdir(parents=True)
    try:
        path = incoming / Path(name).name
        path.write_bytes(data)
        return claim_dictation(path, work_dir=work_dir, outbox=outbox, author=author)
    finally:
        shutil.rmtree(incoming, ignore_errors=True)


def abandon_claim(dictation: Dictation) -> None:
    """A claim of content handed over directly (its sender still has it) that failed midway:
    removed whole, so that sending it again drafts it rather than finding it « already claimed »."""
    dictation.path.unlink(missing_ok=True)
    release_claim(dictation)


def hand_to_inbox(data: bytes, *, name: str, inbox: Path, author: str | None = None) -> Path:
    """Content for the run that holds the outbox (`watch`): written into the inbox under a hidden
    partial name, then renamed, so it is never claimed half-written."""
    folder = inbox / author if author else inbox
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{Path(name).stem}-{time.time_ns()}{Path(name).suffix}"
    partial = folder / f".{target.name}.part"
    partial.write_bytes(data)
    os.replace(partial, target)
    return target


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
                held_original=Path(meta["held_original"]) if Path(meta.get("held_original") or "").is_file() else None,
            )
        )
    return sorted(claims, key=lambda claim: not claim.urgent)


def changed_since_claim(dictation: Dictation) -> bool:
    """The claimed file is no longer what was claimed: a copy that paused longer than the
    stability window went on writing into it (same inode after the rename), or into the
    original kept on the inbox's filesystem."""
    for path in (dictation.path, dictation.held_original):
        try:
            if path is not None and file_sha256(path) != dictation.sha256:
                return True
        except FileNotFoundError:
            continue
    return False


def written_within(dictation: Dictation, seconds: float) -> bool:
    """The claimed recording (or its original kept on the inbox's filesystem: a copy's time is
    the copy's) was last written less than `seconds` ago."""
    source = dictation.held_original if dictation.held_original and dictation.held_original.exists() else dictation.path
    try:
        return time.time() - source.stat().st_mtime < seconds
    except FileNotFoundError:
        return False


def return_to_inbox(dictation: Dictation, *, inbox: Path) -> Path:
    """Give a claimed file back to the inbox under its original name (a draft of a file that
    changed under it is never published); the next run claims it again once it is stable."""
    name = Path(dictation.original_name).name or f"{dictation.job_id}{dictation.path.suffix}"
    target = inbox / (dictation.author or "") / name
    if target.exists():
        target = target.with_name(f"{dictation.job_id}-{time.time_ns()}{dictation.path.suffix}")
    target.parent.mkdir(parents=True, exist_ok=True)
    if dictation.held_original is not None and dictation.held_original.is_file():
        os.replace(dictation.held_original, target)  # the original, whole, on its own filesystem
        dictation.path.unlink(missing_ok=True)
    else:
        _move_atomic(dictation.path, target)
    release_claim(dictation)
    return target


def _move_atomic(source: Path, target: Path, *, keep_source_at: Path | None = None) -> bool:
    """Rename `source` to `target`; across filesystems, copy then rename into place, and the
    source is removed, or set aside at `keep_source_at` (same filesystem as the source).
    Returns whether it was set aside."""
    try:
        os.replace(source, target)
        return False
    except OSError:  # another filesystem: copy beside the target, then rename into place
        partial = target.with_name(target.name + ".partial")
        try:
            shutil.copyfile(source, partial)
            with partial.open("rb") as handle:
                os.fsync(handle.fileno())
            os.replace(partial, target)
        except OSError:
            partial.unlink(missing_ok=True)  # a full disk leaves no orphan: the source is untouched
            raise
        if keep_source_at is None:
            source.unlink()
            return False
        keep_source_at.parent.mkdir(exist_ok=True)
        os.replace(source, keep_source_at)  # same filesystem: a writer still at it goes on into this file
        return True


def has_work(settings: Settings) -> bool:
    return bool(unfinished_claims(settings.work_dir) or list_candidates(settings.inbox, settings.practitioners))


def room_needed(settings: Settings) -> int:
    """Bytes the outbox needs to take the inbox's files: none when a rename moves them (same
    filesystem), their size when they must be copied across."""
    candidates = list_candidates(settings.inbox, settings.practitioners)
    try:
        if not candidates or os.stat(settings.inbox).st_dev == os.stat(settings.outbox).st_dev:
            return 0
        return sum(path.stat().st_size for path in candidates)
    except OSError:
        return 0  # an outbox that does not exist yet is made by require_writable


def require_writable(outbox: Path, *, room_for: int = 0) -> None:
    """Before any file is touched: the outbox exists or can be made, takes a file, and has room
    for `room_for` more bytes."""
    try:
        work = store.Outbox(outbox).work_folder()
        work.mkdir(parents=True, exist_ok=True)
        probe = work / f".probe-{os.getpid()}"
        probe.write_bytes(b"dictee")
        probe.unlink()
        free = shutil.disk_usage(work).free
    except OSError as error:
        raise outbox_error(error, outbox) from None
    if free < room_for:
        raise outbox_error(OSError(28, "no space"), outbox)


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
