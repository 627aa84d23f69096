"""Letters as French practices send them: the prescription (child, ALD bizone), the
certificate, the signature image, and the date of signing."""

from __future__ import annotations

import datetime as dt
import io
import json
import re
import shutil

import pytest
from docx import Document
from PIL import Image

from pipeline.draft import render_draft
from pipeline.extract import extract
from pipeline.letter import ald_zones, age_line, weight_kg
from pipeline.normalize import normalize_text
from tests.conftest import signed_in
from tests.test_export import SCREENSHOTS

TODAY = dt.date(2026, 12, 2)
BIZONE = ("Ordonnance pour l'enfant Léo Martin, né le 5 mars 2020, poids 21 kilos. Dans le cadre de son ALD : "
          "amoxicilline 500 mg trois fois par jour pendant 7 jours. Hors ALD : paracétamol 300 mg toutes les six heures "
          "si fièvre. À revoir dans une semaine.")


def paragraphs(docx: bytes) -> list[str]:
    return [p.text for p in Document(io.BytesIO(docx)).paragraphs if p.text.strip()]


def drafted(text: str, settings, **options) -> bytes:
    return render_draft(extract(normalize_text(text)), settings, today=TODAY, **options)


def test_drugs_fall_in_the_zone_the_dictation_gives_them():
    body = "Dans le cadre de son ALD : metformine 1000 mg. Atorvastatine 20 mg le soir. Hors ALD : paracétamol 1 g."
    assert ald_zones(body, ["metformine 1000 mg", "Atorvastatine 20 mg", "paracétamol 1 g"]) == [True, True, False]
    said_of_one = "Lévothyroxine 75 µg, en rapport avec l'affection de longue durée. Ibuprofène 400 mg."
    assert ald_zones(said_of_one, ["Lévothyroxine 75 µg", "Ibuprofène 400 mg"]) == [True, False]
    assert ald_zones("Amoxicilline 1 g matin et soir.", ["Amoxicilline 1 g"]) is None  # an ordinary prescription


def test_a_child_is_given_an_age_and_its_dictated_weight():
    assert age_line("2020-03-05", TODAY) == "6 ans" and age_line("2025-10-01", TODAY) == "14 mois"
    assert age_line("1950-01-01", TODAY) is None and age_line(None, TODAY) is None
    assert weight_kg("poids 21,5 kg") == "21,5" and weight_kg("il pèse 18 kilos") == "18" and weight_kg("RAS") is None


def test_a_bizone_prescription_for_a_child_lists_each_drug_in_its_zone(settings):
    lines = paragraphs(drafted(BIZONE, settings))
    assert "Âge : 6 ans — Poids : 21 kg" in lines
    ald = lines.index(next(line for line in lines if line.startswith("Prescriptions relatives au traitement")))
    other = lines.index(next(line for line in lines if line.startswith("Prescriptions SANS RAPPORT")))
    assert lines[ald + 1].startswith("1.\tAMOXICILLINE — 500 mg") and "pendant 7 jours" in lines[ald + 1]
    assert lines[other + 1].startswith("1.\tPARACÉTAMOL — 300 mg")  # each zone counts from 1
    assert "RPPS : 10000000000" in lines
    assert not any("amoxicilline" in line for line in lines)  # the sentences prescribing are the numbered lines
    assert any(line.startswith("À revoir dans") for line in lines)  # what else it says stays


def test_an_ordinary_prescription_has_one_list_and_no_zones(settings):
    lines = paragraphs(drafted("Ordonnance pour Madame Anne Roux née le 3 avril 1980. Amoxicilline 1 g matin et soir "
                               "pendant 6 jours.", settings))
    assert any(line.startswith("1.\tAMOXICILLINE — 1 g") for line in lines)
    assert not any(line.startswith("Prescriptions") or line.startswith("Âge") for line in lines)


