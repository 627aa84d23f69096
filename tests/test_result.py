"""The result contract: one typed model, its generated schema, files from earlier versions."""

from __future__ import annotations

import json

import pytest

from pipeline.result import SCHEMA_FILE, DictationResult, FlagKind, FLAG_LABELS_FR, json_schema
from pipeline.review.jobs import PATIENT_FIELDS, PATIENT_LABELS, RECIPIENT_FIELDS, RECIPIENT_LABELS

# A result.json as session 4 wrote it: no body, dates, quantities, spans, birth name, flag details.
OLDER_RESULT = {
    "schema_version": 1, "job_id": "0123456789abcdef", "priority": "normal", "author": "Dr Claire Exemple",
    "author_folder": None, "practitioner": {"name": "Dr Claire Exemple", "specialty": "", "address": "", "rpps": "",
                                            "city": "Paris"},
    "source": {"file": "a.wav", "sha256": "0" * 64, "duration_s": 4.0, "received_at": "2026-11-23T10:00:00+00:00"},
    "transcript": {"raw": "Monsieur Jean Dupont.", "text": "Monsieur Jean Dupont.", "language": "fr",
                   "words": [{"start": 0.0, "end": 0.4, "word": " Monsieur", "probability": 0.9}]},
    "document_type": None,
    "patient": {"sex": "M", "last_name": "Dupont", "first_name": "Jean", "birth_date": None, "nir": None},
    "recipient": None, "drugs": [], "conditions": [],
    "flags": [{"kind": "incomplete_identity", "text": "identité du patient incomplète", "start": None}],
    "timings": {"transcribe_s": 1.0, "extract_s": 0.1, "draft_s": 0.2},
    "a_field_from_elsewhere": 42,
}


def test_the_schema_file_is_generated_from_the_model():
    assert json.loads(SCHEMA_FILE.read_text(encoding="utf-8")) == json_schema()


def test_a_result_from_an_earlier_version_opens_and_keeps_what_it_does_not_know():
    result = DictationResult.read(OLDER_RESULT)
    extraction = result.extraction()
    assert extraction.body == "Monsieur Jean Dupont." and extraction.patient.last_name == "Dupont"
    assert result.to_json()["a_field_from_elsewhere"] == 42


def test_flags_are_a_closed_list_each_with_a_french_label():
    assert set(FLAG_LABELS_FR) == set(FlagKind)
    with pytest.raises(ValueError):
        DictationResult.read({**OLDER_RESULT, "flags": [{"kind": "made_up", "text": "", "start": None}]})


def test_the_review_form_offers_every_field_of_the_contract():
    assert set(PATIENT_LABELS) == set(PATIENT_FIELDS) >= {"birth_name", "ipp"}
    assert set(RECIPIENT_LABELS) == set(RECIPIENT_FIELDS)


def test_a_result_from_an_earlier_version_opens_in_the_review_app_and_saves(settings):
    from tests.conftest import signed_in

    folder = settings.outbox / OLDER_RESULT["job_id"]
    folder.mkdir(parents=True)
    (folder / "result.json").write_text(json.dumps(OLDER_RESULT), encoding="utf-8")
    (folder / "state.json").write_text(json.dumps(
        {"state": "pending_review", "history": [{"state": "pending_review", "at": "2026-11-23T10:01:00+00:00",
                                                  "by": "pipeline"}]}), encoding="utf-8")
    with signed_in(settings) as client:
        page = client.get(f"/jobs/{OLDER_RESULT['job_id']}")
        assert page.status_code == 200 and "Nom de naissance" in page.text and "Dupont" in page.text
        csrf = page.text.split('name="csrf" value="', 1)[1].split('"', 1)[0]
        saved = client.post(f"/jobs/{OLDER_RESULT['job_id']}/edit", data={"csrf": csrf, "patient.birth_name": "Durand"})
        assert saved.status_code == 303 and "error" not in saved.headers["location"]
    written = json.loads((folder / "result.json").read_text(encoding="utf-8"))
    assert written["patient"]["birth_name"] == "Durand" and (folder / "draft.docx").is_file()
