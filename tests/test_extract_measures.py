"""Dates and quantities the secretary must check against the audio: read once, typed, by
normalize (said or written by the recognizer), and taken by extract with the time they were said."""

import pytest

from pipeline.extract.measures import dates_in, quantities_in
from pipeline.normalize import normalize_dictation, normalize_text
from pipeline.records import Word


def test_dates_in_words_and_digits_become_iso_and_impossible_ones_are_dropped():
    text = "Hospitalisée du 10 novembre 2026 au 16/11/2026, née le 1er mars 1950, contrôle le 31 février 2027."
    assert dates_in(normalize_text(text)) == ("2026-11-10", "2026-11-16", "1950-03-01")


def test_spoken_dates_are_read_too():
    normalized = normalize_text("née le premier mars mille neuf cent cinquante, revue le douze avril deux mille vingt-six")
    assert dates_in(normalized) == ("1950-03-01", "2026-04-12")


@pytest.mark.parametrize("written, iso", [
    ("01/09/ 2020", "2020-09-01"), ("08 . 04 . 1941", "1941-04-08"), ("22|8|1923", "1923-08-22"), ("12.1.2023", "2023-01-12"),
])
def test_a_written_date_the_recognizer_or_a_typist_spaced_is_read_and_written_back_whole(written, iso):
    normalized = normalize_text(f"Revue le {written}.")
    assert dates_in(normalized) == (iso,)
    assert " " not in normalized.text.removeprefix("Revue le ").rstrip(".")


def test_quantities_with_units_and_blood_pressure():
    text = "Poids 64 kg, TSH 2,1, tension artérielle 12/7, amlodipine 5 mg, saturation 98 %, nodule de 14 mm."
    normalized = normalize_text(text)
    assert normalized.text == text  # written forms are written back as they were
    assert [(q.value, q.unit, q.text) for q in quantities_in(normalized)] == [
        ("64", "kg", "64 kg"), ("12/7", "cmHg", "12/7"), ("5", "mg", "5 mg"), ("98", "%", "98 %"), ("14", "mm", "14 mm"),
    ]


def test_said_and_written_quantities_are_one_reading():
    said = quantities_in(normalize_text("amlodipine cinq milligrammes, tension treize sur huit, température trente-huit degrés"))
    written = quantities_in(normalize_text("amlodipine 5 mg, tension 13/8, température 38 °C"))
    assert [(q.value, q.unit, q.text) for q in said] == [(q.value, q.unit, q.text) for q in written] == [
        ("5", "mg", "5 mg"), ("13/8", "cmHg", "13/8"), ("38", "°C", "38 °C")]


def test_signed_units_and_blood_pressure_in_millimetres():
    normalized = normalize_text("paracétamol 15 mg/kg, 38°C, TA mesurée ce jour à 130/80, pression cent quarante sur quatre-vingt-dix")
    assert [(q.value, q.unit) for q in quantities_in(normalized)] == [
        ("15", "mg/kg"), ("38", "°C"), ("130/80", "mmHg"), ("140/90", "mmHg")]
    assert "15 mg/kg, 38 °C" in normalized.text


def test_a_slash_that_is_not_a_blood_pressure_is_not_one():
    normalized = normalize_text("Score 3/4 à la consultation, un demi 1/2 comprimé.")
    assert quantities_in(normalized) == ()
    assert "3/4" in normalized.text and "1/2" in normalized.text
    assert quantities_in(normalize_text("Pression de la douleur 1/2, tension 400/80.")) == ()


def test_each_reading_carries_when_it_was_said():
    words = [Word(0.0, 0.4, " Tension", 0.9), Word(0.4, 0.8, " treize", 0.9), Word(0.8, 1.0, " sur", 0.9),
             Word(1.0, 1.3, " huit,", 0.9), Word(1.5, 1.9, " amlodipine", 0.9), Word(2.0, 2.3, " 5", 0.9),
             Word(2.3, 2.9, " milligrammes,", 0.9), Word(3.0, 3.2, " le", 0.9), Word(3.2, 3.5, " 12", 0.9),
             Word(3.5, 3.8, " mars", 0.9), Word(3.8, 4.4, " 2026.", 0.9)]
    normalized = normalize_dictation(words)
    assert normalized.text == "Tension 13/8, amlodipine 5 mg, le 12 mars 2026."
    found = [(normalized.text[a.start:a.end], a.reading.kind, a.audio_start, a.audio_end) for a in normalized.annotations]
    assert found == [("13/8", "blood_pressure", 0.4, 1.3), ("5 mg", "quantity", 2.0, 2.9), ("12 mars 2026", "date", 3.2, 4.4)]
    assert [q.start for q in quantities_in(normalized)] == [0.4, 2.0]
