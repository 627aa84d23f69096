"""French dates in text → ISO, and the NIR (social security number) key check."""

from __future__ import annotations

import re

from pipeline.extract import patterns as P
from pipeline.french import MONTH_NUMBERS, calendar_date

DATE = re.compile(P.DATE, re.IGNORECASE)  # a date typed on the desk; dictated ones come typed from normalize
CORSICA = {"2A": "19", "2B": "18"}  # the NIR key is computed with these substitutions


def matched_date(match: re.Match[str]) -> str | None:
    """ISO date from a match of patterns.DATE; None when it is not a real calendar date."""
    groups = match.groupdict()
    if groups.get("day"):
        return calendar_date(groups["day"], MONTH_NUMBERS.get(groups["month_name"].lower()), groups["year"])
    return calendar_date(groups["nday"], int(groups["nmonth"]), groups["nyear"])


def nir_digits(spoken: str) -> str:
    return re.sub(r"\s+", "", spoken).upper()


def nir_key_is_valid(nir: str) -> bool:
    """15 characters: 13 digits (2A/2B allowed) then a key = 97 - (number mod 97)."""
    if len(nir) != 15:
        return False
    body, key = nir[:13], nir[13:]
    for letters, digits in CORSICA.items():
        body = body.replace(letters, digits)
    if not (body.isdigit() and key.isdigit()):
        return False
    return 97 - int(body) % 97 == int(key)
