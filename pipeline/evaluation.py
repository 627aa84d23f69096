"""Word error rate (jiwer), on text normalised the way FLEURS references are (lower case, no punctuation)."""

from __future__ import annotations

import re
import unicodedata

import jiwer

_NOT_WORD = re.compile(r"[^\w' -]+")


def normalize_for_wer(text: str) -> list[str]:
    text = unicodedata.normalize("NFC", text.lower()).replace("’", "'")
    text = _NOT_WORD.sub(" ", text).replace("-", " ")
    return text.split()


def word_errors(reference: str, hypothesis: str) -> tuple[int, int]:
    """(edit distance in words, reference length)."""
    ref, hyp = normalize_for_wer(reference), normalize_for_wer(hypothesis)
    if not ref:
        return len(hyp), 0
    measured = jiwer.process_words(" ".join(ref), " ".join(hyp))
    return measured.substitutions + measured.deletions + measured.insertions, len(ref)


def corpus_wer(pairs: list[tuple[str, str]]) -> float:
    errors = total = 0
    for reference, hypothesis in pairs:
        e, n = word_errors(reference, hypothesis)
        errors, total = errors + e, total + n
    return errors / max(total, 1)
