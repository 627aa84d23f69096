"""Dates (ISO) and quantities (value + unit, blood pressure) mentioned in the dictation."""

from __future__ import annotations

import re

from pipeline.extract import patterns as P
from pipeline.extract.dates import iso_date
from pipeline.french import UNIT_SYMBOLS
from pipeline.records import Quantity

QUANTITY = re.compile(
    r"(?<![\w/])(?P<value>\d+(?:,\d+)?)\s*(?P<unit>" + "|".join(map(re.escape, UNIT_SYMBOLS)) + r")(?!\w)"
)
BLOOD_PRESSURE = re.compile(r"(?<![\w/])(?P<value>\d{1,2}/\d{1,2})(?![\w/])")
DATE = re.compile(P.DATE, re.IGNORECASE)


def extract_dates(text: str) -> tuple[str, ...]:
    found = (iso_date(match) for match in DATE.finditer(text))
    return tuple(date for date in found if date)


def extract_quantities(text: str) -> tuple[Quantity, ...]:
    quantities = [
        (m.start(), Quantity(value=m.group("value"), unit=m.group("unit"), text=m.group()))
        for m in QUANTITY.finditer(text)
    ]
    quantities += [
        (m.start(), Quantity(value=m.group("value"), unit="cmHg", text=m.group()))
        for m in BLOOD_PRESSURE.finditer(text)
        if re.search(r"(?:tension|TA|pression)\D{0,20}$", text[max(0, m.start() - 25):m.start()], re.IGNORECASE)
    ]
    return tuple(quantity for _, quantity in sorted(quantities, key=lambda item: item[0]))
