"""A prescription prints all that was dictated, or the secretary is told what it leaves out."""

from __future__ import annotations

import io

import pytest
from docx import Document

from pipeline.draft import prescription_line, render_draft
from pipeline.extract import extract
from pipeline.normalize import normalize_text
from pipeline.review.jobs import drug_lines, parse_drug_lines


def prescribed(text: str):
    extraction = extract(normalize_text(text))
    return extraction, [prescription_line(drug) for drug in extraction.drugs]


@pytest.mark.parametrize("dictated, line", [
    ("Ordonnance. Paracétamol 1 gramme, un comprimé trois fois par jour si douleur, pendant 5 jours.",
     "PARACÉTAMOL — 1 g — 1 comprimé — trois fois par jour — si douleur — pendant 5 jours"),
    ("Ordonnance. Amoxicilline 1 g matin et soir au milieu du repas pendant 7 jours.",
     "AMOXICILLINE — 1 g — matin et soir — au milieu du repas — pendant 7 jours"),
    ("Ordonnance. Ventoline deux bouffées en inhalation si gêne respiratoire, à renouveler 3 fois.",
     "SALBUTAMOL — 2 bouffées — en inhalation — si gêne respiratoire — à renouveler 3 fois"),
    ("Ordonnance. Zolpidem 10 mg un comprimé au coucher pendant 14 jours, non renouvelable.",
     "ZOLPIDEM — 10 mg — 1 comprimé — au coucher — pendant 14 jours — non renouvelable"),
    ("Ordonnance. Kardégic 75 mg un sachet par jour par voie orale.",
     "ACIDE ACÉTYLSALICYLIQUE — 75 mg — 1 sachet — par voie orale — par jour"),
])
def test_each_line_keeps_the_unit_taken_the_condition_the_route_the_duration_and_the_renewal(dictated, line):
    extraction, lines = prescribed(dictated)
    assert lines == [line]
    assert not [f for f in extraction.flags if f.kind == "prescription_incomplete"]


def test_a_clause_saying_more_than_its_line_is_flagged_with_the_words_left_out():
    extraction, lines = prescribed("Ordonnance. Amoxicilline 1 g matin et soir à croquer lentement.")
    assert lines == ["AMOXICILLINE — 1 g — matin et soir"]
    [flag] = [f for f in extraction.flags if f.kind == "prescription_incomplete"]
    assert "croquer lentement" in flag.text and "amoxicilline" in flag.text


def test_a_letter_is_not_flagged_for_a_drug_it_mentions():
    extraction, _ = prescribed("Courrier au docteur Martin. Il est traité par amlodipine 5 mg depuis des années.")
    assert not [f for f in extraction.flags if f.kind == "prescription_incomplete"]


def test_the_printed_prescription_carries_the_whole_line(settings):
    extraction, _ = prescribed("Ordonnance pour Madame Lucie Giraud née le 15/02/1980. "
                               "Paracétamol 1 gramme, un comprimé trois fois par jour si douleur, pendant 5 jours.")
    docx = render_draft(extraction, settings)
    text = "\n".join(p.text for p in Document(io.BytesIO(docx)).paragraphs)
    assert "1 comprimé" in text and "si douleur" in text and "pendant 5 jours" in text


def test_the_desk_edits_the_lines_as_they_print():
    extraction, _ = prescribed("Ordonnance. Paracétamol 1 gramme, un comprimé trois fois par jour si douleur.")
    stored = [{key: getattr(drug, key) for key in drug.__slots__} for drug in extraction.drugs]
    shown = drug_lines(stored)
    assert shown == "PARACÉTAMOL — 1 g — 1 comprimé — trois fois par jour — si douleur"
    assert parse_drug_lines(shown, previous=stored) == stored  # saved untouched: nothing changes
    [edited] = parse_drug_lines(shown.replace("trois fois", "quatre fois"), previous=stored)
    assert (edited["frequency"], edited["unit_dose"], edited["condition"]) == ("quatre fois par jour", "1 comprimé",
                                                                               "si douleur")
    [typed] = parse_drug_lines("Ozempic ; 0,5 mg ; une injection par semaine ; le lundi", previous=stored)
    assert typed["name"] == "sémaglutide" and typed["line"] == "Ozempic ; 0,5 mg ; une injection par semaine ; le lundi"
    assert drug_lines([typed]).endswith("le lundi")  # a part not understood is printed as she typed it
