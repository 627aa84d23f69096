"""French words shared by stages: accent folding, the small words a term may skip, plural marks.

One home, so normalize, extract, the lexicon and the vocabulary repair fold text the same way.
"""

from __future__ import annotations

import re
import unicodedata

WORD = re.compile(r"\w+", re.UNICODE)
# Function words a medical term may carry or drop: « cancer de la prostate », « MICI de l'intestin ».
SMALL_WORDS = frozenset({"de", "du", "des", "d", "la", "le", "les", "l", "a", "au", "aux", "en"})


def fold(text: str) -> str:
    """Lower-case, accents and ligatures removed: « Œdème », « OEDEME » and « oedème » meet."""
    decomposed = unicodedata.normalize("NFKD", text.lower().replace("œ", "oe").replace("æ", "ae"))
    return "".join(char for char in decomposed if not unicodedata.combining(char))


def singular(folded_word: str) -> str:
    """Drop a plural mark from a folded word: « polypes » → « polype », « coliques » → « colique »,
    « tendineux » stays (too short a stem to tell), « lésions » → « lesion »."""
    if len(folded_word) > 4 and folded_word[-1] in "sx" and folded_word[-2] not in "sux":
        return folded_word[:-1]
    if len(folded_word) > 5 and folded_word.endswith("aux"):
        return folded_word[:-3] + "al"  # « rénaux » → « renal »
    return folded_word
