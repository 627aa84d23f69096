"""Acoustic re-decoding of doubtful spans: biasing the recognizer where it pays, and only there.

Hotwords for a whole dictation cost 12–27 % more time for every recording. Here, after the
first pass, each span the repairer finds suspect (a word general French and the lexicon do not
know, or one the recognizer was unsure of) that sounds even loosely like lexicon terms, and
each doubted word where a drug is named (before a dose) that sounds faintly like a drug, is
heard again — a second of audio each side — and the recognizer scores, forced token by token,
the first reading of that clip against the same with the words that sound like each term replaced,
primed with those terms as previous text. A term is taken where the recognizer finds it
likelier than what it first wrote: no beam search stands between it and a rare word (primed
decoding often wrote the term right yet heard it less surely than its near miss). Each change
is a flag with both readings and its time, undone in one click as repairs are. The audio heard
again is bounded by a share of the recording.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from pipeline.audio import SAMPLE_RATE
from pipeline.french import fold
from pipeline.records import Flag, FlagKind, Word
from pipeline.transcribe import CHUNK_EDGE_S, Listening
from pipeline.vocabulary import patterns as P
from pipeline.vocabulary.corrector import dose_at, glue_pieces
from pipeline.vocabulary.repair import (Repairer, cased_like, ends_clause, plain, trailing_punctuation,
                                        without_article)

MARGIN_S = 1.0  # audio kept each side of a doubtful span: the recognizer needs some context
MAX_SHARE = 0.25  # of the recording, heard again at most…
MIN_BUDGET_S = 12.0  # …or this, for a short one: a few doubtful terms and their context
MAX_SPANS = 8
NEIGHBOURS = 5  # lexicon terms a span is primed with
MAX_READINGS = 12  # (words, term) pairs scored against the first reading, each a forced pass of the decoder
LOOSE_SIMILARITY = 0.75  # repair by sound alone needs 0.8; looser costs a listening for little (README)
# Where a dose follows (« … 40 mg »), a drug is being named: words there that the recognizer
# doubted, or that are not French, are heard again if they sound even faintly like a drug.
SLOT_SIMILARITY = 0.6
SLOT_UNSURE_PROBABILITY = 0.6


@dataclass(frozen=True, slots=True)
class Doubt:
    start: int  # words [start, end) of the glued transcript: the clip heard again holds them
    end: int
    readings: tuple[tuple[int, int, str], ...]  # (start, end, term): these words may be this term, closest first

    @property
    def terms(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(term for _, _, term in self.readings))


def doubts(words: Sequence[Word], repairer: Repairer) -> list[Doubt]:
    """Where the first pass may have missed a term: suspect words (`suspect_doubts`), the words
    where a drug is named (`drug_slot_doubts`) and the words around one word of a longer term
    (`anchored_doubts`), in the order they were said."""
    found = drug_slot_doubts(words, repairer)
    for more in (suspect_doubts(words, repairer), anchored_doubts(words, repairer)):
        held = {index for doubt in found for index in range(doubt.start, doubt.end)}
        found += [doubt for doubt in more if held.isdisjoint(range(doubt.start, doubt.end))]
    return sorted(found, key=lambda doubt: doubt.start)


def anchored_doubts(words: Sequence[Word], repairer: Repairer) -> list[Doubt]:
    """A word of a term of several words heard right, the words beside it not (« maladie
    bipolar », « discopathie des génératifs », « d'orinit allergique »): the words around it
    that sound even loosely like the whole term are heard again with it."""
    found, index = [], 0
    while index < len(words):
        terms = repairer.anchored(words[index])
        if not terms:  # most words: nothing to compare, no window to build
            index += 1
            continue
        windows = [(first, last) for first in range(max(0, index - P.ANCHOR_REACH), index + 1)
                   for last in range(index + 1, min(len(words), index + P.ANCHOR_REACH + 1) + 1)
                   if _one_clause(words, first, last)]
        spelt = {without_article(term) for term in terms}
        scored = {}
        for first, last in windows:
            text = _text(words[first:last])
            if without_article(text) in spelt:
                scored = {}  # the term is there already, heard right
                break
            scored.update({(first, last, term): likeness for term in terms
                           if (likeness := repairer.likeness(text, term)) >= LOOSE_SIMILARITY})
        if scored:
            doubt = Doubt(min(first for first, _, _ in scored), max(last for _, last, _ in scored),
                          _closest(scored, index))
            found.append(doubt)
            index = doubt.end
        else:
            index += 1
    return found


def _one_clause(words: Sequence[Word], first: int, last: int) -> bool:
    return not any(ends_clause(word) for word in words[first:last - 1]) and \
        not any(char.isdigit() for word in words[first:last] for char in word.word)


def suspect_doubts(words: Sequence[Word], repairer: Repairer) -> list[Doubt]:
    """Suspect words, with the small or unsure words beside them that may be pieces of the same
    term (« l'ITI Surinert »), never across a clause end, where they sound even loosely like
    lexicon terms: the second listening, not the sound alone, decides. Each run of words that
    may hold the term is compared by sound in every window holding the suspect word, so a term
    replaces the words that sound like it (« une | rétéroudre néphrose »), not its neighbours too."""
    found, index = [], 0
    while index < len(words):
        if not repairer.is_suspect(words, index):
            index += 1
            continue
        start = index - 1 if index and not ends_clause(words[index - 1]) and _joinable(words, index - 1, repairer) \
            else index
        end = index + 1
        while end < len(words) and end - index < P.REPAIR_MAX_WINDOW and not ends_clause(words[end - 1]) \
                and _joinable(words, end, repairer):
            end += 1
        windows = [(first, last) for first in range(start, index + 1)
                   for last in range(index + 1, min(end, first + P.REPAIR_MAX_WINDOW) + 1)]
        scored = _sounding_like(words, windows, repairer, LOOSE_SIMILARITY)
        if scored:
            found.append(Doubt(start, end, _closest(scored, index)))
        index = end
    return found


def drug_slot_doubts(words: Sequence[Word], repairer: Repairer) -> list[Doubt]:
    """The one to three words just before a dose (« piquet 40mg », « muque talon 500 mg ») that
    the recognizer doubted or that are not French, and no drug it knows: there the dictation
    names a drug, so a looser likeness to one is worth a second listening."""
    found = []
    for dose in range(1, len(words)):
        if not dose_at(words, dose):
            continue
        start = dose
        while start > 0 and dose - start < P.REPAIR_MAX_WINDOW and not ends_clause(words[start - 1]) \
                and _in_slot(words[start - 1], repairer):
            start -= 1
        if start == dose:
            continue
        windows = [(first, dose) for first in range(start, dose)]
        scored = _sounding_like(words, windows, repairer, SLOT_SIMILARITY, drugs_only=True)
        scored.update({key: score for key, score in _sounding_like(words, windows, repairer, LOOSE_SIMILARITY).items()
                       if key not in scored})
        if scored:
            found.append(Doubt(start, dose, _closest(scored, dose - 1)))
    return found


def _in_slot(word: Word, repairer: Repairer) -> bool:
    """A word before a dose that may be (a piece of) the drug's name: doubted, and neither a
    number nor a term the lexicon knows. A word heard surely stays (« traité par »: never the
    « par » of « Darzalex »)."""
    text = plain(word)
    return bool(text) and not any(char.isdigit() for char in text) and not repairer.knows(text) and (
        word.probability < SLOT_UNSURE_PROBABILITY or not repairer.is_french(word.word.strip().strip(P.PUNCTUATION)))


def _sounding_like(words: Sequence[Word], windows: Sequence[tuple[int, int]], repairer: Repairer, cutoff: float,
                   *, drugs_only: bool = False) -> dict[tuple[int, int, str], float]:
    """(first, last, term) → how closely words[first:last] sound like the term, for each window."""
    return {(first, last, term): score for first, last in windows
            for score, term in repairer.neighbours(_text(words[first:last]), NEIGHBOURS, cutoff=cutoff,
                                                   drugs_only=drugs_only)}


def _closest(scored: dict[tuple[int, int, str], float], suspect: int) -> tuple[tuple[int, int, str], ...]:
    """The readings to score, closest first, each followed by the same term in the narrower
    windows it holds (still holding the suspect word): a short word may have helped the term
    sound right and still be said on its own (« seg fin a été » is « Cegfila a été »)."""
    readings = []
    for start, end, term in sorted(scored, key=scored.get, reverse=True):
        readings += [(first, last, term) for first in range(start, suspect + 1)
                     for last in range(end, suspect, -1)]
    return tuple(dict.fromkeys(readings))[:MAX_READINGS]


def _joinable(words: Sequence[Word], index: int, repairer: Repairer) -> bool:
    """A word that may be a piece of the same term: suspect itself, or small, unsure or unknown."""
    return repairer.is_suspect(words, index) or repairer.may_join(words[index])


def _text(words: Sequence[Word]) -> str:
    return " ".join(plain(word) for word in words)


def redecode(words: Sequence[Word], samples: np.ndarray, recognizer, repairer: Repairer,
             listening: Listening | None = None) -> tuple[tuple[Word, ...], tuple[Flag, ...], float]:
    """`words` with the doubtful spans heard again; returns the words, a flag per change, and the
    seconds of audio heard again. With `listening` (the first pass's encoder output per chunk), a
    span inside a chunk is scored on that chunk's encoding rather than encoded again. A term found
    may anchor a longer one (« discopatique » → « discopathie », then « discopathie des génératifs »
    → « discopathie dégénérative »): the words around it are heard again once more, one flag for both."""
    words = glue_pieces(words)
    duration_s = len(samples) / SAMPLE_RATE
    listen = _HearingAgain(samples, duration_s, max(MAX_SHARE * duration_s, MIN_BUDGET_S), recognizer, listening)
    replaced = listen.round(words, doubts(words, repairer))
    once, origins, changed = _replaced(words, replaced)
    again = [doubt for doubt in anchored_doubts(once, repairer) if changed.intersection(range(doubt.start, doubt.end))]
    # One flag per span of the first reading: a change heard again over another is one change.
    merged = [(origins[start][0], origins[end - 1][1], word) for start, end, word, _ in listen.round(once, again)]
    spans = [(start, end, word, flag) for start, end, word, flag in replaced
             if not any(first <= start < last for first, last, _ in merged)]
    spans += [(first, last, word, _flag(words[first:last], word.word.strip())) for first, last, word in merged]
    out, _, _ = _replaced(words, spans)
    return tuple(out), tuple(flag for *_, flag in sorted(spans, key=lambda span: span[0])), listen.spent_s


@dataclass
class _HearingAgain:
    """Doubtful spans heard again within a budget of audio shared by every round."""

    samples: np.ndarray
    duration_s: float
    budget_s: float
    recognizer: object
    listening: Listening | None
    spent_s: float = 0.0

    def round(self, words: Sequence[Word], found: Sequence[Doubt]) -> list[tuple[int, int, Word, Flag]]:
        replacements, taken_until = [], 0
        for doubt in found[:MAX_SPANS]:
            if doubt.start < taken_until:
                continue
            clip_start = max(0.0, words[doubt.start].start - MARGIN_S)
            clip_end = min(self.duration_s, words[doubt.end - 1].end + MARGIN_S)
            if self.spent_s + (clip_end - clip_start) > self.budget_s:
                break
            self.spent_s += clip_end - clip_start
            clip = self.samples[int(clip_start * SAMPLE_RATE):int(clip_end * SAMPLE_RATE)]
            found_reading = _likelier_reading(words, doubt, clip, (clip_start, clip_end), self.recognizer, self.listening)
            if found_reading is not None:
                replacements.append(found_reading)
                taken_until = found_reading[1]
        return replacements


def _replaced(words: Sequence[Word], replacements) -> tuple[list[Word], list[tuple[int, int]], set[int]]:
    """The words with each (start, end, word, …) put in place; for each word out, the words
    [first, last) of `words` it stands for; and where the words put in are."""
    out, origins, placed, index = [], [], set(), 0
    for start, end, word, *_ in sorted(replacements, key=lambda replacement: replacement[0]):
        out.extend(words[index:start])
        origins.extend((i, i + 1) for i in range(index, start))
        placed.add(len(out))
        out.append(word)
        origins.append((start, end))
        index = end
    out.extend(words[index:])
    origins.extend((i, i + 1) for i in range(index, len(words)))
    return out, origins, placed


def _flag(heard_words: Sequence[Word], written: str) -> Flag:
    written = written.rstrip(P.PUNCTUATION)
    old = "".join(word.word for word in heard_words).strip().rstrip(P.PUNCTUATION)
    return Flag(FlagKind.VOCABULARY_CORRECTION, f"« {old} » → « {written} » (réécouté / heard again)",
                heard_words[0].start, heard=old, written=written)


def _likelier_reading(words: Sequence[Word], doubt: Doubt, clip: np.ndarray, clip_span: tuple[float, float],
                      recognizer, listening: Listening | None = None) -> tuple[int, int, Word, Flag] | None:
    """The clip's first reading against the same with the doubtful words replaced by each term,
    each scored by the recognizer itself, forced (no beam search to miss a rare word): the term
    is taken where the recognizer finds it likelier than what it first wrote."""
    inside = [i for i, word in enumerate(words) if _overlap(word, *clip_span) > 0]
    if not inside:
        return None
    first, last = inside[0], inside[-1] + 1
    readings, options = [_text_of(words[first:last])], []
    for start, end, term in doubt.readings:
        written = cased_like(_article_kept(words[start], term) + term, _text_of(words[start:end]))
        readings.append(" ".join(filter(None, (_text_of(words[first:start]),
                                               written + trailing_punctuation(words[end - 1]),
                                               _text_of(words[end:last])))))
        options.append((start, end, written))
    # Primed: unprimed, the recognizer's own prior for its first reading nearly always wins
    # (measured: 2 changes in 40 dictations, against 29 primed).
    heard = listening.chunk_holding(words[first].start, words[last - 1].end) if listening else None
    context = ""
    if heard is not None:  # what the chunk says before the clip: the readings are scored after it
        context = _text_of([word for word in words[:first] if word.start >= heard.offset_s - CHUNK_EDGE_S])
    scores = recognizer.score_readings(clip, readings, prompt=" ".join(doubt.terms), heard=heard, context=context)
    best = max(range(len(options)), key=lambda i: scores[i + 1], default=None)
    if best is None or scores[best + 1] <= scores[0]:
        return None
    start, end, written = options[best]
    new = Word(words[start].start, words[end - 1].end, " " + written + trailing_punctuation(words[end - 1]),
               min(word.probability for word in words[start:end]))  # still worth a listen
    return start, end, new, _flag(words[start:end], written)


def _text_of(words: Sequence[Word]) -> str:
    return "".join(word.word for word in words).strip()


def _article_kept(word: Word, term: str) -> str:
    """« l'hypercafnise » keeps its « l' » when the term takes its place; before a consonant it is
    written whole (« d'orinit allergique » → « de rhinite allergique »)."""
    text = word.word.strip().replace("’", "'")
    head, quote, _ = text.partition("'")
    if not quote or head.lower() not in P.ELIDED_ARTICLES:
        return ""
    if fold(term[:1]) in "aeiouyh":
        return head + "'"
    whole = {"l": "le", "d": "de"}[head.lower()]
    return (whole.capitalize() if head[:1].isupper() else whole) + " "


def _overlap(word: Word, start: float, end: float) -> float:
    return min(word.end, end) - max(word.start, start)
