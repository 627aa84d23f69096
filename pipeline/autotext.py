"""Autotext: a phrase library per practice and per practitioner, as transcription desks have.
The secretary types « .cdt » and a space in the letter, and the practitioner's usual closing
stands there; « .ecg », a normal ECG paragraph.

Kept with the practice's directories (`outbox/register/autotext.json`, sealed like them): a
phrase may name a colleague. A practitioner's own phrase wins over the practice's of the same
abbreviation, on his letters.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass

from pipeline.plain import multiline
from pipeline.store import Outbox

ABBREVIATION = re.compile(r"^\.[a-z0-9]{1,12}$")
MAX_PHRASE_CHARS = 4000
MAX_PHRASES = 500
PRACTICE = ""  # the scope of a phrase for every practitioner


class AutotextError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Phrase:
    abbreviation: str  # « .cdt »
    text: str
    folder: str = PRACTICE  # "" the whole practice, else a practitioner's inbox folder


def load(outbox: Outbox) -> list[Phrase]:
    path = outbox.directory_file("autotext")
    if not path.is_file():
        return []
    return [Phrase(**entry) for entry in outbox.read_json(path)["autotext"]]


def save(outbox: Outbox, phrases: list[Phrase]) -> None:
    path = outbox.directory_file("autotext")
    path.parent.mkdir(parents=True, exist_ok=True)
    outbox.write_json(path, {"autotext": [asdict(phrase) for phrase in phrases]})


def add(outbox: Outbox, abbreviation: str, text: str, *, folder: str, known_folders) -> Phrase:
    """A phrase for the practice (`folder` "") or one practitioner, replacing the one it names."""
    abbreviation = abbreviation.strip().lower()
    if not abbreviation.startswith("."):
        abbreviation = "." + abbreviation
    if not ABBREVIATION.match(abbreviation):
        raise AutotextError("abréviation : un point puis 1 à 12 lettres ou chiffres (ex. .cdt) / abbreviation: a "
                            "dot then 1 to 12 letters or digits")
    text = multiline(text).strip()
    if not text or len(text) > MAX_PHRASE_CHARS:
        raise AutotextError(f"texte : de 1 à {MAX_PHRASE_CHARS} caractères / text: 1 to {MAX_PHRASE_CHARS} characters")
    if folder and folder not in known_folders:
        raise AutotextError("praticien inconnu / unknown practitioner")
    phrases = [p for p in load(outbox) if (p.abbreviation, p.folder) != (abbreviation, folder)]
    if len(phrases) >= MAX_PHRASES:
        raise AutotextError(f"{MAX_PHRASES} phrases au plus / {MAX_PHRASES} phrases at most")
    phrase = Phrase(abbreviation, text, folder)
    save(outbox, [*phrases, phrase])
    return phrase


def remove(outbox: Outbox, abbreviation: str, *, folder: str) -> bool:
    phrases = load(outbox)
    kept = [p for p in phrases if (p.abbreviation, p.folder) != (abbreviation, folder)]
    if len(kept) == len(phrases):
        return False
    save(outbox, kept)
    return True


def for_author(outbox: Outbox, folder: str | None) -> dict[str, str]:
    """The phrases a letter of this practitioner expands: the practice's, his own over them."""
    phrases = load(outbox)
    merged = {p.abbreviation: p.text for p in phrases if p.folder == PRACTICE}
    merged.update({p.abbreviation: p.text for p in phrases if folder and p.folder == folder})
    return merged
