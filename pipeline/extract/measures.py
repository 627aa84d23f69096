"""Dates (ISO) and quantities (value + unit, blood pressure) mentioned in the dictation.

normalize has read them already, typed, whether said or written by the recognizer; here they
are only taken from its annotations, with the time they were said.
"""

from __future__ import annotations

from pipeline.records import NormalizedText, Quantity

QUANTITY_KINDS = frozenset({"quantity", "blood_pressure"})


def dates_in(normalized: NormalizedText) -> tuple[str, ...]:
    return tuple(note.reading.value for note in normalized.annotations if note.reading.kind == "date")


def quantities_in(normalized: NormalizedText) -> tuple[Quantity, ...]:
    return tuple(
        Quantity(value=note.reading.value, unit=note.reading.unit or "", text=normalized.text[note.start:note.end],
                 start=note.audio_start)
        for note in normalized.annotations
        if note.reading.kind in QUANTITY_KINDS
    )
