"""A built index kept on disk, once per edsnlp version and index format: CIM-10 takes ~2 s to
build and ~0.2 s to load. An unwritable cache only costs the rebuild."""

from __future__ import annotations

import os
import pickle
from importlib import metadata
from pathlib import Path
from typing import Callable, TypeVar

INDEX_FORMAT = 5  # bump when the matcher's keys or the label cleaning change
T = TypeVar("T")


def cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "dictee"


def cached(name: str, build: Callable[[], T]) -> T:
    path = cache_dir() / f"{name}-edsnlp{metadata.version('edsnlp')}-v{INDEX_FORMAT}.pickle"
    try:
        with path.open("rb") as handle:
            return pickle.load(handle)
    except (OSError, pickle.UnpicklingError, EOFError, AttributeError):
        pass
    value = build()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(f".{os.getpid()}.partial")
        with partial.open("wb") as handle:
            pickle.dump(value, handle, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(partial, path)
    except OSError:
        pass
    return value
