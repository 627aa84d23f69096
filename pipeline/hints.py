"""What a practitioner typed beside a recording on the « Dicter » page (the patient, the
recipient): taken over what the recognizer heard, since it was typed on purpose.

Kept by job id in `outbox/.work/hints/`, sealed when the outbox is, until the draft is published.
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

from pipeline.extract.dates import DATE, matched_date
from pipeline.extract.names import split_name
from pipeline.extract.recipient import typed_recipient
from pipeline.records import Extraction, Patient
from pipeline.store import Outbox

def hints_path(outbox: Outbox, job_id: str) -> Path:
    return outbox.work_folder() / "hints" / f"{job_id}.json"


def save_hints(outbox: Outbox, job_id: str, *, patient: str | None, recipient: str | None) -> None:
    if not (patient or recipient):
        return
    path = hints_path(outbox, job_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    outbox.write_json(path, {"patient": patient, "recipient": recipient})


def load_hints(outbox: Outbox, job_id: str) -> dict | None:
    path = hints_path(outbox, job_id)
    return outbox.read_json(path) if path.is_file() else None


def discard_hints(outbox: Outbox, job_id: str) -> None:
    hints_path(outbox, job_id).unlink(missing_ok=True)


def typed_patient(text: str) -> Patient:
    """« DUPONT Jean 12/03/1956 » or « Jean Dupont, né le 12 mars 1956 »: the name and birth date."""
    found = DATE.search(text)
    birth = matched_date(found) if found else None
    name = (text[:found.start()] + " " + text[found.end():]) if found else text
    name = re.sub(r"\b(?:née?|le|madame|monsieur|mme|m\.)\b|[,;]", " ", name, flags=re.IGNORECASE)
    words = " ".join(name.split())
    first, last = split_name(words.title() if words.islower() else words) if words else (None, None)
    return Patient(last_name=last, first_name=first, birth_date=birth)


def with_hints(extraction: Extraction, hints: dict | None) -> Extraction:
    """The extraction with what was typed in place of what was heard, field by field."""
    if not hints:
        return extraction
    patient, recipient = extraction.patient, extraction.recipient
    if hints.get("patient"):
        typed = typed_patient(hints["patient"])
        patient = replace(patient, **{key: value for key in ("last_name", "first_name", "birth_date")
                                      if (value := getattr(typed, key))})
    if hints.get("recipient"):
        typed = typed_recipient(hints["recipient"])
        if typed.last_name:
            recipient = replace(typed, greeting=recipient.greeting if recipient else None)
    return replace(extraction, patient=patient, recipient=recipient)
