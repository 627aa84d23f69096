"""Drugs (INN, ATC, dose, frequency) and conditions (CIM-10, negation, family, hypothesis),
with the real edsnlp lexicons and qualifiers."""

from __future__ import annotations

from pipeline.extract.medical import extract_conditions, extract_drugs


def test_treatment_duration_is_kept():
    [drug] = extract_drugs("Amoxicilline 1 g matin et soir pendant 7 jours.")
    assert (drug.dose, drug.frequency, drug.duration) == ("1 g", "matin et soir", "pendant 7 jours")


def test_drug_with_dose_and_frequency():
    [drug] = extract_drugs("Il prend du ramipril 10 mg une fois par jour depuis un an.")
    assert (drug.name, drug.atc, drug.dose, drug.frequency) == ("ramipril", "C09AA05", "10 mg", "une fois par jour")


def test_several_drugs_each_keep_their_own_details():
    drugs = extract_drugs("Bisoprolol 2,5 mg le matin et furosémide 40 mg deux fois par jour.")
    assert [(d.name, d.dose, d.frequency) for d in drugs] == [
        ("bisoprolol", "2,5 mg", "le matin"),
        ("furosémide", "40 mg", "deux fois par jour"),
    ]


def test_a_brand_name_is_reported_under_its_inn():
    [drug] = extract_drugs("Relais par Doliprane 1 g si besoin.")
    assert (drug.name, drug.atc, drug.condition) == ("paracétamol", "N02BE01", "si besoin")  # « si besoin »: a condition


def test_an_inn_is_named_as_dictated_with_its_accents():
    [drug] = extract_drugs("Paracétamol 1 g toutes les 6 heures.")
    assert (drug.name, drug.frequency) == ("paracétamol", "toutes les 6 heures")


def test_a_combination_lists_each_inn():
    names = [d.name for d in extract_drugs("Sous amoxicilline acide clavulanique depuis trois jours.")]
    assert names == ["amoxicilline", "acide clavulanique"]


def test_ordinary_words_are_not_drugs():
    assert extract_drugs("Je vous remercie de votre avis sur ce patient calme.") == ()


def condition(conditions, text):
    return next(c for c in conditions if c.text == text)


def test_negated_findings_are_caught_even_without_a_lexicon_entry():
    conditions = extract_conditions("Pas de fièvre. Absence d'oedème des membres inférieurs. Sans douleur thoracique.")
    negated = {c.text for c in conditions if c.negated}
    assert {"fièvre", "oedème des membres inférieurs", "douleur thoracique"} <= negated


def test_affirmed_condition_has_its_cim10_code():
    found = condition(extract_conditions("Elle présente une dyspnée d'effort."), "dyspnée d'effort")
    assert (found.cim10, found.negated) == ("R060", False)


def test_family_history_is_qualified():
    found = extract_conditions("Son père a eu un infarctus du myocarde.")
    assert any(c.family and "infarctus" in c.text for c in found)


def test_hypothesis_is_qualified():
    found = extract_conditions("Suspicion de pneumopathie.")
    assert any(c.hypothesis and c.text == "pneumopathie" for c in found)
