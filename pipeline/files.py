"""Writing files so that a crash leaves the old version or the new one, never half of one; and
a file's checksum, read in chunks (a dictation or a model may not fit in memory twice)."""

from __future__ import annotations

import hashlib
import json
import os
import threading
from pathlib import Path


def write_bytes_atomic(path: Path, data: bytes) -> None:
    # A partial name per writer: two claimers of the same job must not share one.
    partial = path.with_name(f"{path.name}.{os.getpid()}-{threading.get_ident()}.partial")
    with partial.open("wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(partial, path)


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
