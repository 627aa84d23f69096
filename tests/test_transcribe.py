"""Speech the batched decoder left without words is found and heard again (pure parts; the
real decoder is tested in test_e2e_real.py)."""

from __future__ import annotations

import pytest

from pipeline.transcribe import MAX_CLIP_S, clips_for, unheard_spans


def test_speech_covered_by_words_is_heard():
    speech = [(0.0, 10.0)]
    words = [(0.4 + i, 1.2 + i) for i in range(9)]
    assert unheard_spans(speech, words) == []


def test_a_sentence_without_words_is_unheard_from_the_last_word_to_the_next():
    speech = [(0.0, 20.0)]
    words = [(0.5, 1.0), (1.2, 6.0), (13.0, 13.5), (14.0, 19.6)]
    assert unheard_spans(speech, words) == [(6.5, 12.5)]


def test_speech_after_the_last_word_and_whole_stretches_without_words_are_unheard():
    speech = [(0.0, 5.0), (8.0, 11.0), (30.0, 31.0)]
    words = [(0.2, 2.0)]
    assert unheard_spans(speech, words) == [(2.5, 5.0), (8.0, 11.0)]  # 1 s at 30 s: a breath, a filler


def test_gaps_shorter_than_a_breath_between_words_are_not_unheard():
    speech = [(0.0, 10.0)]
    words = [(0.0, 4.0), (6.0, 10.0)]  # 2 s apart: 1 s left once word times are given their margin
    assert unheard_spans(speech, words) == []


def test_clips_are_widened_a_little_and_cut_to_whisper_s_window():
    clips = clips_for([(0.1, 3.0), (40.0, 105.0)], duration_s=105.1)
    assert clips[0] == {"start": 0.0, "end": pytest.approx(3.2)}
    assert [round(c["start"], 1) for c in clips[1:]] == [39.8, 69.8, 99.8]
    assert clips[-1]["end"] == 105.1 and all(c["end"] - c["start"] <= MAX_CLIP_S for c in clips)
