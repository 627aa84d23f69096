"""To whom a letter goes: « Courrier au docteur Martin, cardiologue à Lyon. Cher confrère, … »."""

from __future__ import annotations

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
