"""Assemble result.json (DESIGN.md contract: these field names are fixed, new ones may be added)."""

from __future__ import annotations

from dataclasses import asdict

from pipeline.records import Dictation, Extraction, Flag, NormalizedText, Timings, Transcript
from pipeline.settings import Practitioner

SCHEMA_VERSION = 1


def low_confidence_flags(transcript: Transcript, *, threshold: float) -> tuple[Flag, ...]:
    return tuple(
        Flag("low_confidence", word.word.strip(), word.start)
        for word in transcript.words
        if word.probability < threshold
    )


def build_result(
    dictation: Dictation,
    transcript: Transcript,
    normalized: NormalizedText,
    extraction: Extraction,
    timings: Timings,
    *,
    low_confidence: float,
    practitioner: Practitioner,
    extra_flags: tuple[Flag, ...] = (),
    decodings_at_once: int = 1,
) -> dict:
    extracted = extraction.to_json()
    flags = [asdict(flag) for flag in extra_flags] + list(extracted.pop("flags"))
    flags += [asdict(flag) for flag in low_confidence_flags(transcript, threshold=low_confidence)]
    flags += [asdict(Flag("spoken_correction", note)) for note in normalized.corrections]
    return {
        "schema_version": SCHEMA_VERSION,
        "job_id": dictation.job_id,
        "priority": "urgent" if dictation.urgent else "normal",
        "author": practitioner.name,
        "author_folder": dictation.author,
        # The letterhead as signed: a letter regenerated after review keeps it, whatever the settings say by then.
        "practitioner": practitioner.model_dump(),
        "source": {
            "file": dictation.original_name,
            "sha256": dictation.sha256,
            "duration_s": transcript.duration_s,
            "received_at": dictation.received_at,
        },
        "transcript": {
            "raw": transcript.raw,
            "text": normalized.text,
            "language": transcript.language,
            "language_probability": transcript.language_probability,
            "words": [asdict(word) for word in transcript.words],
            "spans": [asdict(span) for span in normalized.spans],
        },
        **extracted,
        "flags": flags,
        "timings": {key: round(value, 3) for key, value in asdict(timings).items()},
        # Timings of dictations transcribed side by side overlap: the ETA divides by this.
        "decodings_at_once": decodings_at_once,
    }
