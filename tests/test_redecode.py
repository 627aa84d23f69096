"""Re-decoding of doubtful spans (pipeline/vocabulary/redecode.py): a fake scorer stands in for
the recognizer's forced scoring in the unit tests, the real lexicon and repairer decide what is
doubtful and which readings are scored; the real model scores readings in the slow test."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.records import Word
from pipeline.vocabulary.redecode import MIN_BUDGET_S, doubts, redecode
from pipeline.vocabulary.repair import get_repairer
from tests.conftest import FLEURS, REPO, require


def words(*spoken: tuple[str, float]) -> list[Word]:
    return [Word(i * 0.5, i * 0.5 + 0.4, " " + text, probability) for i, (text, probability) in enumerate(spoken)]


class Scorer:
    """Finds a reading likelier by `gain` when it holds `term`, and less likely by a word it
    drops or adds (they are in the audio); records what it was asked."""

    def __init__(self, term: str, gain: float = 1.0) -> None:
        self.term, self.gain, self.calls, self.heard = term, gain, [], []

    def score_readings(self, audio, readings, *, prompt=None, heard=None, context=""):
        self.calls.append((len(audio) / 16_000, list(readings), prompt))
        self.heard.append((heard, context))
        length = len(readings[0].split())
        return [(self.gain if self.term in reading.split() or f"'{self.term}" in reading else 0.0)
                - abs(len(reading.split()) - length) for reading in readings]


class Listener(Scorer):
    """Finds a reading likelier the more of its words were said (in `said`) and the fewer were not."""

    def __init__(self, said: str) -> None:
        super().__init__(term="")
        self.said = said.split()

    def score_readings(self, audio, readings, *, prompt=None, heard=None, context=""):
        self.calls.append((len(audio) / 16_000, list(readings), prompt))
        return [sum(1 if word in self.said else -1 for word in reading.split()) for reading in readings]


@pytest.fixture(scope="module")
def repairer():
    return get_repairer(None, None)


SILENCE = np.zeros(16_000 * 10, dtype=np.float32)


def test_a_doubtful_word_the_recognizer_finds_likelier_as_a_lexicon_term_is_replaced_and_flagged(repairer):
    said = words(("une", 0.95), ("parautomie", 0.4), ("est", 0.9), ("prévue.", 0.9))
    [doubt] = doubts(said, repairer)
    assert "laparotomie" in doubt.terms
    scorer = Scorer("laparotomie")
    out, flags, heard_again_s = redecode(said, SILENCE, scorer, repairer)
    assert "".join(w.word for w in out) == " une laparotomie est prévue."
    [flag] = flags
    assert (flag.heard, flag.written, flag.start, flag.kind) == ("parautomie", "laparotomie", 0.5, "vocabulary_correction")
    assert out[1].start == 0.5 and out[1].end == 0.9 and out[1].probability == 0.4  # still worth a listen
    [(seconds, readings, prompt)] = scorer.calls
    assert readings[0] == "une parautomie est prévue." and "une laparotomie est prévue." in readings
    assert prompt.split() == list(doubt.terms)  # primed with the terms it may be
    assert 0 < heard_again_s <= MIN_BUDGET_S and seconds == pytest.approx(heard_again_s, abs=0.01)


def test_a_reading_no_likelier_than_the_first_changes_nothing(repairer):
    said = words(("une", 0.95), ("parautomie", 0.3), ("est", 0.9), ("prévue.", 0.9))
    for gain in (0.0, -3.0):
        scorer = Scorer("laparotomie", gain)
        out, flags, _ = redecode(said, SILENCE, scorer, repairer)
        assert scorer.calls and flags == () and "".join(w.word for w in out) == " une parautomie est prévue."


def test_a_word_that_sounds_only_loosely_like_a_term_is_not_heard_again(repairer):
    """« pétalurie » is at most 0.67 from « hématurie », alone or with its neighbours: asked about,
    such a word cost a full listening for little (on read French, 11 spans for one change); from
    0.75 on only."""
    said = words(("Le", 0.95), ("pétalurie", 0.3), ("a", 0.9), ("été", 0.9), ("remplacé.", 0.9))
    scorer = Scorer("hématurie")
    assert doubts(said, repairer) == [] and redecode(said, SILENCE, scorer, repairer)[1] == () and not scorer.calls


def test_a_term_replaces_only_the_words_that_sound_like_it(repairer):
    """« une rétéroudre néphrose »: the term is the last two words; « une » stays. And a short word
    that helped the term sound right stays when it was said too (« seg fin a été » → « Cegfila a été »)."""
    said = words(("Elle", 0.95), ("présente", 0.9), ("une", 0.95), ("rétéroudre", 0.41), ("néphrose", 0.57),
                 ("connue.", 0.9))
    [doubt] = doubts(said, repairer)
    assert (3, 5, "urétérohydronéphrose") in doubt.readings
    out, flags, _ = redecode(said, SILENCE, Listener("Elle présente une urétérohydronéphrose connue."), repairer)
    assert "".join(w.word for w in out) == " Elle présente une urétérohydronéphrose connue."
    assert (flags[0].heard, flags[0].written) == ("rétéroudre néphrose", "urétérohydronéphrose")
    said = words(("Le", 0.9), ("seg", 0.18), ("fin", 0.05), ("a", 0.54), ("été", 0.98), ("remplacé.", 0.96))
    assert (1, 4, "Cegfila") in doubts(said, repairer)[0].readings
    out, _, _ = redecode(said, SILENCE, Listener("Le Cegfila a été remplacé."), repairer)
    assert "".join(w.word for w in out) == " Le Cegfila a été remplacé."


@pytest.mark.parametrize("dose", [("500mg",), ("500", "mg"), ("500", "milligrammes"), ("20", "000", "grammes")])
def test_doubted_words_before_a_dose_are_heard_again_as_a_drug(repairer, dose):
    """Where a dose follows, a drug is named: « muque talon » (0.6 from « Nuctalon », too far for
    any other doubt) is heard again, however Whisper wrote the dose."""
    said = words(("Ordonnance", 0.9), ("de", 0.95), ("muque", 0.21), ("talon", 0.51),
                 *[(part, 0.8) for part in dose], ("pour", 0.9), ("un", 0.9), ("mois.", 0.9))
    [doubt] = doubts(said, repairer)
    assert (2, 4, "Nuctalon") in doubt.readings
    out, flags, _ = redecode(said, SILENCE, Listener(f"Ordonnance de Nuctalon {' '.join(dose)} pour un mois."), repairer)
    assert "".join(w.word for w in out).startswith(" Ordonnance de Nuctalon ") and flags[0].heard == "muque talon"


def test_sure_french_words_before_a_dose_and_a_known_drug_are_not_heard_again(repairer):
    for said in (words(("augmenté", 0.9), ("à", 0.99), ("40", 0.9), ("mg.", 0.9)),
                 words(("traité", 0.9), ("par", 0.99), ("amlodipine", 0.3), ("5mg.", 0.9)),
                 words(("40", 0.9), ("mg", 0.9), ("40", 0.9), ("mg.", 0.9))):
        scorer = Scorer("Nuctalon")
        assert doubts(said, repairer) == [] and redecode(said, SILENCE, scorer, repairer)[1] == () and not scorer.calls


def test_a_word_of_a_longer_term_heard_right_has_the_words_beside_it_heard_again(repairer):
    """« maladie bipolar »: « maladie » is heard right, « bipolar » is English the recognizer was
    sure of, so nothing else would look there; the words around a word of a longer term that
    sound like the whole term are heard again with it."""
    said = words(("le", 0.9), ("diagnostic", 0.9), ("de", 0.9), ("maladie", 0.9), ("bipolar.", 0.8))
    [doubt] = doubts(said, repairer)
    assert (3, 5, "maladie bipolaire") in doubt.readings
    out, flags, _ = redecode(said, SILENCE, Listener("le diagnostic de maladie bipolaire."), repairer)
    assert "".join(w.word for w in out) == " le diagnostic de maladie bipolaire."
    assert (flags[0].heard, flags[0].written) == ("maladie bipolar", "maladie bipolaire")


@pytest.mark.parametrize("text", ["le diagnostic de maladie de Crohn.", "une insuffisance cardiaque connue.",
                                  "une douleur thoracique atypique depuis trois jours.", "sans hypertension artérielle."])
def test_a_longer_term_heard_whole_or_plain_french_around_one_of_its_words_is_not_heard_again(repairer, text):
    said = words(*[(word, 0.9) for word in text.split()])
    scorer = Scorer("bipolaire")
    assert doubts(said, repairer) == [] and redecode(said, SILENCE, scorer, repairer)[1] == () and not scorer.calls


def test_an_elided_article_before_a_term_that_starts_with_a_consonant_is_written_whole(repairer):
    said = words(("diagnostic", 0.9), ("d'orinit", 0.6), ("allergique,", 0.9), ("la", 0.9))
    out, flags, _ = redecode(said, SILENCE, Listener("diagnostic de rhinite allergique, la"), repairer)
    assert "".join(w.word for w in out) == " diagnostic de rhinite allergique, la"
    assert flags[0].written == "de rhinite allergique"


def test_a_term_heard_again_anchors_a_longer_one_in_one_flag(repairer):
    """« discopatique » becomes « discopathie », whose words around then sound like « discopathie
    dégénérative »: heard again once more, one flag from the first reading to the last."""
    said = words(("diagnostic", 0.9), ("de", 0.9), ("discopatique", 0.4), ("des", 0.9), ("génératifs.", 0.9),
                 ("Pas", 0.9), ("de", 0.9), ("signe.", 0.9))
    listener = Listener("diagnostic de discopathie dégénérative. Pas de signe.")
    out, flags, _ = redecode(said, SILENCE, listener, repairer)
    assert "".join(w.word for w in out) == " diagnostic de discopathie dégénérative. Pas de signe."
    [flag] = flags
    assert (flag.heard, flag.written, flag.start) == ("discopatique des génératifs", "discopathie dégénérative", 1.0)
    assert len(listener.calls) == 2


def test_an_elided_article_and_a_sentence_capital_are_kept(repairer):
    said = words(("L'hypercafnise", 0.3), ("est", 0.9), ("modérée.", 0.9))
    out, flags, _ = redecode(said, SILENCE, Scorer("hypercapnie"), repairer)
    assert "".join(w.word for w in out) == " L'hypercapnie est modérée." and flags[0].written == "L'hypercapnie"


def test_words_heard_right_are_never_heard_again_and_the_time_spent_is_bounded(repairer):
    scorer = Scorer("laparotomie", gain=-1.0)
    said = words(*[("bonjour", 0.9), ("madame", 0.9)] * 20)
    assert redecode(said, SILENCE, scorer, repairer)[2] == 0 and scorer.calls == []
    doubtful = words(*[("parautomie", 0.3), ("bonjour.", 0.9)] * 30)  # 30 doubtful words over 30 s
    _, _, heard_again_s = redecode(doubtful, np.zeros(16_000 * 30, dtype=np.float32), scorer, repairer)
    assert heard_again_s <= MIN_BUDGET_S and len(scorer.calls) <= 8


def test_a_span_inside_a_first_pass_chunk_is_scored_on_that_chunk_after_what_it_says_before(repairer):
    from pipeline.transcribe import HeardChunk, Listening

    said = words(("Bonjour.", 0.9), ("Il", 0.9), ("aura", 0.9), ("demain", 0.9), ("une", 0.95), ("parautomie", 0.4),
                 ("tôt", 0.9), ("le", 0.9), ("matin.", 0.9))
    chunk = HeardChunk(0.4, 4.0, np.zeros((1, 1500, 4), dtype=np.float32))
    listening = Listening([HeardChunk(0.0, 0.4, chunk.encoded), chunk])
    scorer = Scorer("laparotomie")
    out, flags, _ = redecode(said, SILENCE, scorer, repairer, listening)
    assert "laparotomie" in "".join(w.word for w in out) and len(flags) == 1
    [(heard, context)] = scorer.heard
    readings = scorer.calls[0][1]
    # The clip (a second each side of « une parautomie ») starts at « aura »; the chunk (from 0.4 s)
    # says « Il » before it: forced as context, not scored; « Bonjour. » is another chunk's.
    assert heard is chunk and context == "Il" and readings[0].startswith("aura demain une parautomie")


def test_a_span_no_kept_chunk_holds_is_heard_on_its_own(repairer):
    from pipeline.transcribe import HeardChunk, Listening

    said = words(("une", 0.95), ("parautomie", 0.4), ("est", 0.9), ("prévue.", 0.9))
    for listening in (None, Listening(), Listening([HeardChunk(0.0, 1.0, np.zeros((1, 1500, 4), dtype=np.float32))])):
        scorer = Scorer("laparotomie")
        redecode(said, SILENCE, scorer, repairer, listening)
        assert scorer.heard == [(None, "")], listening


def test_in_the_pipeline_it_runs_only_when_set_and_its_time_counts_as_recognition(settings, fake_transcriber):
    from pipeline import ingest
    from pipeline.job import transcribe_step
    from tests.conftest import write_tone

    fake_transcriber.text = "Une parautomie est prévue le mois prochain."
    source = write_tone(settings.inbox / "dictee.wav", seconds=6.0)
    dictation = ingest.claim_dictation(source, work_dir=settings.work_dir, outbox=settings.outbox)
    samples = np.zeros(16_000 * 6, dtype=np.float32)
    transcribe_step(dictation, samples, settings.model_copy(update={"vocabulary_redecode": False}))
    assert fake_transcriber.calls == 1 and fake_transcriber.scored == 0
    assert fake_transcriber.listening is None  # no encoder output kept when nothing will use it
    transcribe_step(dictation, samples, settings.model_copy(update={"vocabulary_redecode": True}))
    assert fake_transcriber.calls == 2 and fake_transcriber.scored == 1  # the doubtful « parautomie » scored again
    assert fake_transcriber.listening is not None


@pytest.mark.slow
def test_the_real_recognizer_finds_what_was_said_likelier_than_a_near_miss():
    """Forced scoring by the real model: on a real French clip, the reference reading scores
    above the same with a word swapped for one that sounds like it, primed or not."""
    from faster_whisper.audio import decode_audio

    from pipeline.transcribe import Transcriber, TranscriberConfig

    config = TranscriberConfig(model_dir=str(REPO / "models" / "whisper-base"), bundled=True, compute_type="int8",
                               device="cpu", cpu_threads=0, beam_size=5, chunk_batch_size=8, language="fr", parallel=1)
    recognizer = Transcriber(config)
    clip = sorted(require(FLEURS).glob("*.ogg"))[0]
    samples = decode_audio(str(clip), sampling_rate=16_000)[:16_000 * 25]
    heard = recognizer.transcribe(samples).raw
    near_misses = [heard.replace(word, swapped, 1) for word, swapped in
                   (("montagneux", "montagnard"), ("accident", "occident"), ("terrain", "parrain")) if word in heard]
    assert near_misses, heard
    for prompt in (None, "montagnard occident parrain"):
        first, *others = recognizer.score_readings(samples, [heard, *near_misses], prompt=prompt)
        assert all(np.isfinite([first, *others])) and all(first > other for other in others)


@pytest.mark.slow
def test_the_first_pass_s_encoding_kept_scores_readings_as_a_new_encoding_does():
    """A span scored on its first-pass chunk, after what the chunk says before it, prefers the
    reading heard to its near misses, as when the clip is encoded again; nothing is kept unless asked."""
    from faster_whisper.audio import decode_audio

    from pipeline.transcribe import Listening, Transcriber, TranscriberConfig

    config = TranscriberConfig(model_dir=str(REPO / "models" / "whisper-base"), bundled=True, compute_type="int8",
                               device="cpu", cpu_threads=0, beam_size=5, chunk_batch_size=8, language="fr", parallel=1)
    recognizer = Transcriber(config)
    clip = sorted(require(FLEURS).glob("*.ogg"))[0]
    samples = decode_audio(str(clip), sampling_rate=16_000)[:16_000 * 25]
    listening = Listening()
    transcript = recognizer.transcribe(samples, listening=listening)
    assert listening.chunks and all(chunk.encoded.shape[:2] == (1, 1500) for chunk in listening.chunks)
    words = transcript.words
    middle = len(words) // 2
    target = next(i for i in range(middle, len(words)) if len(words[i].word.strip()) >= 5)
    chunk = listening.chunk_holding(words[target - 2].start, words[target + 2].end)
    assert chunk is not None
    before = "".join(w.word for w in words[:target - 2] if w.start >= chunk.offset_s).strip()
    heard = "".join(w.word for w in words[target - 2:target + 3]).strip()
    said = words[target].word.strip()
    near_misses = [heard.replace(said, swapped, 1) for swapped in (said[:-1] + "x", "pa" + said[2:], said + "s")]
    scores = recognizer.score_readings(np.zeros(0, dtype=np.float32), [heard, *near_misses], heard=chunk,
                                       context=before)
    assert all(np.isfinite(scores)) and all(scores[0] > other for other in scores[1:]), (heard, scores)


@pytest.mark.slow
def test_a_reading_longer_than_a_window_holds_scores_as_impossible_not_a_crash():
    from pipeline.transcribe import Transcriber, TranscriberConfig

    config = TranscriberConfig(model_dir=str(REPO / "models" / "whisper-base"), bundled=True, compute_type="int8",
                               device="cpu", cpu_threads=0, beam_size=5, chunk_batch_size=8, language="fr", parallel=1)
    scores = Transcriber(config).score_readings(np.zeros(16_000 * 3, dtype=np.float32),
                                                ["bonjour", "", "mot " * 600], prompt="annexectomie")
    assert np.isfinite(scores[0]) and scores[1:] == [float("-inf")] * 2
