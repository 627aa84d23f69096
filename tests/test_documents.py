"""One registry of document types (pipeline/documents.py): every type has its template, its
title, its LOINC code and its place in cue order; the imaging report is one entry of it."""

from __future__ import annotations

import datetime as dt
import io
import json
import typing

import pytest
from docx import Document

from pipeline import documents
from pipeline.draft import BUNDLED_TEMPLATES, render_draft
from pipeline.extract import extract
from pipeline.normalize import normalize_text
from pipeline.records import DocumentType
from pipeline.result import SCHEMA_FILE

TODAY = dt.date(2026, 12, 7)
IMAGING = ("Compte rendu d'imagerie. Madame Claire Dumas, née le 29 février 1964. Indication : douleur de "
           "l'hypochondre droit. Technique : échographie abdominale par voie sous-costale. Résultats : vésicule "
           "alithiasique, voies biliaires fines. Foie de taille normale. Conclusion : examen normal.")


@pytest.mark.parametrize("kind", documents.KINDS, ids=lambda kind: kind.key)
def test_every_type_has_its_template_title_and_code(kind):
    assert (BUNDLED_TEMPLATES / kind.template).is_file()
    assert kind.title and kind.title[0].isupper()
    code, display = kind.loinc
    assert code.replace("-", "").isdigit() and len(code.split("-")[1]) == 1 and display


def test_the_type_list_the_result_schema_and_the_registry_agree():
    assert typing.get_args(DocumentType) == documents.DOCUMENT_TYPES
    schema = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    document_type = schema["properties"]["document_type"]["anyOf"]
    assert [part["enum"] for part in document_type if "enum" in part] == [list(documents.DOCUMENT_TYPES)]
    assert documents.kind_of(None) is documents.FALLBACK and documents.kind_of("gone") is documents.FALLBACK


def test_a_dictated_imaging_report_is_laid_out_under_its_headings(settings):
    dictated = extract(normalize_text(IMAGING))
    assert dictated.document_type == "compte_rendu_imagerie"
    paragraphs = [p for p in Document(io.BytesIO(render_draft(dictated, settings, today=TODAY))).paragraphs]
    text = [p.text for p in paragraphs]
    assert "Compte rendu d'imagerie" in text
    headings = [p.text for p in paragraphs if p.runs and all(run.bold for run in p.runs)
                and p.text in ("Indication", "Technique", "Résultats", "Conclusion")]
    assert headings == ["Indication", "Technique", "Résultats", "Conclusion"]
    assert text[text.index("Conclusion") + 1] == "Examen normal."
    assert not any(line.startswith(("Indication :", "Conclusion :")) for line in text)


def test_a_report_announced_by_its_modality_stays_an_examination_report():
    # result.json's contract: « compte rendu d'échographie » is compte_rendu_examen.
    dictated = extract(normalize_text("Compte rendu d'échographie thyroïdienne. Madame Claire Dumas. Conclusion : normal."))
    assert dictated.document_type == "compte_rendu_examen"


def test_an_imaging_report_without_headings_keeps_its_paragraphs(settings):
    dictated = extract(normalize_text("Compte rendu radiologique. Monsieur Jean Dupont. Radiographie du thorax "
                                      "de face sans anomalie."))
    assert dictated.document_type == "compte_rendu_imagerie"
    text = [p.text for p in Document(io.BytesIO(render_draft(dictated, settings, today=TODAY))).paragraphs]
    assert any("Radiographie du thorax de face sans anomalie." in line for line in text)


def test_its_export_carries_the_imaging_code():
    from pipeline.export import document_reference
    from pipeline.store import JobState

    result = {"document_type": "compte_rendu_imagerie", "patient": {"last_name": "Dumas"}, "practitioner": {}}
    state = {"history": [{"state": "filed", "at": "2026-12-07T10:00:00+00:00", "by": "dr"}]}
    reference = document_reference(result, JobState.read(state), b"%PDF-1.4", job_id="0123456789abcdef")
    assert reference["type"]["coding"][0]["code"] == "18748-4"


def test_a_fitness_certificate_gets_its_own_code_and_another_certificate_the_generic_one():
    from pipeline.export import document_reference
    from pipeline.store import JobState

    state = {"history": [{"state": "filed", "at": "2026-12-07T10:00:00+00:00", "by": "dr"}]}
    for body, code in (("Absence de contre-indication à la pratique du judo.", "104988-1"),
                       ("Il est apte à reprendre le travail.", "104988-1"),
                       ("Son état nécessite la présence d'un parent.", "34109-9")):
        result = {"document_type": "certificat", "body": body, "patient": {"last_name": "Roux"}, "practitioner": {}}
        reference = document_reference(result, JobState.read(state), b"%PDF-1.4", job_id="0123456789abcdef")
        assert reference["type"]["coding"][0]["code"] == code, body
