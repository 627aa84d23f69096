"""Exact, accent- and case-insensitive term lookup over edsnlp's shipped lexicons.

edsnlp's own CIM-10 matcher takes about a minute to build and ten seconds to unpickle;
a plain dict of normalised n-grams over the same resource files builds in well under a
second and matches a dictation in a few milliseconds.
"""

from __future__ import annotations

import csv
import functools
import gzip
import json
import os
import pickle
import re
import unicodedata
from dataclasses import dataclass
from importlib import metadata, resources
from pathlib import Path

from pipeline.extract.patterns import LEXICON_MIN_LENGTH, LEXICON_STOPWORDS

WORD = re.compile(r"\w+", re.UNICODE)
MAX_TERM_WORDS = 8
INDEX_FORMAT = 1  # bump when _key() or the label cleaning changes
CIM10_NOISE = re.compile(r",?\s*(?:sans précision|SAI|non classée? ailleurs|NCA)\b.*$|\s*\(.*?\)", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Entry:
    code: str
    label: str  # the lexicon's own spelling


@dataclass(frozen=True, slots=True)
class Match:
    start: int  # characters in the searched text
    end: int
    entry: Entry


def fold(text: str) -> str:
    """Lower-case, accents removed: "Paracétamol" and "PARACETAMOL" meet."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(char for char in decomposed if not unicodedata.combining(char))


def _key(text: str) -> str:
    return " ".join(WORD.findall(fold(text)))


class Lexicon:
    def __init__(self, entries: dict[str, tuple[str, str]]) -> None:
        self._entries = entries  # folded term → (code, label); tuples keep the heap small

    def __len__(self) -> int:
        return len(self._entries)

    def find(self, text: str) -> list[Match]:
        """Longest, leftmost, non-overlapping matches."""
        words = [(m.start(), m.end(), fold(m.group())) for m in WORD.finditer(text)]
        found: list[Match] = []
        index = 0
        while index < len(words):
            for width in range(min(MAX_TERM_WORDS, len(words) - index), 0, -1):
                key = " ".join(w[2] for w in words[index:index + width])
                entry = self._entries.get(key)
                if entry is not None:
                    found.append(Match(words[index][0], words[index + width - 1][1], Entry(*entry)))
                    index += width
                    break
            else:
                index += 1
        return found


def _usable(key: str) -> bool:
    return len(key) >= LEXICON_MIN_LENGTH and key not in LEXICON_STOPWORDS


def _resource(name: str):
    return resources.files("edsnlp") / "resources" / name


def cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "dictee"


def _cached(name: str, build) -> dict[str, tuple[str, str]]:
    """Build an index once per edsnlp version and keep it on disk: the CIM-10 index takes
    ~2 s to build and ~0.2 s to load. An unwritable cache only costs the rebuild."""
    path = cache_dir() / f"{name}-edsnlp{metadata.version('edsnlp')}-v{INDEX_FORMAT}.pickle"
    try:
        with path.open("rb") as handle:
            return pickle.load(handle)
    except (OSError, pickle.UnpicklingError, EOFError):
        pass
    entries = build()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(f".{os.getpid()}.partial")
        with partial.open("wb") as handle:
            pickle.dump(entries, handle, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(partial, path)
    except OSError:
        pass
    return entries


def _build_drug_index() -> dict[str, tuple[str, str]]:
    atc_names: dict[str, list[str]] = json.loads(_resource("drugs.json").read_text(encoding="utf-8"))
    entries: dict[str, tuple[str, str]] = {}
    # Longest (most specific) ATC codes first so a substance keeps its own code.
    for code in sorted(atc_names, key=len, reverse=True):
        for name in atc_names[code]:
            key = _key(name)
            if _usable(key) and key not in entries:
                entries[key] = (code, name)
    return entries


def _build_cim10_index() -> dict[str, tuple[str, str]]:
    entries: dict[str, tuple[str, str]] = {}
    with _resource("cim10.csv.gz").open("rb") as raw, gzip.open(raw, mode="rt", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            for label in (row["long"], row["short"]):
                key = _key(CIM10_NOISE.sub("", label))
                if _usable(key) and key not in entries:
                    entries[key] = (row["code"], label)
    return entries


@functools.lru_cache(maxsize=1)
def drug_lexicon() -> Lexicon:
    return Lexicon(_build_drug_index())  # 0.1 s: not worth a cache file


@functools.lru_cache(maxsize=1)
def cim10_lexicon() -> Lexicon:
    return Lexicon(_cached("cim10-index", _build_cim10_index))

