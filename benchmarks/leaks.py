"""Searching files for a dictated name, as an auditor would: read as they are and with every
base64 run decoded (Prefect stores a pickled result base64-encoded, where a plain grep misses it)."""

from __future__ import annotations

import base64
import binascii
import re
from pathlib import Path
from typing import Iterable, Iterator

BASE64_RUN = re.compile(rb"[A-Za-z0-9+/]{24,}={0,2}")


def readable_forms(content: bytes) -> Iterator[bytes]:
    """The bytes, then each long base64 run in them decoded."""
    yield content
    for run in BASE64_RUN.findall(content):
        try:
            yield base64.b64decode(run + b"=" * (-len(run) % 4))
        except (binascii.Error, ValueError):
            continue


def files_naming(needles: Iterable[bytes], paths: Iterable[Path]) -> list[Path]:
    """The files among `paths` in which any needle is found, in any readable form."""
    needles = [needle.lower() for needle in needles]
    return [
        path for path in paths
        if path.is_file() and any(needle in form.lower() for form in readable_forms(path.read_bytes()) for needle in needles)
    ]
