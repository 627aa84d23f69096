"""Spoken dictation → written French: commands, numbers, units, corrections, typography, timing."""

from __future__ import annotations

import pytest

from pipeline.normalize import normalize_dictation, normalize_text
from pipeline.records import Word


def written(spoken: str) -> str:
    return normalize_text(spoken).text


@pytest.mark.parametrize(
    ("spoken", "expected"),
    [
        ("il va bien virgule sans fièvre point", "Il va bien, sans fièvre."),
        ("première ligne point à la ligne deuxième ligne", "Première ligne.\nDeuxième ligne"),
        ("fin du bilan point nouveau paragraphe conclusion", "Fin du bilan.\n\nConclusion"),
        ("motif deux points douleur", "Motif : douleur"),
        ("a point virgule b", "A ; b"),
        ("est-il essoufflé point d'interrogation", "Est-il essoufflé ?"),
        ("traité ouvrez la parenthèse depuis mars fermez la parenthèse point", "Traité (depuis mars)."),
        ("il dit ouvrez les guillemets j'ai mal fermez les guillemets", "Il dit « j'ai mal »"),
        ("Cher confrère, virgule, je vous adresse", "Cher confrère, je vous adresse"),
        ("Pas de dyspnée. Point. Je vous remercie", "Pas de dyspnée. Je vous remercie"),
    ],
)
def test_spoken_punctuation_commands_become_marks(spoken, expected):
    assert written(spoken) == expected


@pytest.mark.parametrize(
    ("spoken", "expected"),
    [
        ("une mise au point sur le traitement", "Une mise au point sur le traitement"),
        ("deux points de suture", "Deux points de suture"),
        ("un point douloureux", "Un point douloureux"),
    ],
)
def test_command_words_in_ordinary_use_are_left_alone(spoken, expected):
    assert written(spoken) == expected


@pytest.mark.parametrize(
    ("spoken", "expected"),
    [
        ("né le douze mars mille neuf cent cinquante-six", "Né le 12 mars 1956"),
        ("le premier janvier deux mille vingt", "Le 1er janvier 2020"),
        ("amlodipine cinq milligrammes", "Amlodipine 5 mg"),
        ("lévothyroxine soixante-quinze microgrammes", "Lévothyroxine 75 µg"),
        ("lobe de quarante-cinq millimètres", "Lobe de 45 mm"),
        ("poids soixante-quatre kilos", "Poids 64 kg"),
        ("saturation quatre-vingt-dix-huit pour cent", "Saturation 98 %"),
        ("TSH deux virgule un", "TSH 2,1"),
        ("deux fois par jour", "Deux fois par jour"),
        ("pendant trois jours", "Pendant 3 jours"),
        ("un diabète de type deux", "Un diabète de type deux"),
    ],
)
def test_numbers_dates_and_units_are_written_as_digits_and_symbols(spoken, expected):
    assert written(spoken) == expected


@pytest.mark.parametrize(
    ("spoken", "expected"),
    [
        ("tension treize huit", "Tension 13/8"),
        ("tension artérielle 12 7", "Tension artérielle 12/7"),
        ("TA douze sur sept", "TA 12/7"),
    ],
)
def test_blood_pressure_is_written_with_a_slash(spoken, expected):
    assert written(spoken) == expected


def test_spoken_correction_replaces_the_corrected_words_and_is_reported():
    result = normalize_text("amlodipine cinq milligrammes non pardon dix milligrammes par jour")
    assert result.text == "Amlodipine 10 mg par jour"
    assert result.corrections and "5 mg" in result.corrections[0]


@pytest.mark.parametrize("spoken, expected", [
    # The phrase just said is replaced, back to its own determiner: the verb before it stays.
    ("Je propose un traitement symptomatique virgule non pardon virgule une radiographie de thorax point",
     "Je propose une radiographie de thorax."),
    ("Je vous adresse Madame Dupont pour une radiographie du thorax je corrige une échographie abdominale point",
     "Je vous adresse Madame Dupont pour une échographie abdominale."),
    ("le genou droit ou plutôt le genou gauche est douloureux point", "Le genou gauche est douloureux."),
    ("traitement par amoxicilline non pardon par pristinamycine point", "Traitement par pristinamycine."),
    ("fracture du radius droit non pardon gauche point", "Fracture du radius gauche."),
    ("prendre deux comprimés pardon trois comprimés par jour point", "Prendre 3 comprimés par jour."),
    ("elle fume non plutôt elle a arrêté de fumer point", "Elle a arrêté de fumer."),
    ("une douleur thoracique enfin non une gêne thoracique point", "Une gêne thoracique."),
    ("bilan prévu lundi je rectifie mardi point", "Bilan prévu mardi."),
    # Never past the previous punctuation, never the whole clause by count alone.
    ("Pas de fièvre virgule toux sèche non pardon grasse point", "Pas de fièvre, toux grasse."),
    ("Pas de fièvre virgule non point", "Pas de fièvre, non."),
    ("Il est non fumeur point", "Il est non fumeur."),
])
def test_spoken_corrections_replace_only_what_they_correct(spoken, expected):
    assert written(spoken) == expected


def test_delete_last_sentence_removes_it():
    assert written("Pas de fièvre. Toux sèche. effacez la dernière phrase. Bon état") == "Pas de fièvre. Bon état"


def test_each_written_span_maps_back_to_the_audio_that_said_it():
    words = [
        Word(0.0, 0.5, " Tension", 0.9),
        Word(0.5, 0.9, " treize", 0.9),
        Word(0.9, 1.2, " huit", 0.9),
        Word(1.2, 1.6, " point", 0.9),
        Word(1.6, 2.0, " Bien", 0.9),
    ]
    result = normalize_dictation(words)
    assert result.text == "Tension 13/8. Bien"
    by_text = {result.text[s.start:s.end]: (s.audio_start, s.audio_end) for s in result.spans}
    assert by_text["13/8"] == (0.5, 1.2)
    assert by_text["Bien"] == (1.6, 2.0)


def test_whisper_word_pieces_are_glued_back_together():
    words = [Word(0.0, 0.3, " L", 0.5), Word(0.3, 0.8, "'accident", 0.9), Word(0.8, 1.0, " a", 0.9)]
    assert normalize_dictation(words).text == "L'accident a"


@pytest.mark.parametrize("written", [
    "Tension 13/8 ce matin.", "Revue le 1er mars 2026 à 15h30.", "Né le 12/03/1956.", "Température 38.5 °C.",
    "Paracétamol 15 mg/kg par prise.", "Dossier n° 12.", "Rendez-vous à 9:15.",
])
def test_what_the_recognizer_wrote_in_one_piece_stays_in_one_piece(written):
    assert normalize_text(written).text == written
