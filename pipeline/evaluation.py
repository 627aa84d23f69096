"""Word error rate, normalised the way FLEURS references are (lower case, no punctuation)."""

from __future__ import annotations

import re
import unicodedata

_NOT_WORD = re.compile(r"[^\w' -]+")


def normalize_for_wer(text: str) -> list[str]:
    text = unicodedata.normalize("NFC", text.lower()).replace("’", "'")
    text = _NOT_WORD.sub(" ", text).replace("-", " ")
    return text.split()


def word_errors(reference: str, hypothesis: str) -> tuple[int, int]:
    """(edit distance in words, reference length)."""
    ref, hyp = normalize_for_wer(reference), normalize_for_wer(hypothesis)
    previous = list(range(len(hyp) + 1))
    for i, ref_word in enumerate(ref, start=1):
        current = [i] + [0] * len(hyp)
        for j, hyp_word in enumerate(hyp, start=1):
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ref_word != hyp_word))
        previous = current
    return previous[-1], len(ref)


def corpus_wer(pairs: list[tuple[str, str]]) -> float:
    errors = total = 0
    for reference, hypothesis in pairs:
        e, n = word_errors(reference, hypothesis)
        errors, total = errors + e, total + n
    return errors / max(total, 1)
