"""The parts of a French letter the dictation runs together: the salutation (« Cher confrère, »)
and the closing (« Bien confraternellement. ») become paragraphs of their own, and « Objet : »
says the type and, when dictated, the reason (« pour bilan d'une dyspnée »)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from pipeline.extract.patterns import GREETING

# The salutation opens the letter, ending at its comma.
SALUTATION = re.compile(rf"^\s*(?:{GREETING.pattern})\s*,\s*", re.IGNORECASE)
CLOSING = re.compile(
    r"(?:^|(?<=[.!?])\s+)(?P<closing>(?:bien\s+)?(?:confraternellement|amicalement|cordialement)[^.!?]*[.!?]?"
    r"|(?:avec\s+)?(?:mes|nos)\s+(?:sentiments|salutations|amitiés)[^.!?]*[.!?]?"
    r"|je\s+vous\s+prie\s+d'agréer[^.!?]*[.!?]?|en\s+vous\s+remerciant[^.!?]*[.!?]?)\s*$",
    re.IGNORECASE,
)
# « je vous adresse Monsieur X pour … » / « vu en consultation pour … » → the reason.
REASON = re.compile(r"\b(?:vous\s+adresse|vous\s+confie|vu(?:e)?\s+en\s+consultation|consulte)\b[^.]*?\bpour\s+"
                    r"(?P<reason>[^.;:!?]+)", re.IGNORECASE)
MAX_REASON = 90


@dataclass(frozen=True, slots=True)
class LetterParts:
    salutation: str | None
    paragraphs: tuple[str, ...]
    closing: str | None


def split_letter(body: str) -> LetterParts:
    """The body's paragraphs, with the salutation taken off the first and the closing off the last."""
    paragraphs = [paragraph.strip() for paragraph in body.split("\n") if paragraph.strip()]
    salutation = closing = None
    if paragraphs:
        found = SALUTATION.match(paragraphs[0])
        if found:
            salutation = paragraphs[0][: found.end()].strip().rstrip(",") + ","
            rest = paragraphs[0][found.end():].strip()
            paragraphs[0:1] = [rest[:1].upper() + rest[1:]] if rest else []
    if paragraphs:
        found = CLOSING.search(paragraphs[-1])
        if found:
            closing = found.group("closing").strip()
            closing = closing[:1].upper() + closing[1:]
            rest = paragraphs[-1][: found.start("closing")].strip()
            paragraphs[-1:] = [rest] if rest else []
    return LetterParts(salutation, tuple(paragraphs), closing)


def subject_line(title: str, body: str) -> str:
    """« Objet : » — the document's title, and the reason when the dictation gives it."""
    found = REASON.search(body)
    if not found:
        return title
    reason = found.group("reason").strip()
    if len(reason) > MAX_REASON:
        reason = reason[:MAX_REASON].rsplit(" ", 1)[0] + "…"
    return f"{title} — {reason}"
