"""What kind of document is dictated, from its opening words; None when nothing says."""

from __future__ import annotations

import re

from pipeline.extract import patterns as P

SENTENCE = re.compile(r"[^.\n!?]+[.!?]?")


def opening_sentences(text: str, count: int = 2) -> list[re.Match[str]]:
    return [m for m in SENTENCE.finditer(text) if m.group().strip()][:count]


def classify_document(text: str) -> str | None:
    opening = " ".join(m.group().strip() for m in opening_sentences(text))
    for document_type, cue in P.DOCUMENT_TYPE_CUES:
        if cue.search(opening):
            return document_type
    if P.LETTER_GREETING.search(text):
        return "lettre_confrere"
    return None


def strip_header(text: str) -> str:
    """Drop a first sentence that only announces the document or its addressee."""
    first = opening_sentences(text, 1)
    if not first:
        return text
    sentence = first[0].group()
    is_header = any(cue.search(sentence) for _, cue in P.DOCUMENT_TYPE_CUES) or P.RECIPIENT_HEADER.search(sentence)
    if is_header and len(sentence.split()) <= P.MAX_HEADER_WORDS and not re.search(r"\d", sentence):
        return text[first[0].end():].lstrip(" \n")
    return text
