"""A dictated name against the names a directory holds: the same once accents and case are set
aside, the same sound (the recognizer writes what it hears), or a close spelling."""

from __future__ import annotations

import re
from typing import Iterable

from rapidfuzz.distance import JaroWinkler

from pipeline.french import fold
from pipeline.french import phonetic_key

SAME, SOUNDS_ALIKE = 1.0, 0.9
SPELLING_AT_MOST = 0.85  # a close spelling never scores as high as the same sound


def given_names(names: str) -> list[str]:
    """« Marie, Louise » / « Marie Louise » → each given name (the first is the one a letter uses)."""
    return [name for name in re.split(r"[\s,]+", names.strip()) if name]


def name_score(dictated: str | None, known: Iterable[str | None]) -> float:
    """How well a dictated name matches the best of the known forms of it (0–1)."""
    if not dictated:
        return 0.0
    best = 0.0
    for name in known:
        if not name:
            continue
        if fold(dictated) == fold(name):
            return SAME
        if phonetic_key(dictated) == phonetic_key(name):
            best = max(best, SOUNDS_ALIKE)
        else:
            best = max(best, SPELLING_AT_MOST * JaroWinkler.similarity(fold(dictated), fold(name)))
    return best
