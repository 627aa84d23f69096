"""A prescription prints all that was dictated, or the secretary is told what it leaves out."""

from __future__ import annotations

import io

import pytest
from docx import Document

from pipeline.draft import prescription_line, prescription_lines, render_draft
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
     "VENTOLINE (salbutamol) — 2 bouffées — en inhalation — si gêne respiratoire — à renouveler 3 fois"),
    ("Ordonnance. Zolpidem 10 mg un comprimé au coucher pendant 14 jours, non renouvelable.",
     "ZOLPIDEM — 10 mg — 1 comprimé — au coucher — pendant 14 jours — non renouvelable"),
    ("Ordonnance. Kardégic 75 mg un sachet par jour par voie orale.",
     "KARDÉGIC (acide acétylsalicylique) — 75 mg — 1 sachet — par voie orale — par jour"),
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


def test_a_brand_of_several_inns_is_one_line_with_its_one_strength():
    # Never « ACIDE CLAVULANIQUE — 1 g »: the gram is the product's, said once.
    extraction, _ = prescribed("Ordonnance. Augmentin 1 g matin et soir pendant 7 jours. Amlodipine 5 mg par jour.")
    assert [drug.name for drug in extraction.drugs] == ["amoxicilline", "acide clavulanique", "amlodipine"]
    assert prescription_lines(extraction.drugs) == [
        "AUGMENTIN (amoxicilline, acide clavulanique) — 1 g — matin et soir — pendant 7 jours",
        "AMLODIPINE — 5 mg — par jour"]


def test_the_desk_keeps_a_product_whole_and_reads_back_its_printed_form():
    extraction, _ = prescribed("Ordonnance. Augmentin 1 g matin et soir pendant 7 jours. Kardégic 75 mg par jour.")
    stored = [{key: getattr(drug, key) for key in drug.__slots__} for drug in extraction.drugs]
    shown = drug_lines(stored)
    assert shown.splitlines() == ["AUGMENTIN (amoxicilline, acide clavulanique) — 1 g — matin et soir — pendant 7 jours",
                                  "KARDÉGIC (acide acétylsalicylique) — 75 mg — par jour"]
    assert parse_drug_lines(shown, previous=stored) == stored
    edited = parse_drug_lines(shown.replace("7 jours", "10 jours"), previous=stored)
    assert [(d["name"], d["brand"], d["duration"]) for d in edited[:2]] == [
        ("amoxicilline", "Augmentin", "pendant 10 jours"), ("acide clavulanique", "Augmentin", "pendant 10 jours")]
    assert drug_lines(edited).splitlines()[0] == \
        "AUGMENTIN (amoxicilline, acide clavulanique) — 1 g — matin et soir — pendant 10 jours"
    assert edited[2] == stored[2]


def test_a_drug_typed_on_the_desk_is_read_against_the_practice_s_updated_drug_list(tmp_path):
    # A brand new on the market, only in the BDPM the practice installed (`dictee lexicons update`).
    from pipeline.lexicon.drugs import PACKAGED_INDEX, updated_index_path

    updated = updated_index_path(tmp_path)
    updated.parent.mkdir(parents=True)
    updated.write_text(PACKAGED_INDEX.read_text(encoding="utf-8") + "Zorvalix\tbrand\tsémaglutide\n", encoding="utf-8")
    [typed] = parse_drug_lines("Zorvalix ; 0,5 mg", previous=[], models_dir=tmp_path)
    assert (typed["name"], typed["brand"]) == ("sémaglutide", "Zorvalix")
    [bundled] = parse_drug_lines("Zorvalix ; 0,5 mg", previous=[])
    assert bundled["name"] == "zorvalix" and bundled["brand"] is None  # the bundled list does not know it


def test_absurd_prescription_lines_are_refused_or_read_never_a_crash():
    from pipeline.review.jobs import MAX_DRUG_LINE, ReviewError

    assert parse_drug_lines(" ; ; ;\n — \n", previous=[]) == []  # separators alone: nothing to print (was a 500)
    [spaced] = parse_drug_lines("amlodipine" + " " * 1500 + "; 5 mg", previous=[])
    assert (spaced["name"], spaced["dose"]) == ("amlodipine", "5 mg")
    with pytest.raises(ReviewError, match="plus de 2000 caractères"):  # her text comes back with the reason
        parse_drug_lines("x" * (MAX_DRUG_LINE + 1), previous=[])
