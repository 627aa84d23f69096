"""To whom a letter goes: « Courrier au docteur Martin, cardiologue à Lyon. Cher confrère, … »."""

from __future__ import annotations

import re

from pipeline.extract import patterns as P
from pipeline.extract.names import split_name
from pipeline.records import Recipient


def extract_recipient(text: str) -> tuple[Recipient | None, tuple[int, int] | None]:
    """The recipient and the span of its header in `text` (so the patient search skips it)."""
    greeting_match = P.GREETING.search(text)
    greeting = greeting_match.group("greeting") if greeting_match else None
    if greeting:
        greeting = greeting[0].upper() + greeting[1:]
    header = P.RECIPIENT_HEADER.search(text)
    if header is None:
        return (Recipient(greeting=greeting), None) if greeting else (None, None)
    first, last = split_name(header.group("name"))
    rest = header.group("rest")
    specialty = P.SPECIALTY.search(rest)
    service = P.SERVICE.search(rest)
    city = P.CITY.search(rest)
    specialty_text = specialty.group("specialty") if specialty else None
    if specialty_text is None and service:
        specialty_text = "service de " + service.group("service").strip()
    recipient = Recipient(
        title=P.TITLES[header.group("title").lower()],
        last_name=last,
        first_name=first,
        specialty=specialty_text.lower() if specialty_text and not specialty_text.isupper() else specialty_text,
        city=city.group("city") if city else None,
        greeting=greeting,
    )
    return recipient, (header.start(), header.end())


def extract_copies(text: str) -> tuple[tuple[Recipient, ...], list[tuple[int, int]]]:
    """The colleagues a copy goes to (« copie au docteur … »), and the spans of those sentences:
    an instruction to the secretary, not a sentence of the letter."""
    copies, spans = [], []
    for sentence in P.COPY_SENTENCE.finditer(text):
        named = [_named(found) for found in P.COPY_NAMED.finditer(sentence.group())]
        if named:
            copies.extend(named)
            spans.append((sentence.start(), sentence.end()))
    return tuple(copies), spans


def _named(found) -> Recipient:
    first, last = split_name(found.group("name"))
    specialty = P.SPECIALTY.search(found.group("rest"))
    city = P.CITY.search(found.group("rest"))
    return Recipient(title=P.TITLES[found.group("title").lower()], last_name=last, first_name=first,
                     specialty=specialty.group("specialty").lower() if specialty else None,
                     city=city.group("city") if city else None)


def typed_recipient(text: str) -> Recipient:
    """« Dr Martin, cardiologue à Lyon » / « martin cardiologue »: title, name, specialty, city."""
    title = P.TITLE_FIRST.match(text)
    rest = text[title.end():] if title else text
    city = re.search(r"\b(?:à|a)\s+(?P<city>[^,;]+)$", rest.strip(), re.IGNORECASE)
    if city:
        rest = rest.strip()[:city.start()]
    specialty = P.SPECIALTY.search(rest)
    if specialty:
        rest = rest[:specialty.start()] + rest[specialty.end():]
    words = " ".join(rest.replace(",", " ").split())
    first, last = split_name(words.title() if words.islower() else words) if words else (None, None)
    return Recipient(title=P.TITLES[title.group(1).lower()] if title else "Dr", last_name=last, first_name=first,
                     specialty=specialty.group("specialty").lower() if specialty else None,
                     city=city.group("city").strip().title() if city else None)
