"""NLP stage: normalized dictation text → Extraction (identity, recipient, type, drugs, conditions)."""

from __future__ import annotations

from pathlib import Path

from pipeline.extract.doctype import classify_document, strip_header
from pipeline.extract.identity import extract_patient
from pipeline.extract.measures import dates_in, quantities_in
from pipeline.extract.medical import extract_conditions, extract_drugs, prescription_flags, warm_up
from pipeline.extract.recipient import extract_copies, extract_recipient
from pipeline.documents import kind_of
from pipeline.extract import patterns as P
from pipeline.records import Extraction, Flag, FlagKind, NormalizedText

# Where in the text each flag's subject was said, so the desk can play it.
FLAG_MENTION = {"invalid_nir": "nir", "nir_sex_mismatch": "nir", "incomplete_identity": "patient",
                "patient_to_choose": "patient", "birth_date_mismatch": "patient",
                "correspondent_to_choose": "recipient"}



def extract(normalized: NormalizedText, *, models_dir: Path | None = None) -> Extraction:
    """`models_dir` holds the practice's updated lexicons (`dictee lexicons update`), if any."""
    text = normalized.text
    document_type = classify_document(text)
    recipient, header_span = extract_recipient(text)
    # A type that goes to no colleague has no recipient, even where a name is heard (an unknown type keeps it).
    if document_type is not None and not kind_of(document_type).addressed and header_span is None:
        recipient = None
    patient, flags, patient_span = extract_patient(text, exclude=header_span)
    nir = P.NIR_CUE.search(text)
    spans = {"patient": patient_span, "recipient": header_span, "nir": nir.span() if nir else None}
    copies, copy_spans = extract_copies(text)
    if document_type is None:
        flags += (Flag(FlagKind.UNKNOWN_DOCUMENT_TYPE, "type de document non reconnu / document type not recognised"),)
    if document_type == "ordonnance":
        flags += prescription_flags(text, models_dir=models_dir)
    return Extraction(
        document_type=document_type,
        patient=patient,
        recipient=recipient,
        drugs=extract_drugs(text, models_dir=models_dir),
        conditions=extract_conditions(text),
        body=strip_header(_without(text, copy_spans)),
        flags=flags,
        dates=dates_in(normalized),
        quantities=quantities_in(normalized),
        copies=copies,
        mentions={name: span for name, span in spans.items() if span},
    )


def _without(text: str, spans: list[tuple[int, int]]) -> str:
    """`text` with those sentences taken out, the words around them joined by one space."""
    for start, end in reversed(spans):
        before, after = text[:start].rstrip(" \t"), text[end:].lstrip(" \t")
        joined = before and after and not before.endswith("\n") and not after.startswith("\n")
        text = before + (" " if joined else "") + after
    return text.strip()


__all__ = ["extract", "warm_up"]
