"""Phonetic / fuzzy correction of misheard drug and correspondent names, flagged, never silent.

Only where the context says a drug ("… 5 milligrammes", "traité par …") or a colleague
("docteur …") is being named: a fuzzy match on ordinary words would rewrite good French.
"""

from __future__ import annotations

import csv
import functools
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import jellyfish

from pipeline.french import NUMBER_WORDS, phonetic_key
from pipeline.records import Flag, FlagKind, Word
from pipeline.vocabulary import patterns as P


@dataclass(frozen=True, slots=True)
class Term:
    text: str
    key: str
    kind: str  # "drug" or "name"


CLAUSE_END = (".", ";", ":", "!", "?")


def _plain(word: Word) -> str:
    return word.word.strip().strip(",.;:!?").lower()


def _is_number(text: str) -> bool:
    return text.replace(",", "").replace(".", "").isdigit() or all(part in NUMBER_WORDS for part in text.split("-"))


GLUED_DOSE = re.compile(r"\d+(?:[.,]\d+)*(?:mg|g|µg|ml|ui)", re.IGNORECASE)  # Whisper writes « 40mg »


def dose_at(words: Sequence[Word], index: int) -> bool:
    """A dose starts at `words[index]` (« 40 mg », « 40mg », « 20 000 grammes »): the words before
    it name a drug."""
    after = [_plain(word) for word in words[index:index + 3]]
    if after and GLUED_DOSE.fullmatch(after[0]):
        return True
    if len(after) < 2 or not _is_number(after[0]):
        return False
    return after[1] in P.DOSE_UNITS or (len(after) == 3 and after[1].isdigit() and after[2] in P.DOSE_UNITS)


class Corrector:
    def __init__(self, terms: Sequence[Term]) -> None:
        self.terms = {kind: [t for t in terms if t.kind == kind] for kind in ("drug", "name")}
        self.known = {t.text.lower() for t in terms}

    def correct(self, words: Sequence[Word]) -> tuple[tuple[Word, ...], tuple[Flag, ...]]:
        words = glue_pieces(words)
        out: list[Word] = []
        flags: list[Flag] = []
        index = 0
        while index < len(words):
            found = self._best_at(words, index)
            if found is None:
                out.append(words[index])
                index += 1
                continue
            width, term = found
            span = words[index:index + width]
            heard = "".join(w.word for w in span).strip()
            out.append(Word(span[0].start, span[-1].end, " " + term.text, min(w.probability for w in span)))
            flags.append(Flag(FlagKind.VOCABULARY_CORRECTION, f"« {heard} » → « {term.text} »", span[0].start,
                              heard=heard, written=term.text))
            index += width
        return tuple(out), tuple(flags)

    def _context(self, words: Sequence[Word], index: int, width: int) -> str | None:
        before = [_plain(w) for w in words[max(0, index - 2):index]]
        if dose_at(words, index + width):
            return "drug"
        for cues, kind in ((P.DRUG_CUES, "drug"), (P.NAME_CUES, "name")):
            if any(tuple(before[-len(cue):]) == cue for cue in cues):
                return kind
        return None

    def _best_at(self, words: Sequence[Word], index: int) -> tuple[int, Term] | None:
        """The best-sounding term for a window starting here; on a tie, the wider window."""
        best: tuple[float, int, Term] | None = None
        for width in range(1, min(P.MAX_WINDOW_WORDS, len(words) - index) + 1):
            span = words[index:index + width]
            text = "".join(w.word for w in span).strip()
            if any(ch.isdigit() for ch in text) or any(_plain(w) in self.known for w in span):
                break  # a word already right stands: « jour. Atorvastatine » is never one drug
            if width > 1 and (not _plain(span[-1]) or span[-2].word.rstrip().endswith(CLAUSE_END)):
                break  # nor is a window across « . » or « : »: « ALD : paracétamol »
            kind = self._context(words, index, width)
            key = phonetic_key(text)
            if kind is None or len(key) < P.MIN_KEY_LENGTH:
                continue
            term = max(self.terms[kind], key=lambda t: _similarity(key, t.key), default=None)
            score = _similarity(key, term.key) if term else 0.0
            if term and score >= P.MIN_SIMILARITY and (best is None or (score, width) >= best[:2]):
                best = (score, width, term)
        return (best[1], best[2]) if best else None


def glue_pieces(words: Sequence[Word]) -> list[Word]:
    """Whisper splits rare words into pieces ("L", "'Odi", "-Pin"); a piece with no leading
    space belongs to the word before it."""
    glued: list[Word] = []
    for word in words:
        if glued and word.word and not word.word[0].isspace():
            last = glued[-1]
            glued[-1] = Word(last.start, word.end, last.word + word.word, min(last.probability, word.probability))
        else:
            glued.append(word)
    return glued


def _similarity(a: str, b: str) -> float:
    return 1 - jellyfish.levenshtein_distance(a, b) / max(len(a), len(b), 1)


@functools.lru_cache(maxsize=4)
def drug_terms(models_dir: Path | None = None) -> tuple[Term, ...]:
    """The medical lexicon's drug names (substances and brands of one or two words; edsnlp's
    brands in capitals left out, as before) and the most prescribed ones."""
    from pipeline.lexicon import drug_lexicon

    labels = (entry.label for entry in drug_lexicon(models_dir).index.entries())
    names = {name for name in labels if not name.isupper() and len(name.split()) <= 2} | set(P.COMMON_DRUGS)
    return tuple(Term(name, phonetic_key(name), "drug") for name in sorted(names)
                 if len(phonetic_key(name)) >= P.MIN_KEY_LENGTH)


def practice_terms(path: Path | None) -> tuple[Term, ...]:
    """Correspondents' and patients' surnames from the practice's CSV (columns last_name[, first_name]).

    Read once per version of the file: `dictee watch` runs for weeks while the list is edited.
    """
    if path is None:
        return ()
    stat = path.stat()
    return _read_practice_terms(str(path), stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=4)
def _read_practice_terms(path: str, mtime_ns: int, size: int) -> tuple[Term, ...]:
    with open(path, encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.DictReader(handle))
    return name_terms(tuple(sorted({row["last_name"].strip() for row in rows if row.get("last_name", "").strip()})))


@functools.lru_cache(maxsize=8)
def name_terms(names: tuple[str, ...]) -> tuple[Term, ...]:
    """Surnames as terms, but those too short to match by sound without false alarms. Cached: an
    address book's names are keyed once, not at every dictation."""
    return tuple(Term(name, phonetic_key(name), "name") for name in names
                 if len(phonetic_key(name)) >= P.MIN_KEY_LENGTH)


def get_corrector(practice_csv: str | None, models_dir: Path | None = None, names: tuple[str, ...] = ()) -> Corrector:
    """`models_dir`: where a practice's updated drug index is (`dictee lexicons update`);
    `names`: colleagues' names beside the practice's list (corrected by its secretary, in its address book)."""
    return _corrector_for(practice_terms(Path(practice_csv) if practice_csv else None) + name_terms(names), models_dir)


@functools.lru_cache(maxsize=4)
def _corrector_for(practice: tuple[Term, ...], models_dir: Path | None) -> Corrector:
    return Corrector(list(drug_terms(models_dir) + practice))
