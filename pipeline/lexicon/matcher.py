"""Find lexicon terms in text: longest first, tolerant of case, accents, plurals and small words.

« Polypes coliques », « polype colique » and « POLYPE COLIQUE » meet; so do « maladie
inflammatoire chronique de l'intestin » and « … chronique intestinale » when both are listed.
A term word written in capitals (HTA, BPCO, FA) is an abbreviation: it matches only in capitals,
so « fa » in running text or « Pr » before a name never becomes a disease.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable, Iterator

from pipeline.french import SMALL_WORDS, WORD, fold, singular

MAX_TERM_WORDS = 8
# Terms never run across the end of a sentence or a line.
SENTENCE_BREAK = re.compile(r"[.;:!?\n]+(?:\s|$)|\n")


@dataclass(frozen=True, slots=True)
class Entry:
    code: str  # CIM-10 code, ATC code, or the lexicon's own id
    label: str  # the lexicon's own spelling
    capitals: tuple[int, ...] = ()  # positions of words that must be in capitals in the text


@dataclass(frozen=True, slots=True)
class Match:
    start: int  # characters in the searched text
    end: int
    entry: Entry


def is_abbreviation(word: str) -> bool:
    letters = [char for char in word if char.isalpha()]
    return len(letters) >= 2 and all(char.isupper() for char in letters)


def term_words(text: str) -> list[tuple[int, int, str, str]]:
    """(start, end, key, original) for each significant word: small words are skipped, the key is
    folded and singular."""
    words = []
    for match in WORD.finditer(text):
        folded = fold(match.group())
        if folded in SMALL_WORDS:
            continue
        words.append((match.start(), match.end(), singular(folded), match.group()))
    return words


def term_key(term: str) -> tuple[str, tuple[int, ...]]:
    """The lookup key of a lexicon term, and which of its words are abbreviations."""
    words = term_words(term)
    if not words:  # a term made only of small words is no term
        return "", ()
    return " ".join(w[2] for w in words), tuple(i for i, w in enumerate(words) if is_abbreviation(w[3]))


class TermIndex:
    """Folded term keys → Entry. The first entry given for a key wins (curated before generic)."""

    def __init__(self, entries: dict[str, Entry] | None = None) -> None:
        self._entries: dict[str, Entry] = dict(entries or {})

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, term: str) -> bool:
        return term_key(term)[0] in self._entries

    def add(self, term: str, code: str, *, label: str | None = None) -> None:
        # « gastro-entérite » is also written « gastroentérite »
        for variant in dict.fromkeys((term, term.replace("-", ""))):
            key, capitals = term_key(variant)
            if key and key not in self._entries:
                self._entries[key] = Entry(code, label or term, capitals)

    def update(self, other: "TermIndex") -> None:
        for key, entry in other._entries.items():
            self._entries.setdefault(key, entry)

    def lookup(self, term: str) -> Entry | None:
        return self._entries.get(term_key(term)[0])

    def entries(self) -> Iterator[Entry]:
        return iter(self._entries.values())

    def find(self, text: str) -> list[Match]:
        """Longest, leftmost, non-overlapping matches, within sentences."""
        found: list[Match] = []
        for start, end in _sentences(text):
            found.extend(self._find_in(text, term_words(text[start:end]), offset=start))
        return found

    def _find_in(self, text: str, words: list[tuple[int, int, str, str]], *, offset: int) -> Iterable[Match]:
        index = 0
        while index < len(words):
            for width in range(min(MAX_TERM_WORDS, len(words) - index), 0, -1):
                span = words[index:index + width]
                entry = self._entries.get(" ".join(w[2] for w in span))
                if entry is not None and all(is_abbreviation(span[i][3]) for i in entry.capitals):
                    yield Match(offset + span[0][0], offset + span[-1][1], entry)
                    index += width
                    break
            else:
                index += 1


def _sentences(text: str) -> Iterator[tuple[int, int]]:
    start = 0
    for brk in SENTENCE_BREAK.finditer(text):
        yield start, brk.start()
        start = brk.end()
    yield start, len(text)
