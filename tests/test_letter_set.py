"""Twelve dictations a practice sends in a week — referrals, a reply, prescriptions with and
without ALD, certificates for an adult and a child, an operative, an imaging and an examination
report, a consultation, a discharge-type letter — dictated, drafted, signed, filed and exported
as PDF/A + FHIR. Each first page is rendered to `test-output/letters/` for a person to look at;
the test asserts what a practitioner would check before it goes out."""

from __future__ import annotations

import json
import re
import shutil
import unicodedata

import pytest

from pipeline import export
from tests.conftest import REPO, signed_in, write_tone

pytestmark = pytest.mark.slow
PAGES = REPO / "test-output" / "letters"

LETTERS = {
    "referral": (
        "Courrier au docteur Martin, cardiologue à Lyon. Cher confrère, je vous adresse Madame Anne Roux, née le "
        "3 avril 1980, pour avis concernant des palpitations et une dyspnée d'effort. Elle n'a pas de douleur "
        "thoracique. Copie au docteur Paul Durand. Bien confraternellement.",
        "57133-1", ["Objet : Palpitations et dyspnée d'effort — demande d'avis", "Cher confrère,",
                    "Bien confraternellement.", "Copie à :"], ["Courrier"]),
    "reply": (
        "Lettre au docteur Julie Masson, dermatologue. Chère consœur, merci de m'avoir adressé Monsieur Paul Henry, "
        "né le 2 mai 1960, que j'ai vu en consultation pour une toux chronique. La radiographie est normale. "
        "Bien à vous.",
        "57133-1", ["Objet : Toux chronique", "Chère consœur,", "Bien à vous."], []),
    "referral-child": (
        "Courrier au docteur Morel, pédiatre. Cher confrère, je vous adresse l'enfant Léa Petit, née le 4 juin 2018, "
        "pour la prise en charge d'un asthme. Amitiés.",
        "57133-1", ["Objet : Asthme — prise en charge", "L'enfant Léa PETIT", "Amitiés."], []),
    "prescription": (
        "Ordonnance. Madame Lucie Giraud, née le 15 février 1980. Kardégic 75 mg un sachet par jour. Augmentin "
        "1 g matin et soir pendant 7 jours.",
        "57833-6", ["1. KARDÉGIC (acide acétylsalicylique) — 75 mg — 1 sachet — par jour",
                    "2. AUGMENTIN (amoxicilline, acide clavulanique) — 1 g — matin et soir — pendant 7 jours",
                    "Ordonnance de 2 lignes sur 1 page(s)"], ["ACIDE CLAVULANIQUE —"]),
    "prescription-ald": (
        "Ordonnance pour Monsieur Yves Brun, né le 3 mai 1950. Dans le cadre de son ALD : metformine 1000 mg deux "
        "fois par jour. Atorvastatine 20 mg le soir. Hors ALD : paracétamol 1 g si douleur.",
        "57833-6", ["AFFECTION EXONÉRANTE", "1. METFORMINE — 1000 mg — deux fois par jour", "2. ATORVASTATINE — 20 mg",
                    "MALADIES INTERCURRENTES", "1. PARACÉTAMOL — 1 g — si douleur", "Ordonnance de 3 lignes"], []),
    "certificate": (
        "Certificat médical. Je soussigné certifie avoir examiné Madame Anne Roux, née le 3 avril 1980, qui ne "
        "présente pas de contre-indication à la pratique du tennis.",
        "104988-1", ["Certificat établi à la demande de l'intéressé(e)", "Fait à Paris"], ["Objet"]),
    "certificate-child": (
        "Certificat médical. Je soussigné certifie avoir examiné l'enfant Léo Martin, né le 5 mars 2020, qui ne "
        "présente pas de contre-indication à la pratique du judo.",
        "104988-1", ["L'enfant Léo MARTIN", "à la demande de son représentant légal"], []),
    "operative": (
        "Compte rendu opératoire du 18 novembre 2026. Patient Monsieur Karim Saidi, né le 7 juin 1985. "
        "Intervention : cure de hernie inguinale droite selon Lichtenstein. Suites simples.",
        "11504-8", ["Compte rendu opératoire du 18 novembre 2026", "Objet : Cure de hernie inguinale droite selon "
                    "Lichtenstein", "Patient : Monsieur Karim SAIDI"], ["Karim Saidi"]),
    "imaging": (
        "Compte rendu d'imagerie. Madame Claire Dumas, née le 29 février 1964. Indication : douleur de "
        "l'hypochondre droit. Technique : échographie abdominale. Résultats : vésicule alithiasique, voies "
        "biliaires fines. Conclusion : examen normal.",
        "18748-4", ["Compte rendu d'imagerie", "Indication", "Technique", "Résultats", "Conclusion",
                    "Examen normal."], ["Conclusion :", "Objet"]),
    "examination": (
        "Compte rendu d'échographie thyroïdienne. Madame Claire Dumas, née le 29 février 1964. Indication : nodule "
        "palpé par le médecin traitant. Nodule isoéchogène de 14 mm. Conclusion : nodule EU-TIRADS 3.",
        "47045-0", ["Compte rendu d'examen", "Objet : Nodule palpé par le médecin traitant"], []),
    "consultation": (
        "Compte rendu de consultation. Madame Sylvie Garcia, née le 15 juillet 1970. Motif : suivi "
        "d'hypothyroïdie. Elle se sent bien, sans asthénie. La TSH est normale.",
        "11488-4", ["Compte rendu de consultation", "Objet : Suivi d'hypothyroïdie"], []),
    "discharge": (
        "Compte rendu d'hospitalisation. Madame Odette Chevalier, née le 2 février 1939, a été hospitalisée du "
        "10 au 16 novembre 2026 pour une pneumopathie. Retour à domicile. Bien confraternellement.",
        "34109-9", ["Document médical", "Bien confraternellement."], []),
}


