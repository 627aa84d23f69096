"""Split a spoken full name into first and last name."""

from __future__ import annotations

import re

from pipeline.extract.patterns import SURNAME_PARTICLES


def split_name(full: str) -> tuple[str | None, str | None]:
    """(first_name, last_name). "Jean Dupont" → Jean / Dupont; "DUPONT Jean" → Jean / DUPONT;
    "Le Goff" → None / Le Goff; "Jean-Pierre de La Fontaine" → Jean-Pierre / de La Fontaine."""
    words = re.sub(r"\s+", " ", full.strip()).split(" ")
    if len(words) == 1:
        return None, words[0]
    if words[0].lower() in SURNAME_PARTICLES:
        return None, " ".join(words)
    upper = [w for w in words if len(w) > 1 and w.replace("-", "").replace("'", "").isupper()]
    if upper and words[0] in upper and len(upper) < len(words):
        # "DUPONT Jean": the capitals are the surname
        last = [w for w in words if w in upper]
        first = [w for w in words if w not in upper]
        return " ".join(first), " ".join(last)
    return words[0], " ".join(words[1:])
