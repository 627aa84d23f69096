"""The approved letter placed on the audio: what each training segment holds."""

from __future__ import annotations

from pipeline.adapt.align import MAX_SEGMENT_S, TimedToken, align, distance, heard_tokens, letter_segments, segments_of
from pipeline.normalize import normalize_dictation
from pipeline.records import Word


def heard(text: str, *, step: float = 0.5) -> list[TimedToken]:
    return [TimedToken(token, round(i * step, 2), round(i * step + 0.4, 2)) for i, token in enumerate(text.split())]


def test_a_corrected_word_takes_the_time_of_the_words_it_replaces():
    tokens = align("Il prend du Kardégic 75 mg.", heard("Il prend du carte des giques 75 mg."))
    kardegic = next(t for t in tokens if t.text == "Kardégic")
    assert (kardegic.start, kardegic.end) == (1.5, 2.9)  # « carte des giques »: 1.5 → 2.5 + 0.4
    assert [t.text for t in tokens] == ["Il", "prend", "du", "Kardégic", "75", "mg."]


def test_typed_text_the_audio_does_not_hold_is_left_out_and_cuts_the_segment():
    letter = "Docteur Jean Martin, 12 rue des Lilas, 69003 Lyon. Cher confrère, je vous adresse ce patient."
    segments = segments_of(align(letter, heard("Cher confrère, je vous adresse ce patient.")), duration_s=10)
    assert [s.text for s in segments] == ["Cher confrère, je vous adresse ce patient."]


def test_speech_missing_from_the_letter_is_never_inside_a_segment():
    said = heard("Bonjour. Euh attendez je reprends tout depuis le début. Le patient va bien.")
    segments = segments_of(align("Bonjour. Le patient va bien.", said), duration_s=20)
    assert [s.text for s in segments] == ["Bonjour.", "Le patient va bien."]
    assert segments[0].end < said[3].start and segments[1].start > said[8].end - 0.5


def test_long_dictations_are_cut_under_whisper_window_at_sentence_ends():
    sentence = "Le patient est revu ce jour en consultation de suivi."
    text = " ".join([sentence] * 12)
    segments = segments_of(align(text, heard(text)), duration_s=200)
    assert len(segments) > 1 and all(s.end - s.start <= MAX_SEGMENT_S for s in segments)
    assert all(s.text.endswith(".") for s in segments)
    assert " ".join(s.text for s in segments) == text


def test_paragraphs_of_the_letter_are_kept():
    segments = segments_of(align("Suivi.\nPas de plainte.", heard("Suivi. Pas de plainte.")), duration_s=5)
    assert segments[0].text == "Suivi.\nPas de plainte."


def test_a_letter_about_something_else_is_far_from_what_was_heard():
    assert distance("Le patient va bien.", "le patient va bien") == 0
    assert distance("Il fera beau demain sur toute la Bretagne.", "Le patient va bien.") > 0.7


def test_the_normalized_transcript_gives_each_written_token_its_audio_time():
    words = [Word(i * 0.5, i * 0.5 + 0.4, f" {w}", 0.9) for i, w in enumerate("traité par amlodipine cinq milligrammes".split())]
    normalized = normalize_dictation(words)
    tokens = heard_tokens(normalized.text, normalized.spans)
    assert [t.text for t in tokens] == ["Traité", "par", "amlodipine", "5", "mg"]
    assert tokens[3].start == 1.5 and tokens[4].end == 2.4


def test_a_misaligned_segment_is_dropped():
    said = heard("Le patient va bien. Il fait beau aujourd'hui sur la ville et les environs.")
    segments = letter_segments("Le patient va bien. Antécédents de tuberculose pulmonaire traitée par quadrithérapie en 2019.",
                               said, duration_s=10)
    assert [s.text for s in segments] == ["Le patient va bien."]
