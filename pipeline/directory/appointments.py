"""The practice's appointments (optional): a patient seen today comes first among the register's
candidates, marked with the time of the visit, for the secretary to choose from.

Imported from the agenda's CSV export (columns by `appointment_columns`) or an iCalendar file
(`dictee register appointments FILE.csv|FILE.ics`). An appointment never links a patient by itself:
the same name seen today is a hint, the birth date remains the proof.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from pipeline.directory.names import SAME, given_names, name_score
from pipeline.directory.tables import (
    ImportFormatError, column_mapping, decoded, iso_day, load_entries, read_once, rows, save_entries,
)
from pipeline.extract.names import split_name
from pipeline.store import Outbox

DIRECTORY = "appointments"
DEFAULT_COLUMNS = {"day": "date", "time": "heure", "last_name": "nom", "first_name": "prenom",
                   "birth_date": "date_naissance", "practitioner": "praticien"}
REQUIRED = ("day", "last_name")
BORN = re.compile(r"\bn[ée]e?\s+le\s+(?P<date>\d{1,2}/\d{1,2}/\d{4})|\b(?P<iso>\d{4}-\d{2}-\d{2})\b", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Appointment:
    day: str  # ISO
    last_name: str
    time: str | None = None  # « 10:30 »
    first_name: str | None = None
    birth_date: str | None = None  # ISO
    practitioner: str | None = None


def _iso(value: str | None) -> str | None:
    """The date, or None when missing or unreadable (the row is then skipped, or has no birth date)."""
    try:
        return iso_day(value) if value else None
    except ValueError:
        return None


def read_csv(data: bytes, columns: dict[str, str] | None = None) -> tuple[list[Appointment], list[tuple[int, str]]]:
    mapping = column_mapping(DEFAULT_COLUMNS, columns, "appointment_columns")
    entries, skipped = [], []
    for number, value in rows(data, mapping, REQUIRED, "appointment_columns"):
        value["day"], value["birth_date"] = _iso(value["day"]), _iso(value["birth_date"])
        if not value["day"] or not value["last_name"]:
            skipped.append((number, "date ou nom manquant ou illisible / date or name missing or unreadable"))
            continue
        entries.append(Appointment(**value))
    return entries, skipped


def read_ics(data: bytes) -> tuple[list[Appointment], list[tuple[int, str]]]:
    """VEVENTs: DTSTART the visit, SUMMARY the patient (« DUPONT Jean » or « Jean Dupont »), a birth
    date in DESCRIPTION when the agenda writes one (« née le 12/03/1956 »)."""
    import vobject

    try:
        calendars = list(vobject.readComponents(decoded(data)))
        if not calendars:
            raise ValueError("nothing in it")
    except Exception:  # vobject's parse errors have no common base worth naming
        raise ImportFormatError("ce fichier n'est pas un iCalendar lisible / this file is not a readable iCalendar") from None
    entries, skipped = [], []
    events = [event for calendar in calendars for event in calendar.contents.get("vevent", [])]
    for number, event in enumerate(events, start=1):
        start = getattr(event, "dtstart", None)
        summary = str(event.summary.value).strip() if getattr(event, "summary", None) else ""
        if start is None or not summary:
            skipped.append((number, "date ou nom manquant / date or name missing"))
            continue
        when = start.value
        first, last = split_name(summary)
        description = str(event.description.value) if getattr(event, "description", None) else ""
        born = BORN.search(description)
        entries.append(Appointment(
            day=(when.date() if isinstance(when, dt.datetime) else when).isoformat(), last_name=last, first_name=first,
            time=f"{when:%H:%M}" if isinstance(when, dt.datetime) else None,
            birth_date=_iso(born.group("date") or born.group("iso")) if born else None))
    return entries, skipped


def read_agenda(data: bytes, suffix: str, columns: dict[str, str] | None = None
                ) -> tuple[list[Appointment], list[tuple[int, str]]]:
    return read_ics(data) if suffix.lower() in (".ics", ".ical") else read_csv(data, columns)


class Agenda:
    def __init__(self, appointments: Iterable[Appointment]) -> None:
        self.appointments = list(appointments)

    @classmethod
    def load(cls, outbox: Outbox) -> Agenda | None:
        entries = load_entries(outbox, DIRECTORY, Appointment)
        return None if entries is None else cls(entries)

    def save(self, outbox: Outbox) -> Path:
        return save_entries(outbox, DIRECTORY, self.appointments)

    def visit(self, day: str, *, names: Iterable[str | None], first_names: str, birth_date: str) -> Appointment | None:
        """This patient's appointment on `day`: the same name as written (the agenda and the register
        come from the same software; « Berot » is not « Beraud » there), a first name of theirs,
        and the same birth date when the agenda gives one."""
        names = list(names)
        for appointment in self.appointments:
            if (appointment.day == day and name_score(appointment.last_name, names) == SAME
                    and (not appointment.first_name
                         or name_score(appointment.first_name, given_names(first_names)) == SAME)
                    and appointment.birth_date in (None, birth_date)):
                return appointment
        return None


def cached(outbox: Outbox) -> Agenda | None:
    return read_once(outbox, DIRECTORY, lambda: Agenda.load(outbox))
