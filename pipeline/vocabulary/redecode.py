"""Acoustic re-decoding of doubtful spans: biasing the recognizer where it pays, and only there.

Hotwords for a whole dictation cost 12–27 % more time for every recording. Here, after the
first pass, each span the repairer finds suspect (a word general French and the lexicon do not
know, or one the recognizer was unsure of) that sounds like lexicon terms is heard again — a
few seconds of audio around it — primed with those terms. The new reading replaces the old
only where it is one of those terms, heard with a higher probability, over the same words;
each change is a flag with both readings and its time, undone in one click as repairs are.
The audio heard again is bounded by a share of the recording.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from pipeline.audio import SAMPLE_RATE
from pipeline.errors import NoSpeech
from pipeline.records import Flag, FlagKind, Word
from pipeline.vocabulary import patterns as P
from pipeline.vocabulary.corrector import glue_pieces
from pipeline.vocabulary.repair import Repairer, ends_clause, plain, trailing_punctuation, without_article

MARGIN_S = 1.0  # audio kept each side of a doubtful span: the recognizer needs some context
MAX_SHARE = 0.15  # of the recording, heard again at most…
MIN_BUDGET_S = 6.0  # …or this, for a short one: a doubtful term and its context
MAX_SPANS = 8
NEIGHBOURS = 5  # lexicon terms a span is primed with
LOOSE_SIMILARITY = 0.6  # by sound alone the repair needs 0.8; a second listening confirms
MIN_PROBABILITY = 0.2  # a primed reading the recognizer itself barely believes is not taken
OVERLAP_S = 0.15  # a new word stands over an old one when their times overlap by this much


@dataclass(frozen=True, slots=True)
class Doubt:
    start: int  # words [start, end) of the glued transcript
    end: int
    suspect: int  # the word that made it doubtful
    terms: tuple[str, ...]  # what the span may be, closest first


def doubts(words: Sequence[Word], repairer: Repairer) -> list[Doubt]:
    """Suspect words, with the small or unsure words beside them that may be pieces of the same
    term (« l'ITI Surinert »), never across a clause end, where they sound even loosely like
    lexicon terms: the second listening, not the sound alone, decides."""
    found, index = [], 0
    while index < len(words):
        if not repairer.is_suspect(words, index):
            index += 1
            continue
        start = index - 1 if index and not ends_clause(words[index - 1]) and _joinable(words, index - 1, repairer) \
            else index
        end = index + 1
        while end < len(words) and end - start < P.REPAIR_MAX_WINDOW and not ends_clause(words[end - 1]) \
                and _joinable(words, end, repairer):
            end += 1
        scored: dict[str, float] = {}
        for text in dict.fromkeys((_text(words[start:end]), _text(words[index:index + 1]))):
            for score, term in repairer.neighbours(text, NEIGHBOURS, cutoff=LOOSE_SIMILARITY):
                scored[term] = max(score, scored.get(term, 0.0))
        if scored:
            found.append(Doubt(start, end, index, tuple(sorted(scored, key=scored.get, reverse=True)[:NEIGHBOURS])))
        index = end
    return found


def _joinable(words: Sequence[Word], index: int, repairer: Repairer) -> bool:
    """A word that may be a piece of the same term: suspect itself, or small, unsure or unknown."""
    return repairer.is_suspect(words, index) or repairer.may_join(words[index])


def _text(words: Sequence[Word]) -> str:
    return " ".join(plain(word) for word in words)


def redecode(words: Sequence[Word], samples: np.ndarray, recognizer, repairer: Repairer
             ) -> tuple[tuple[Word, ...], tuple[Flag, ...], float]:
    """`words` with the doubtful spans heard again; returns the words, a flag per change, and the
    seconds of audio heard again."""
    words = glue_pieces(words)
    duration_s = len(samples) / SAMPLE_RATE
    budget_s, spent_s = max(MAX_SHARE * duration_s, MIN_BUDGET_S), 0.0
    replacements: list[tuple[int, int, Word, Flag]] = []
    taken_until = 0
    for doubt in doubts(words, repairer)[:MAX_SPANS]:
        if doubt.start < taken_until:
            continue
        clip_start = max(0.0, words[doubt.start].start - MARGIN_S)
        clip_end = min(duration_s, words[doubt.end - 1].end + MARGIN_S)
        if spent_s + (clip_end - clip_start) > budget_s:
            break
        spent_s += clip_end - clip_start
        clip = samples[int(clip_start * SAMPLE_RATE):int(clip_end * SAMPLE_RATE)]
        try:
            heard = recognizer.transcribe(clip, hotwords=" ".join(doubt.terms)).words
        except NoSpeech:
            continue
        found = _better_reading(words, doubt, [_shifted(word, clip_start) for word in glue_pieces(heard)], repairer)
        if found is not None:
            replacements.append(found)
            taken_until = found[1]
    out, flags, index = [], [], 0
    for start, end, word, flag in replacements:
        out.extend(words[index:start])
        out.append(word)
        flags.append(flag)
        index = end
    out.extend(words[index:])
    return tuple(out), tuple(flags), spent_s


def _better_reading(words: Sequence[Word], doubt: Doubt, heard: list[Word], repairer: Repairer
                    ) -> tuple[int, int, Word, Flag] | None:
    """The primed reading of the span, if it is one of its terms, heard surer, over words that
    were themselves doubtful or small enough to be pieces of the term."""
    for first in range(len(heard)):
        for last in range(first + 1, min(first + P.REPAIR_MAX_WINDOW, len(heard)) + 1):
            piece = heard[first:last]
            text = " ".join(plain(word) for word in piece)
            term = next((term for term in doubt.terms if without_article(text) == without_article(term)), None)
            if term is None:
                continue
            covered = [i for i, word in enumerate(words) if _overlap(word, piece[0].start, piece[-1].end) >= OVERLAP_S]
            if not covered or covered != list(range(covered[0], covered[-1] + 1)):
                continue
            start, end = covered[0], covered[-1] + 1
            while start < doubt.suspect and not repairer.is_suspect(words, start):
                start += 1  # a small word heard right at the edge (« de ») stays
            while end - 1 > doubt.suspect and not repairer.is_suspect(words, end - 1):
                end -= 1
            if not start <= doubt.suspect < end:
                continue  # not over the doubtful word
            if any(ends_clause(word) for word in words[start:end - 1]):
                continue
            if any(not repairer.is_suspect(words, i) and not repairer.may_join(words[i]) for i in range(start, end)):
                continue  # a word heard right beside it would be swallowed
            probability = min(word.probability for word in piece)
            before = min(word.probability for word in words[start:end])
            if probability < MIN_PROBABILITY or (probability <= before and _french(words[start:end], repairer)):
                continue  # heard no surer than words general French knows
            old = "".join(word.word for word in words[start:end]).strip().rstrip(P.PUNCTUATION)
            written = " ".join(word.word.strip().strip(P.PUNCTUATION) for word in piece)
            new = Word(words[start].start, words[end - 1].end, " " + written + trailing_punctuation(words[end - 1]),
                       round(probability, 3))
            flag = Flag(FlagKind.VOCABULARY_CORRECTION, f"« {old} » → « {written} » (réécouté / heard again)",
                        words[start].start, heard=old, written=written)
            return start, end, new, flag
    return None


def _french(words: Sequence[Word], repairer: Repairer) -> bool:
    """Every word of the first reading is general French: only a surer hearing may change it."""
    return all(repairer.is_common_french(part) for word in words for part in plain(word).replace("-", "'").split("'")
               if part)


def _overlap(word: Word, start: float, end: float) -> float:
    return min(word.end, end) - max(word.start, start)


def _shifted(word: Word, offset_s: float) -> Word:
    return Word(round(word.start + offset_s, 2), round(word.end + offset_s, 2), word.word, word.probability)
