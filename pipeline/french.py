"""French words shared by stages: accent folding, the small words a term may skip, plural marks,
month names and units.

One home, so normalize, extract, the lexicon, the vocabulary repair and the letter read and
write French the same way.
"""

from __future__ import annotations

import datetime as dt
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


MONTHS = (
    "janvier", "février", "mars", "avril", "mai", "juin",
    "juillet", "août", "septembre", "octobre", "novembre", "décembre",
)
# « 12 fevrier » as dictated or typed without accents is still February.
MONTH_NUMBERS = {name: number for number, month in enumerate(MONTHS, start=1) for name in dict.fromkeys((month, fold(month)))}

# Words text2num reads as (parts of) French cardinals (« et » inside one: « vingt et un »).
NUMBER_WORDS = frozenset(
    """zéro un une deux trois quatre cinq six sept huit neuf dix onze douze treize quatorze quinze seize
    vingt vingts trente quarante cinquante soixante cent cents mille million millions et""".split()
)

# Units spoken after a number → their symbol (normalize writes the symbol; extract reads it back).
UNITS: dict[str, str] = {
    "milligrammes": "mg", "milligramme": "mg",
    "microgrammes": "µg", "microgramme": "µg", "gammas": "µg",
    "grammes": "g", "gramme": "g",
    "kilogrammes": "kg", "kilogramme": "kg", "kilos": "kg", "kilo": "kg",
    "millilitres": "mL", "millilitre": "mL", "litres": "L", "litre": "L",
    "millimètres de mercure": "mmHg",
    "millimètres": "mm", "millimètre": "mm",
    "centimètres": "cm", "centimètre": "cm",
    "pour cent": "%", "pourcent": "%", "pour-cent": "%",
    "unités internationales": "UI",
    "battements par minute": "bpm",
    "degrés": "°C",
    "milliéquivalents": "mEq",
    "millimoles": "mmol",
}
# Every symbol a quantity may carry once written: the spoken units' and per-weight / per-day doses.
UNIT_SYMBOLS = tuple(sorted({*UNITS.values(), "mg/kg", "mg/j"}, key=lambda symbol: (-len(symbol), symbol)))

def calendar_date(day: str | int, month: int | None, year: str | int) -> str | None:
    """ISO date, or None when it is not a real calendar day (« 31 février ») or the month is unknown."""
    try:
        return dt.date(int(year), month, int(day)).isoformat() if month else None
    except ValueError:
        return None


FRENCH_DATE = re.compile(r"^\s*(\d{1,2})[/.\-](\d{1,2})[/.\-](\d{4})\s*$")


def iso_date(value: str | None) -> str | None:
    """« 13/05/1988 » (the French way) → « 1988-05-13 »; anything else passes as it is."""
    found = FRENCH_DATE.match(value or "")
    return f"{found[3]}-{int(found[2]):02d}-{int(found[1]):02d}" if found else value


# Rough French phonetic folding, applied in order to lower-case unaccented text. Sounds
# Whisper confuses ("un L'Odi-Pin" / "amlodipine") end up with the same or close keys.
PHONETIC_RULES: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern), replacement)
    for pattern, replacement in (
        (r"[^a-z]", ""),
        (r"(?<=.)(?:es|e|s|x|ts|t|ds|d)$", ""),  # silent endings first, so "-ine" and "-in" meet
        (r"ph", "f"),
        (r"qu|q", "k"),
        (r"ch(?=[rl])", "k"),  # « chronique », « chlore »
        (r"sch|ch|sh", "S"),
        (r"c(?=[eiy])", "s"),
        (r"ck|c", "k"),
        (r"z", "s"),
        (r"g(?=[eiy])", "j"),
        (r"gu(?=[eiy])", "g"),
        (r"x", "ks"),
        (r"y", "i"),
        (r"h", ""),
        (r"eau|au", "o"),
        (r"ou", "U"),
        (r"ai|ei", "e"),
        (r"[ae][nm](?![aeiou])", "A"),
        (r"o[nm](?![aeiou])", "O"),
        (r"[iu][nm](?![aeiou])|ain|ein", "I"),  # "un" and "in" sound alike today
        (r"(.)\1+", r"\1"),
    )
)


def phonetic_key(text: str) -> str:
    """How a word or phrase sounds, roughly: what the corrector, the repairer and the register
    compare when the spelling heard is not the one written."""
    key = fold(text)
    for pattern, replacement in PHONETIC_RULES:
        key = pattern.sub(replacement, key)
    return key
