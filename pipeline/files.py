"""Writing files so that a crash leaves the old version or the new one, never half of one."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path


def write_json_atomic(path: Path, data: dict) -> None:
    # A partial name per writer: two claimers of the same job must not share one.
    partial = path.with_name(f"{path.name}.{os.getpid()}-{threading.get_ident()}.partial")
    with partial.open("w", encoding="utf-8") as handle:
        json.dump(data, handle, ensure_ascii=False, indent=2)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(partial, path)