def test_a_certificate_is_done_at_a_place_and_date_and_carries_its_formula_once(settings):
    text = ("Certificat médical. Je soussigné certifie avoir examiné Madame Anne Roux née le 3 avril 1980, qui ne "
            "présente pas de contre-indication à la pratique du tennis.")
    lines = paragraphs(drafted(text, settings))
    assert lines[-3:] == ["Certificat établi à la demande de l'intéressé(e) et remis en main propre pour servir et "
                          "valoir ce que de droit.", "Fait à Paris, le 2 décembre 2026", "Dr Claire Exemple"]
    assert "Paris, le 2 décembre 2026" not in lines  # no date line at the top
    said = paragraphs(drafted(text + " Certificat remis en main propre.", settings))
    assert not any(line.startswith("Certificat établi") for line in said)


def test_a_signed_letter_bears_the_signature_image_and_a_draft_does_not(settings, tmp_path):
    scan = tmp_path / "signature.png"
    Image.new("RGB", (300, 120), "white").save(scan)
    signing = settings.model_copy(update={"practitioner_signature_image": str(scan)})
    text = "Courrier au docteur Martin. Cher confrère, je vous adresse Monsieur Jean Dupont. Bien confraternellement."
    signed = Document(io.BytesIO(drafted(text, signing, signature="Signé électroniquement par Dr Claire Exemple")))
    assert len(signed.inline_shapes) == 1
    assert len(Document(io.BytesIO(drafted(text, signing))).inline_shapes) == 0
    assert len(Document(io.BytesIO(drafted(text, settings, signature="Signé"))).inline_shapes) == 0  # none set


def test_a_filed_letter_keeps_the_date_it_was_signed(settings, fake_transcriber):
    from pipeline import ingest
    from pipeline.job import run_job
    from pipeline.review.decisions import letter_date
    from tests.conftest import write_tone

    source = write_tone(settings.inbox / "dictee.wav", seconds=4.0)
    dictation = ingest.claim_dictation(source, work_dir=settings.work_dir, outbox=settings.outbox)
    run_job(dictation, settings)
    job_id = dictation.job_id
    assert letter_date(settings.store().job(job_id)) == dt.date.today()
    with signed_in(settings, "dr_claire", role="practitioner") as client:
        csrf = re.search(r'name="csrf" value="([^"]+)"', client.get("/?state=pending_review").text).group(1)
        assert client.post(f"/jobs/{job_id}/approve", data={"csrf": csrf}).status_code == 303
        state_file = settings.store().job(job_id).folder / "state.json"
        state = json.loads(state_file.read_text(encoding="utf-8"))
        state["history"][-1]["at"] = "2026-01-15T10:00:00+00:00"  # as if signed in January
        state_file.write_text(json.dumps(state), encoding="utf-8")
        preview = client.get(f"/jobs/{job_id}/preview").text
    assert "Paris, le 15 janvier 2026" in preview and "Signé électroniquement" in preview


def test_the_bizone_prescription_prints_as_a_pdf_with_both_zones(settings):
    import pypdfium2
    from pypdf import PdfReader

    from pipeline import export

    if shutil.which("soffice") is None:
        pytest.skip("LibreOffice is not installed (apt-get install libreoffice-writer-nogui)")
    pdf = export.to_pdfa(drafted(BIZONE, settings), scratch_root=settings.store().work_folder())
    text = " ".join(PdfReader(io.BytesIO(pdf)).pages[0].extract_text().split())
    assert "AFFECTION EXONÉRANTE" in text and "MALADIES INTERCURRENTES" in text
    assert text.index("AMOXICILLINE") < text.index("MALADIES INTERCURRENTES") < text.index("PARACÉTAMOL")
    SCREENSHOTS.mkdir(exist_ok=True)
    pypdfium2.PdfDocument(pdf)[0].render(scale=1.5).to_pil().save(SCREENSHOTS / "prescription-bizone.png")


@pytest.mark.parametrize("said", ["Amitiés.", "Bien à vous.", "Avec mes remerciements.", "Respectueusement.",
                                  "Bien confraternellement.", "Très sincèrement."])
def test_the_closings_a_practitioner_says_are_placed_as_the_closing(said):
    from pipeline.letter import split_letter

    letter = split_letter(f"Cher confrère, je vous adresse Madame Roche. Merci de la revoir. {said}")
    assert letter.closing == said and letter.paragraphs[-1] == "Je vous adresse Madame Roche. Merci de la revoir."


