"""Letters render for every document type; patient text is escaped; templates are sandboxed."""

from __future__ import annotations

import datetime as dt
import io
import shutil

import pytest
from docx import Document
from docxtpl import DocxTemplate

from pipeline.draft import draft_context, render_draft
from pipeline.errors import TemplateError
from pipeline.records import DOCUMENT_TYPES, Extraction, Patient, Recipient

TODAY = dt.date(2026, 11, 23)


def extraction(**changes) -> Extraction:
    base = dict(
        document_type="lettre_confrere",
        patient=Patient(sex="M", first_name="Jean", last_name="Dupont", birth_date="1956-03-12"),
        recipient=Recipient(title="Dr", last_name="Martin", specialty="cardiologue", city="Lyon"),
        drugs=(), conditions=(), body="Cher confrère,\nJe vous adresse ce patient.",
    )
    return Extraction(**{**base, **changes})


def text_of(docx: bytes) -> str:
    return "\n".join(p.text for p in Document(io.BytesIO(docx)).paragraphs)


@pytest.mark.parametrize("document_type", DOCUMENT_TYPES + (None,))
def test_every_document_type_has_a_template_that_renders(settings, tmp_path, document_type):
    target = render_draft(extraction(document_type=document_type), settings, today=TODAY)
    text = text_of(target)
    assert "Monsieur Jean DUPONT, né le 12/03/1956" in text
    assert "Je vous adresse ce patient." in text
    assert settings.practitioner_rpps in text and "23 novembre 2026" in text


def test_letters_carry_the_recipient_block(settings, tmp_path):
    text = text_of(render_draft(extraction(), settings, today=TODAY))
    assert "Docteur Martin" in text and "cardiologue — Lyon" in text


def test_markup_in_patient_data_comes_out_byte_exact(settings, tmp_path):
    hostile = 'Dupont & Fils <b>{{ 7*7 }}</b> {% if 1 %}x{% endif %} "quote"'
    body = "Résultat < 5 & > 2 {{ config }}"
    target = render_draft(
        extraction(patient=Patient(sex="M", first_name="Jean", last_name=hostile), body=body),
        settings, today=TODAY,
    )
    text = text_of(target)
    assert hostile.upper() in text
    assert body in text
    assert "49" not in text


def edited_templates(settings, tmp_path, document_type: str, paragraph: str):
    """Settings pointing at a copy of the templates where `document_type` gained `paragraph`."""
    templates = tmp_path / "templates"
    shutil.copytree(settings.letter_templates, templates)
    document = Document(str(templates / f"{document_type}.docx"))
    document.add_paragraph(paragraph)
    document.save(str(templates / f"{document_type}.docx"))
    return settings.model_copy(update={"letter_templates": templates})


@pytest.mark.parametrize(
    "paragraph",
    [
        "{{ patient_line.__class__.__mro__[1].__subclasses__() }}",  # template injection: sandbox blocks it
        "{{ no_such_variable }}",  # a typo in a template: StrictUndefined fails loudly
    ],
)
def test_a_broken_or_hostile_template_fails_loudly(settings, tmp_path, paragraph):
    edited = edited_templates(settings, tmp_path, "certificat", paragraph)
    with pytest.raises(TemplateError):
        render_draft(extraction(document_type="certificat"), edited)


def test_templates_use_only_variables_the_context_provides(settings):
    provided = set(draft_context(extraction(), settings, today=TODAY))
    for document_type in DOCUMENT_TYPES:
        used = DocxTemplate(str(settings.letter_templates / f"{document_type}.docx")).get_undeclared_template_variables()
        assert used <= provided, document_type


def test_a_prescription_lists_its_drugs_one_per_line(settings, tmp_path):
    from pipeline.extract import extract
    from pipeline.normalize import normalize_text

    dictated = extract(normalize_text("Ordonnance. Monsieur Jean Dupont, né le 12 mars 1956. Ozempic 0,5 mg une "
                                      "injection par semaine pendant 3 mois. Metformine 1000 mg deux fois par jour."))
    assert dictated.document_type == "ordonnance"
    letter = tmp_path / "o.docx"
    letter.write_bytes(render_draft(dictated, settings, today=TODAY))
    lines = [p.text for p in Document(str(letter)).paragraphs]
    assert "1.\tOZEMPIC (sémaglutide) — 0,5 mg — une injection par semaine — pendant 3 mois" in lines
    assert "2.\tMETFORMINE — 1000 mg — deux fois par jour" in lines
    count = next(p for p in Document(str(letter)).paragraphs if p.text.startswith("Ordonnance de 2 lignes sur"))
    assert 'w:instr="NUMPAGES"' in count._p.xml  # the page count: a field Word and LibreOffice compute


def test_the_patient_line_shows_the_identity_as_the_ins_rules_do():
    from pipeline.draft import patient_line
    from pipeline.records import Patient

    married = Patient(sex="F", last_name="Martin", first_name="Inès", birth_date="1988-05-13", birth_name="Roche")
    assert patient_line(married) == "Madame Inès ROCHE, nom utilisé MARTIN, née le 13/05/1988"
    assert patient_line(Patient(sex="M", last_name="Dupont", first_name="Jean", birth_date="1956-03-12",
                                birth_name="Dupont")) == "Monsieur Jean DUPONT, né le 12/03/1956"
    assert patient_line(Patient()) == "Patient non identifié"
