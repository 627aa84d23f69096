"""Recognizer hallucinations: loops cut to one occurrence and flagged, words over silence flagged."""

from __future__ import annotations

import numpy as np

from pipeline.guards import guard, remove_loops, words_over_silence
from pipeline.records import Word


def words(text: str) -> list[Word]:
    return [Word(i * 0.5, i * 0.5 + 0.4, " " + token, 0.9) for i, token in enumerate(text.split())]


def text_of(items) -> str:
    return " ".join(w.word.strip() for w in items)


def test_a_phrase_loop_is_cut_back_to_one_occurrence_and_flagged():
    kept, flags = remove_loops(words("Bien à vous. je vous remercie. je vous remercie. je vous remercie. je vous remercie."))
    assert text_of(kept) == "Bien à vous. je vous remercie."
    assert flags[0].kind == "repetition_loop" and "×4" in flags[0].text and flags[0].start == 1.5


def test_natural_repetition_is_kept():
    for text in ("très très bien", "pas de fièvre pas de toux", "deux fois deux fois"):
        kept, flags = remove_loops(words(text))
        assert text_of(kept) == text and flags == []


def test_a_single_word_needs_four_repeats_to_be_a_loop():
    kept, flags = remove_loops(words("merci merci merci merci merci"))
    assert text_of(kept) == "merci" and len(flags) == 1


def test_words_over_silence_are_flagged_not_removed():
    rate = 16_000
    samples = np.zeros(rate * 3, dtype=np.float32)
    samples[: rate * 2] = 0.3 * np.sin(np.linspace(0, 2 * np.pi * 440 * 2, rate * 2))
    heard = [Word(0.0, 0.5, " Bonjour", 0.9), Word(0.6, 1.5, " madame", 0.9), Word(2.2, 2.8, " fantôme", 0.4)]
    kept, flags = guard(heard, samples)
    assert len(kept) == 3
    assert [(f.kind, f.text, f.start) for f in flags] == [("text_in_silence", "fantôme", 2.2)]


def test_no_flags_for_uniformly_spoken_audio():
    samples = (0.3 * np.sin(np.linspace(0, 2 * np.pi * 440 * 2, 32_000))).astype(np.float32)
    assert words_over_silence(words("un deux trois"), samples) == []
