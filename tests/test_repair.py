"""Misheard medical terms repaired by sound against the lexicon, flagged, and never a correct word."""

from __future__ import annotations

import json

import pytest

from pipeline.records import Word
from pipeline.vocabulary.repair import Repairer, get_repairer, is_common_french
from tests.conftest import FLEURS, REPO, require

PAIRS = REPO / "benchmarks" / "data" / "repair_pairs_dev.json"


def words(text: str, probability: float = 0.9) -> list[Word]:
    return [Word(i * 0.5, i * 0.5 + 0.4, " " + token, probability) for i, token in enumerate(text.split())]


def said(result) -> str:
    return "".join(w.word for w in result[0]).strip()


@pytest.fixture(scope="module")
def repairer() -> Repairer:
    return get_repairer(None, None)


@pytest.mark.parametrize("heard, written", [
    ("Bonne émostase en fin d'intervention.", "Bonne hémostase en fin d'intervention."),
    ("Antécédent de la pandisectomie en 2010.", "Antécédent de l'appendicectomie en 2010."),
    ("Il prend mes formines 1000 mg par jour.", "Il prend metformine 1000 mg par jour."),
    ("Hermien Guinal droite non compliquée.", "Hernie inguinale droite non compliquée."),
    ("Atteinte par en chinateuse diffuse.", "Atteinte parenchymateuse diffuse."),
    ("Diurétique chiasidique arrêté.", "Diurétique thiazidique arrêté."),
])
def test_near_misses_and_split_words_are_repaired(repairer, heard, written):
    assert said(repairer.repair(words(heard))) == written


def test_a_repair_is_flagged_with_its_audio_time_and_the_words_heard(repairer):
    result = repairer.repair(words("Antécédent de la pandisectomie en 2010."))
    [flag] = result[1]
    assert flag.kind == "vocabulary_correction" and flag.start == 1.0
    assert "la pandisectomie" in flag.text and "l'appendicectomie" in flag.text
    repaired = result[0][2]
    assert (repaired.start, repaired.end) == (1.0, 1.9)  # spans both heard words


@pytest.mark.parametrize("text", [
    "Il mange du pain le matin et de la confiture.",
    "Le gouvernement de la Zambie a annoncé une réforme agraire.",
    "Madame Boissel est revue ce jour, échographique sans particularité.",
    "Thyroïdite, hémostase et metformine sont bien écrites.",
])
def test_correct_words_and_names_are_left_alone(repairer, text):
    result = repairer.repair(words(text))
    assert said(result) == text and result[1] == ()


def test_a_capitalised_unknown_word_inside_a_sentence_is_a_name_unless_the_recognizer_was_unsure(repairer):
    assert repairer.repair(words("Revu par le docteur Guinal ce jour."))[1] == ()


def test_the_practice_words_join_the_lexicon(tmp_path):
    csv_file = tmp_path / "cabinet.csv"
    csv_file.write_text("last_name,first_name\nLemarchadour,Anne\n", encoding="utf-8")
    heard = words("Courrier pour") + words("madame Le marcha dour", probability=0.3)
    assert "Lemarchadour" in said(get_repairer(None, str(csv_file)).repair(heard))
    assert "Lemarchadour" not in said(get_repairer(None, None).repair(heard))


def _pairs():
    return json.loads(PAIRS.read_text(encoding="utf-8"))


def test_dev_pairs_precision_and_recall(repairer):
    """Our own misheard → intended pairs (benchmarks/data): repairs must be right nearly always."""
    right = made = wanted = 0
    for pair in _pairs():
        result = repairer.repair(words(pair["heard"]))
        outputs = [flag.text.split("→ « ", 1)[1].rstrip(" »").lower() for flag in result[1]]
        wanted += len(pair["terms"])
        made += len(outputs)
        right += sum(any(out.endswith(term.lower()) for term in pair["terms"]) for out in outputs)
    assert made and right / made >= 0.9
    assert right / wanted >= 0.6


def test_intended_sentences_are_never_repaired(repairer):
    for pair in _pairs():
        assert repairer.repair(words(pair["intended"]))[1] == (), pair["intended"]


def test_no_false_repair_on_fleurs_references(repairer):
    for reference in sorted(require(FLEURS).glob("*.txt")):
        text = reference.read_text(encoding="utf-8")
        assert repairer.repair(words(text))[1] == (), reference.name


def test_the_general_french_guard_knows_common_words_and_not_misheard_ones():
    assert is_common_french("confiture") and is_common_french("prêter")
    assert not is_common_french("formines") and not is_common_french("pandisectomie")
