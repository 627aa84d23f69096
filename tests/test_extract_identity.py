"""Who the dictation is about: names in their French forms, birth dates, NIR, and who is *not* the patient."""

from __future__ import annotations

import pytest

from pipeline.extract.dates import nir_key_is_valid
from pipeline.extract.identity import extract_patient
from pipeline.extract.recipient import extract_recipient


def patient_of(text: str):
    recipient, header = extract_recipient(text)
    return extract_patient(text, exclude=header)[0]


@pytest.mark.parametrize(
    ("text", "sex", "first", "last"),
    [
        ("Je vois ce jour Madame Anne-Sophie Le Goff, née le 3 avril 1971.", "F", "Anne-Sophie", "Le Goff"),
        ("Monsieur Mamadou N'Diaye, né le 1er février 1980, consulte.", "M", "Mamadou", "N'Diaye"),
        ("Monsieur Jean-Pierre de La Fontaine, né le 9 mai 1949.", "M", "Jean-Pierre", "de La Fontaine"),
        ("Madame DUBOIS Martine, née le 12/03/1956.", "F", "Martine", "DUBOIS"),
        ("La patiente Léa Moreau, née le 30 juin 2001, revient.", "F", "Léa", "Moreau"),
        ("Mme Nadia Benali est revue.", "F", "Nadia", "Benali"),
    ],
)
def test_names_in_their_french_forms(text, sex, first, last):
    patient = patient_of(text)
    assert (patient.sex, patient.first_name, patient.last_name) == (sex, first, last)


def test_married_woman_keeps_her_birth_name():
    patient = patient_of("Madame Claire Martin, née Dubois, née le 2 janvier 1960.")
    assert (patient.last_name, patient.birth_name, patient.birth_date) == ("Martin", "Dubois", "1960-01-02")


@pytest.mark.parametrize(
    ("text", "iso"),
    [
        ("Monsieur Paul Roy, né le 7 juin 1985.", "1985-06-07"),
        ("Monsieur Paul Roy, né le 1er mars 1950.", "1950-03-01"),
        ("Monsieur Paul Roy, date de naissance : 07/06/1985.", "1985-06-07"),
        ("Monsieur Paul Roy, né le 31 février 1985.", None),  # not a date: never invented
    ],
)
def test_birth_date_in_spoken_and_written_forms(text, iso):
    assert patient_of(text).birth_date == iso


def test_patient_is_not_the_signing_doctor_nor_the_recipient_nor_a_relative():
    text = (
        "Lettre au docteur Alain Petit, rhumatologue. Je soussigné docteur Marc Henry. "
        "Sa mère Madame Rose Vidal l'accompagne. Je vous adresse Monsieur Louis Vidal, né le 5 mai 1990."
    )
    patient = patient_of(text)
    assert (patient.first_name, patient.last_name, patient.birth_date) == ("Louis", "Vidal", "1990-05-05")


def test_nir_is_kept_only_when_its_key_is_valid():
    valid = patient_of("Madame Sylvie Garcia, née le 15 juillet 1970, numéro de sécurité sociale 2 70 07 75 056 089 63.")
    assert valid.nir == "270077505608963"
    _, flags, _ = extract_patient("Madame Sylvie Garcia, sécurité sociale 2 70 07 75 056 089 64.")
    assert any(flag.kind == "invalid_nir" for flag in flags)


@pytest.mark.parametrize(
    ("nir", "valid"),
    [("270077505608963", True), ("270077505608964", False), ("1850575056089", False), ("2850520A05608937", False)],
)
def test_nir_key(nir, valid):
    assert nir_key_is_valid(nir) is valid


def test_corsican_nir_is_checked_with_its_department_substitution():
    body = "185052A056089"  # sex, year, month, department 2A, commune, order
    key = 97 - int(body.replace("2A", "19")) % 97
    assert nir_key_is_valid(f"{body}{key:02d}")


def test_missing_identity_is_flagged_not_invented():
    patient, flags, _ = extract_patient("Examen sans particularité.")
    assert patient.last_name is None and patient.birth_date is None
    assert [flag.kind for flag in flags] == ["no_patient"]


@pytest.mark.parametrize(
    ("text", "sex", "first", "last"),
    [
        ("Je vois l'enfant Hugo Blanc, 6 ans, pour une otite.", None, "Hugo", "Blanc"),
        ("Consultation pour le petit Lucas Meyer, né le 4 mai 2019.", "M", "Lucas", "Meyer"),
        ("La petite Inès Haddad présente une fièvre.", "F", "Inès", "Haddad"),
        ("Bébé Lina Roux, née le 2 février 2024, vue ce jour.", "F", "Lina", "Roux"),
        ("Le patient Marc Olivier revient en consultation.", "M", "Marc", "Olivier"),
        ("Je revois votre patiente Émilie Garnier ce jour.", "F", "Émilie", "Garnier"),
        ("La jeune Chloé Da Silva consulte pour une entorse.", "F", "Chloé", "Da Silva"),
    ],
)
def test_children_and_patients_named_without_a_civility(text, sex, first, last):
    patient = patient_of(text)
    assert (patient.sex, patient.first_name, patient.last_name) == (sex, first, last)


@pytest.mark.parametrize(
    ("text", "last", "birth_name", "birth_date"),
    [
        ("Madame Claire Dubois épouse Martin, née le 2 janvier 1960.", "Martin", "Dubois", "1960-01-02"),
        ("Madame Claire Martin née Dubois le 2 janvier 1960 consulte.", "Martin", "Dubois", "1960-01-02"),
        ("Née le 2 janvier 1960, Madame Claire Martin, née Dubois, est revue.", "Martin", "Dubois", "1960-01-02"),
    ],
)
def test_birth_name_forms_wherever_the_birth_date_comes(text, last, birth_name, birth_date):
    patient = patient_of(text)
    assert (patient.last_name, patient.birth_name, patient.birth_date) == (last, birth_name, birth_date)


@pytest.mark.parametrize(
    ("text", "first", "last"),
    [
        ("Monsieur Jean Dupond, D U P O N T, né le 12 mars 1956.", "Jean", "Dupont"),
        ("Madame Anne Kowalsky K-O-W-A-L-S-K-I est revue.", "Anne", "Kowalski"),
        ("Monsieur Paul GUERIN, je vous épelle G. U. E. R. I. N., consulte.", "Paul", "GUERIN"),
    ],
)
def test_a_name_spelled_letter_by_letter_is_the_name(text, first, last):
    patient = patient_of(text)
    assert (patient.first_name, patient.last_name) == (first, last)


def test_single_letters_in_a_sentence_are_not_a_spelling():
    assert patient_of("Monsieur Jean Dupont a une hépatite B et C, né le 1er mars 1950.").last_name == "Dupont"