def flat(text: str) -> str:
    """Spaces and line wraps as extracted from the PDF, and accents aside on capitals (« KARDEGIC » as the
    recognizer spelt the brand)."""
    bare = "".join(char for char in unicodedata.normalize("NFD", text) if not unicodedata.combining(char))
    return re.sub(r"\s+", " ", bare)  # lines wrapped by the page are one


def test_a_week_of_letters_is_drafted_signed_filed_and_exported_as_a_practitioner_expects(settings, fake_transcriber):
    import pypdfium2
    from pypdf import PdfReader

    from pipeline import ingest
    from pipeline.job import run_job

    if shutil.which("soffice") is None:
        pytest.skip("LibreOffice is not installed (apt-get install libreoffice-writer-nogui)")
    exporting = settings.model_copy(update={"export_dir": settings.outbox.parent / "export"})
    jobs = {}
    for index, (name, (dictated, *_)) in enumerate(LETTERS.items()):
        fake_transcriber.text = dictated
        source = write_tone(exporting.inbox / f"{name}.wav", seconds=3.0 + index * 0.1)  # twelve distinct recordings
        dictation = ingest.claim_dictation(source, work_dir=exporting.work_dir, outbox=exporting.outbox)
        run_job(dictation, exporting)
        jobs[name] = dictation.job_id
    with signed_in(exporting, "dr_claire", role="practitioner") as client:
        for name, job_id in jobs.items():
            csrf = re.search(r'name="csrf" value="([^"]+)"', client.get(f"/jobs/{job_id}").text).group(1)
            assert client.post(f"/jobs/{job_id}/approve", data={"csrf": csrf, "then": "list"}).status_code == 303, name
        client.app.state.exports.wait(timeout=1200)
    PAGES.mkdir(parents=True, exist_ok=True)
    for name, (_, code, present, absent) in LETTERS.items():
        job_id = jobs[name]
        assert (exporting.outbox / "filed" / job_id / "draft.docx").is_file(), name
        folder = exporting.export_dir / job_id
        pdf = (folder / export.PDF_NAME).read_bytes()
        pypdfium2.PdfDocument(pdf)[0].render(scale=1.2).to_pil().save(PAGES / f"{name}.png")
        text = flat("\n".join(page.extract_text() for page in PdfReader(folder / export.PDF_NAME).pages))
        for expected in present:
            assert flat(expected) in text, (name, expected)
        for unexpected in absent:
            assert flat(unexpected) not in text, (name, unexpected)
        assert flat("Signé électroniquement par Dr Claire Exemple") in text, name
        reference = json.loads((folder / export.FHIR_NAME).read_text(encoding="utf-8"))
        assert reference["type"]["coding"][0]["code"] == code, name
