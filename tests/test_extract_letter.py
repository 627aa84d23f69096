"""Recipient, document type and the letter body."""

from __future__ import annotations

import pytest

from pipeline.extract.doctype import classify_document, strip_header
from pipeline.extract.recipient import extract_recipient


@pytest.mark.parametrize(
    ("text", "title", "first", "last", "specialty", "city"),
    [
        ("Courrier au docteur Paul Girard, pneumologue à Nantes. Cher confrère,", "Dr", "Paul", "Girard", "pneumologue", "Nantes"),
        ("Lettre pour le professeur Hélène Caron, service de neurologie. Chère consœur,", "Pr", "Hélène", "Caron", "service de neurologie", None),
        ("Courrier au docteur Lambert, médecin traitant.", "Dr", None, "Lambert", "médecin traitant", None),
    ],
)
def test_recipient_from_the_dictated_header(text, title, first, last, specialty, city):
    recipient, _ = extract_recipient(text)
    assert (recipient.title, recipient.first_name, recipient.last_name, recipient.specialty, recipient.city) == (
        title, first, last, specialty, city
    )


def test_greeting_is_kept_for_the_letter():
    recipient, _ = extract_recipient("Courrier au docteur Roux. Chère consœur, je vous adresse…")
    assert recipient.greeting == "Chère consœur"


def test_no_recipient_in_a_report():
    assert extract_recipient("Compte rendu de consultation. Monsieur Paul Roy.") == (None, None)


@pytest.mark.parametrize(
    ("text", "document_type"),
    [
        ("Compte rendu opératoire. Cholécystectomie.", "compte_rendu_operatoire"),
        ("Compte rendu de scanner thoracique. Pas de nodule.", "compte_rendu_examen"),
        ("Compte rendu d'IRM lombaire.", "compte_rendu_examen"),
        ("Compte rendu de consultation du jour.", "compte_rendu_consultation"),
        ("Certificat de non contre-indication au sport.", "certificat"),
        ("Je soussignée docteur Anne Roy certifie avoir examiné ce jour…", "certificat"),
        ("Ordonnance. Paracétamol 1 g trois fois par jour.", "ordonnance"),
        ("Lettre au docteur Roux. Cher confrère,", "lettre_confrere"),
        ("Cher confrère, je vous remercie de recevoir…", "lettre_confrere"),
        ("Compte rendu d'hospitalisation en cardiologie.", "autre"),
        ("Le patient va bien.", None),
    ],
)
def test_document_type_from_the_opening_words(text, document_type):
    assert classify_document(text) == document_type


def test_the_announcing_sentence_is_not_part_of_the_body():
    assert strip_header("Courrier au docteur Roux, cardiologue. Cher confrère, je vous adresse") == (
        "Cher confrère, je vous adresse"
    )
    dated = "Compte rendu opératoire du 18 novembre 2026. Cure de hernie."
    assert strip_header(dated) == dated  # keeps the operation date
