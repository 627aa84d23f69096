"""Writing files so that a crash leaves the old version or the new one, never half of one; and
a file's checksum, read in chunks (a dictation or a model may not fit in memory twice)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, Iterator


PARTIAL_SUFFIX = ".partial"


def partial_name(path: Path) -> Path:
    # A partial name per writer: two claimers of the same job must not share one; the pid says
    # whether its writer is still alive (see `remove_dead_partials`).
    return path.with_name(f"{path.name}.{os.getpid()}-{threading.get_ident()}{PARTIAL_SUFFIX}")


@contextmanager
def written_atomically(path: Path) -> Iterator[BinaryIO]:
    """A private file to write `path` through: it appears whole when the block ends, or not at all."""
    partial = partial_name(path)
    try:
        with open_private(partial) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(partial, path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise


def write_bytes_atomic(path: Path, data: bytes) -> None:
    with written_atomically(path) as handle:
        handle.write(data)


def copy_file_atomic(source: Path, target: Path) -> None:
    """`source` copied to `target` a megabyte at a time, appearing whole or not at all."""
    with source.open("rb") as reader, written_atomically(target) as writer:
        shutil.copyfileobj(reader, writer, 1 << 20)


PRIVATE_UMASK = 0o077  # files 0600, folders 0700: drafts, audio and registers are the owner's alone


def keep_private() -> None:
    """Everything this process creates from now on is its owner's only, whatever the umask it
    was started with (a shared machine's default 022 lets every local account read drafts)."""
    os.umask(PRIVATE_UMASK)


def open_to_others(path: Path) -> bool:
    """`path` can be read or entered by accounts other than its owner."""
    try:
        return bool(path.stat().st_mode & 0o077)
    except OSError:
        return False


def open_private(path: Path):
    """A new file readable by its owner only, whatever the umask (drafts, audio, registers)."""
    return os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb")


EXPORT_SCRATCH_PREFIX = ".export-"  # pipeline/export.py's LibreOffice folders
SCRATCH_PREFIXES = (EXPORT_SCRATCH_PREFIX,)  # scratch folders named « <prefix><pid>-… »


def remove_dead_partials(folder: Path) -> int:
    """Half-written files and scratch folders whose process died (a SIGKILL mid-write): removed
    at start-up, never mistaken for work. Those of a process that still runs are left alone."""
    removed = 0
    if not folder.is_dir():
        return 0
    for path in folder.rglob(f"*{PARTIAL_SUFFIX}"):
        writer = path.name.removesuffix(PARTIAL_SUFFIX).rsplit(".", 1)[-1].split("-")[0]
        if writer.isdigit() and not process_alive(int(writer)):
            path.unlink(missing_ok=True)
            removed += 1
    for prefix in SCRATCH_PREFIXES:
        for path in folder.glob(f"{prefix}*"):
            writer = path.name.removeprefix(prefix).split("-")[0]
            if path.is_dir() and writer.isdigit() and not process_alive(int(writer)):
                shutil.rmtree(path, ignore_errors=True)
                removed += 1
    return removed


def _started(pid: int) -> str:
    """When process `pid` started (clock ticks since boot, Linux), "" where it cannot be read:
    with the pid, it tells a living writer from a new process that reused a dead one's pid."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return ""


def process_token() -> str:
    """This process, as a mark it leaves names it."""
    return f"{os.getpid()} {_started(os.getpid())}"


def token_alive(token: str) -> bool:
    """The process a mark names still runs (an unreadable mark counts as alive: left alone)."""
    pid, _, started = token.strip().partition(" ")
    if not pid.isdigit():
        return True
    return process_alive(int(pid)) and (not started or _started(int(pid)) in ("", started))


def process_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def json_bytes(data: dict) -> bytes:
    return json.dumps(data, ensure_ascii=False, indent=2).encode("utf-8")


def write_json_atomic(path: Path, data: dict) -> None:
    write_bytes_atomic(path, json_bytes(data))


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()
