"""Plain text at every way in: control characters removed.

A name with \\x01 in the register, or \\x0b typed in a desk field, used to break every letter
of that patient (Word's XML refuses them) or answer 500. Imports, the desk's forms, typed
notes and the « Dicter » fields all pass through here; the letter's renderer too, last.
"""

from __future__ import annotations

import re
import unicodedata

# C0 and C1 controls, DEL, and the separators Word's XML cannot hold; line breaks and tabs are
# kept where a text may have lines.
_CONTROLS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ufffe\uffff]")
_LINE_BREAKS = re.compile(r"[\r\n\t\u2028\u2029\x85]+")


def single_line(value: str) -> str:
    """A field of one line (a name, a date, a NIR): controls and line breaks become one space."""
    return re.sub(r" {2,}", " ", _CONTROLS.sub("", _LINE_BREAKS.sub(" ", value))).strip()


def multiline(value: str) -> str:
    """A text of several lines (a letter, notes): controls removed, \\r\\n as \\n."""
    return _CONTROLS.sub("", value.replace("\r\n", "\n").replace("\r", "\n").replace("\u2028", "\n"))


def has_controls(value: str) -> bool:
    return bool(_CONTROLS.search(value))


def normalized(value: str) -> str:
    """Unicode NFC, so that « é » typed or imported two ways is one letter."""
    return unicodedata.normalize("NFC", value)


# The desk's form fields that hold several lines; every other is one line.
MULTILINE_FIELDS = frozenset({"body", "drugs", "conditions", "copies"})


def desk_value(field: str, value: str) -> str:
    """A desk form's value, cleaned as its field is: one line, or several."""
    return multiline(value) if field in MULTILINE_FIELDS else single_line(value)


def shown_rank(text: str) -> int:
    """A candidate's rank as the desk's page sends it back; -1 for anything else (« -1 » is no
    rank, nor are 5,000 digits, nor « ¹ »)."""
    return int(text) if text.isascii() and text.isdigit() and len(text) <= 4 else -1
