"""A child is named as a child, and a child's certificate is asked for by the legal representative."""

from __future__ import annotations

import datetime as dt
import io

from docx import Document

from pipeline.draft import draft_context, patient_line, render_draft
from pipeline.extract import extract
from pipeline.normalize import normalize_text
from pipeline.records import Patient

TODAY = dt.date(2026, 12, 6)
LUCIE = Patient(sex="F", last_name="Giraud", first_name="Lucie", birth_date="2017-02-15")


def test_a_minor_is_named_as_a_child_with_her_age():
    assert patient_line(LUCIE, today=TODAY) == "L'enfant Lucie GIRAUD, née le 15/02/2017 (9 ans)"
    adult = Patient(sex="F", last_name="Giraud", first_name="Anne", birth_date="1980-02-15")
    assert patient_line(adult, today=TODAY) == "Madame Anne GIRAUD, née le 15/02/1980"
    eighteen = Patient(sex="M", last_name="Roux", first_name="Paul", birth_date="2008-12-06")
    assert patient_line(eighteen, today=TODAY).startswith("Monsieur Paul ROUX")  # 18 today: an adult


def test_a_child_s_certificate_is_asked_for_by_the_legal_representative(settings):
    text = ("Certificat médical pour la petite Lucie Giraud née le 15 février 2017. Je soussignée certifie "
            "avoir examiné l'enfant ce jour. Elle ne présente pas de contre-indication à la pratique du football.")
    extraction = extract(normalize_text(text))
    context = draft_context(extraction, settings, today=TODAY)
    assert context["patient_line"].startswith("L'enfant Lucie GIRAUD")
    assert "représentant légal" in context["certificate_formula"] and "intéressé" not in context["certificate_formula"]
    letter = "\n".join(p.text for p in Document(io.BytesIO(render_draft(extraction, settings, today=TODAY))).paragraphs)
    assert "L'enfant Lucie GIRAUD" in letter and "Madame Lucie" not in letter
    assert "à la demande de son représentant légal" in letter and "intéressé(e)" not in letter
