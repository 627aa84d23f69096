"""Dates and quantities the secretary must check against the audio."""

from pipeline.extract.measures import extract_dates, extract_quantities


def test_dates_in_words_and_digits_become_iso_and_impossible_ones_are_dropped():
    text = "Hospitalisée du 10 novembre 2026 au 16/11/2026, née le 1er mars 1950, contrôle le 31 février 2027."
    assert extract_dates(text) == ("2026-11-10", "2026-11-16", "1950-03-01")


def test_quantities_with_units_and_blood_pressure():
    text = "Poids 64 kg, TSH 2,1, tension artérielle 12/7, amlodipine 5 mg, saturation 98 %, nodule de 14 mm."
    assert [(q.value, q.unit) for q in extract_quantities(text)] == [
        ("64", "kg"), ("12/7", "cmHg"), ("5", "mg"), ("98", "%"), ("14", "mm"),
    ]


def test_a_slash_that_is_not_a_blood_pressure_is_not_one():
    assert extract_quantities("Score 3/4 à la consultation.") == ()
