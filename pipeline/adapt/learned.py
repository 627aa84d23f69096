"""The practice lexicon: words the secretary corrected, used from the next dictation on.

When she replaces what the recognizer wrote with a word neither general French nor the medical
lexicon knows — a correspondent's name, a new brand, a term of the practice — that word joins
`outbox/adaptation/lexicon.json` at approval. Repair and correction read it with the medical
lexicon, so the next dictation that sounds the same is written right. The file names patients
and colleagues: it is sealed like the letters. `dictee adapt words` and the desk's « Lexique »
page (admin role) list it and remove a word.
"""

from __future__ import annotations

import datetime as dt
import difflib
import functools
import re
from dataclasses import asdict, dataclass
from typing import Callable, Literal

from filelock import FileLock

from pipeline.french import fold
from pipeline.store import Outbox

LEXICON_FILE = "lexicon.json"  # in the outbox's adaptation folder
Kind = Literal["name", "term"]
MAX_CORRECTION_WORDS = 4  # a longer rewrite is the secretary's wording, not a misheard word
MIN_LETTERS = 4
_WORD = re.compile(r"^[^\W\d_]+(?:[-'’][^\W\d_]+)*$")
_EDGES = ".,;:!?«»\"()[]…"


@dataclass(frozen=True, slots=True)
class LearnedWord:
    text: str
    kind: Kind
    added_at: str
    job_id: str
    times: int = 1  # how many approved letters corrected it


def corrected_words(heard: str, final: str, *, is_known: Callable[[str], bool]) -> list[tuple[str, Kind]]:
    """Words the final text puts where the recognizer wrote something else, unknown to
    `is_known` (general French, the medical lexicon, the practice's list)."""
    heard_tokens = [token.strip(_EDGES) for token in heard.split()]
    written = final.split()
    final_tokens = [token.strip(_EDGES) for token in written]
    matcher = difflib.SequenceMatcher(None, [fold(t) for t in heard_tokens], [fold(t) for t in final_tokens],
                                      autojunk=False)
    found: dict[str, Kind] = {}
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op != "replace" or max(i2 - i1, j2 - j1) > MAX_CORRECTION_WORDS:
            continue
        replaced = {fold(t) for t in heard_tokens[i1:i2]}
        for index, token in enumerate(final_tokens[j1:j2], start=j1):
            if (len(token) < MIN_LETTERS or not _WORD.match(token) or fold(token) in replaced
                    or is_known(token) or token in found):
                continue
            # Capitalised inside a sentence: a name; at its start, a capital says nothing.
            sentence_start = index == 0 or written[index - 1].endswith((".", "!", "?", ":"))
            found[token] = "name" if token[0].isupper() and not sentence_start else "term"
    return list(found.items())


class PracticeLexicon:
    def __init__(self, outbox: Outbox) -> None:
        self.path = outbox.adaptation_folder() / LEXICON_FILE
        self.outbox = outbox

    def words(self) -> list[LearnedWord]:
        if not self.path.is_file():
            return []
        return [LearnedWord(**entry) for entry in self.outbox.read_json(self.path)["words"]]

    def _write(self, words: list[LearnedWord]) -> None:
        self.outbox.write_json(self.path, {"words": [asdict(word) for word in words]})

    def _locked(self) -> FileLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        return FileLock(str(self.path) + ".lock")

    def add(self, found: list[tuple[str, Kind]], *, job_id: str) -> list[LearnedWord]:
        """Add or count again each word; returns those new to the lexicon."""
        if not found:
            return []
        now = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
        with self._locked():
            words = {word.text: word for word in self.words()}
            new = []
            for text, kind in found:
                if text in words:
                    old = words[text]
                    words[text] = LearnedWord(old.text, old.kind, old.added_at, old.job_id, old.times + 1)
                else:
                    words[text] = LearnedWord(text, kind, now, job_id)
                    new.append(words[text])
            self._write(sorted(words.values(), key=lambda word: fold(word.text)))
        return new

    def remove(self, text: str) -> bool:
        with self._locked():
            words = self.words()
            kept = [word for word in words if word.text != text]
            if len(kept) == len(words):
                return False
            self._write(kept)
            return True


def learned_words(outbox: Outbox) -> tuple[LearnedWord, ...]:
    """The lexicon as of its last change: read again only when the file changes (the watcher
    runs for weeks while letters are approved)."""
    try:
        stat = (outbox.adaptation_folder() / LEXICON_FILE).stat()
    except FileNotFoundError:
        return ()
    return _read(outbox, stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=4)
def _read(outbox: Outbox, mtime_ns: int, size: int) -> tuple[LearnedWord, ...]:
    return tuple(PracticeLexicon(outbox).words())