@pytest.mark.parametrize("dictated, subject", [
    ("Courrier au docteur Martin. Cher confrère, je vous adresse Madame Anne Roux née le 3 avril 1980 pour avis "
     "concernant des palpitations et une dyspnée d'effort. Bien confraternellement.",
     "Palpitations et dyspnée d'effort — demande d'avis"),
    ("Lettre au docteur Petit. Cher ami, je te confie Monsieur Paul Henry né le 2 mai 1960 pour une coloscopie de "
     "dépistage, son frère ayant eu un cancer colorectal à 50 ans. Amitiés.", "Coloscopie de dépistage"),
    ("Courrier au docteur Morel. Je vous adresse Madame Lina Faure pour la prise en charge de son diabète de type 2.",
     "Diabète de type 2 — prise en charge"),
    ("Compte rendu de consultation. Monsieur Yves Brun, né le 3 mai 1950. Motif : suivi d'une hypertension artérielle. "
     "Tension à 13/8.", "Suivi d'une hypertension artérielle"),
    ("Lettre au docteur Petit. Madame Odette Chevalier a été hospitalisée pour une pneumopathie. Pas de complication.",
     "Pneumopathie"),
])
def test_the_subject_is_short_as_a_practitioner_writes_it_never_the_title_again(dictated, subject, settings):
    lines = paragraphs(drafted(dictated, settings))
    assert f"Objet : {subject}" in lines
    assert "Courrier" not in lines  # a letter to a colleague prints no title line


def test_a_letter_that_says_no_reason_and_no_condition_has_no_subject_line(settings):
    lines = paragraphs(drafted("Courrier au docteur Martin. Cher confrère, merci de revoir Madame Anne Roux, née le "
                               "3 avril 1980. Bien confraternellement.", settings))
    assert not any(line.startswith("Objet") for line in lines)


def test_a_report_says_the_patient_once_and_takes_its_dated_opening_as_title(settings):
    lines = paragraphs(drafted("Compte rendu opératoire du 18 novembre 2026. Patient Monsieur Karim Saidi, né le "
                               "7 juin 1985. Intervention : cure de hernie inguinale droite. Suites simples.", settings))
    assert "Compte rendu opératoire du 18 novembre 2026" in lines
    assert "Patient : Monsieur Karim SAIDI, né le 07/06/1985" in lines
    assert not any("Karim Saidi" in line or line.startswith("Compte rendu opératoire du 18 novembre 2026.")
                   for line in lines)  # neither the identity nor the opening is repeated in the body
    assert "Objet : Cure de hernie inguinale droite" in lines
    assert any(line.startswith("Intervention : cure de hernie") for line in lines)  # what was dictated stays


def test_a_sentence_that_says_more_than_who_the_patient_is_stays():
    from pipeline.letter import is_identity_only
    from pipeline.records import Patient

    dupont = Patient(sex="M", first_name="Jean", last_name="Dupont", birth_date="1956-03-12")
    assert is_identity_only("Patient Monsieur Jean Dupont, né le 12 mars 1956.", dupont)
    assert is_identity_only("Monsieur Jean Dupont, né le 12/03/1956, numéro de sécurité sociale 1 56 03 75 056 089 63.", dupont)
    assert not is_identity_only("Monsieur Jean Dupont, né le 12 mars 1956, consulte pour une toux.", dupont)
    assert not is_identity_only("Je vous adresse Monsieur Jean Dupont.", dupont)
    assert not is_identity_only("Patient Monsieur Paul Martin.", dupont)


def test_taking_out_the_identity_sentence_leaves_the_rest_as_written():
    from pipeline.letter import without_identity_sentences
    from pipeline.records import Patient

    dumas = Patient(sex="F", first_name="Claire", last_name="Dumas")
    assert without_identity_sentences(("Patiente Madame Claire Dumas, née le 29 février 1964. TSH à 13.5 mUI/l.",
                                       "Suite."), dumas) == ("TSH à 13.5 mUI/l.", "Suite.")
    untouched = ("Vu le 3.12 par le Dr. Martin : RAS.",)
    assert without_identity_sentences(untouched, dumas) == untouched
