"""Spoken French dictation → written text, keeping each span's audio time."""

from pipeline.normalize.normalize import normalize_dictation, normalize_text

__all__ = ["normalize_dictation", "normalize_text"]
