"""The practice's patients (identitovigilance): the dictated identity is checked against them.

The register is imported from the CSV export of the practice's software (`dictee register
import FILE.csv`), its columns named by the `register_columns` setting, and kept sealed like
every patient file (`outbox/register/patients.json`).

A dictation is linked to a patient automatically only when one candidate is clearly best: the
names agree in spelling or in sound, the birth date is the same, the sex does not contradict,
and no other patient comes close (homonyms and twins are never linked by themselves). Anything
less gives ranked candidates for the secretary to choose from, or « nouveau patient ». A
dictated birth date that contradicts the register's is a flag, never overwritten silently.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Iterable

from pipeline.directory.appointments import Agenda
from pipeline.directory.names import SOUNDS_ALIKE, given_names, name_score
from pipeline.directory.tables import (
    ImportFormatError, column_mapping, iso_day, load_entries, read_once, rows, save_entries,
)
from pipeline.records import Flag, FlagKind, Patient
from pipeline.result import IdentityLinkOut, RegisteredPatientOut
from pipeline.store import Outbox
from pipeline.french import phonetic_key

DIRECTORY = "patients"
# Our field → the column of the practice's export (dictee.toml [register_columns] overrides).
DEFAULT_COLUMNS = {
    "birth_name": "nom_naissance", "used_name": "nom_utilise", "first_names": "prenoms",
    "birth_date": "date_naissance", "sex": "sexe", "birthplace": "lieu_naissance_insee",
    "ins": "matricule_ins", "ipp": "ipp",
}
REQUIRED = ("birth_name", "first_names", "birth_date")

# The weights of each part of an identity.
WEIGHTS = {"last": 0.4, "first": 0.25, "birth": 0.35}
SWAPPED_DATE, SAME_YEAR = 0.6, 0.15
AUTOMATIC_AT, AUTOMATIC_MARGIN = 0.92, 0.12  # an automatic link: this sure, this far ahead
CANDIDATE_AT, MAX_CANDIDATES = 0.55, 5


RegisterError = ImportFormatError


@dataclass(frozen=True, slots=True)
class RegisterEntry:
    birth_name: str
    first_names: str
    birth_date: str  # ISO
    used_name: str | None = None
    sex: str | None = None  # M / F
    birthplace: str | None = None  # INSEE code
    ins: str | None = None
    ipp: str | None = None

    @property
    def first_given_name(self) -> str:
        return given_names(self.first_names)[0]

    @classmethod
    def of(cls, candidate: RegisteredPatientOut) -> RegisterEntry:
        """The register's entry a candidate kept in result.json stands for."""
        return cls(**{name: getattr(candidate, name) for name in cls.__slots__})

    def label(self) -> str:
        used = f" (nom utilisé {self.used_name.upper()})" if self.used_name and self.used_name != self.birth_name else ""
        return f"{self.birth_name.upper()}{used} {self.first_given_name}, né(e) le {_french(self.birth_date)}"


@dataclass(frozen=True, slots=True)
class Candidate:
    entry: RegisterEntry
    score: float
    appointment: str | None = None  # « 10:30 »: seen today, by the practice's agenda


@dataclass(frozen=True, slots=True)
class IdentityLink:
    """How a dictation's patient stands against the register."""

    status: str  # "automatic", "to_choose", "unknown" (no candidate)
    candidates: tuple[Candidate, ...] = ()
    flags: tuple[Flag, ...] = field(default=())

    @property
    def patient(self) -> RegisterEntry | None:
        return self.candidates[0].entry if self.status == "automatic" else None

    def out(self) -> IdentityLinkOut:
        """The link as result.json keeps it, and the desk reads it back: one type from here on."""
        return IdentityLinkOut(
            status=self.status, score=round(self.candidates[0].score, 3) if self.candidates else None,
            candidates=[RegisteredPatientOut(**asdict(c.entry), score=round(c.score, 3), appointment=c.appointment)
                        for c in self.candidates])


def _french(iso: str) -> str:
    year, month, day = iso.split("-")
    return f"{day}/{month}/{year}"


def _sex(value: str | None) -> str | None:
    value = (value or "").strip().upper()[:1]
    return {"M": "M", "H": "M", "1": "M", "F": "F", "2": "F"}.get(value)


def read_csv(data: bytes, columns: dict[str, str] | None = None) -> tuple[list[RegisterEntry], list[tuple[int, str]]]:
    """Entries from the practice's CSV export, and the rows skipped with why (by row number:
    the rows themselves are patient data)."""
    mapping = column_mapping(DEFAULT_COLUMNS, columns, "register_columns")
    entries, skipped = [], []
    for number, value in rows(data, mapping, REQUIRED, "register_columns"):
        if not all(value[name] for name in REQUIRED):
            skipped.append((number, "nom, prénom ou date de naissance manquant / name or birth date missing"))
            continue
        try:
            value["birth_date"] = iso_day(value["birth_date"])
        except ValueError:
            skipped.append((number, "date de naissance illisible / unreadable birth date"))
            continue
        value["sex"] = _sex(value["sex"])
        entries.append(RegisterEntry(**value))
    return entries, skipped


class PatientRegister:
    def __init__(self, entries: Iterable[RegisterEntry]) -> None:
        self.entries = list(entries)
        # Index by the sound of each name (birth and used): a dictation is scored against the
        # patients sharing a name's sound or its birth date, not against thousands.
        self._by_sound: dict[str, list[RegisterEntry]] = {}
        self._by_birth: dict[str, list[RegisterEntry]] = {}
        for entry in self.entries:
            for name in {entry.birth_name, entry.used_name} - {None}:
                self._by_sound.setdefault(phonetic_key(name), []).append(entry)
            self._by_birth.setdefault(entry.birth_date, []).append(entry)

    @classmethod
    def load(cls, outbox: Outbox) -> PatientRegister | None:
        entries = load_entries(outbox, DIRECTORY, RegisterEntry)
        return None if entries is None else cls(entries)

    def save(self, outbox: Outbox) -> Path:
        return save_entries(outbox, DIRECTORY, self.entries)

    def _nearby(self, patient: Patient) -> list[RegisterEntry]:
        found: dict[int, RegisterEntry] = {}
        keys = {phonetic_key(name) for name in (patient.last_name, patient.birth_name) if name}
        for key in keys:
            for entry in self._by_sound.get(key, ()):
                found[id(entry)] = entry
        if patient.birth_date:
            swapped = _swapped(patient.birth_date)
            for date in {patient.birth_date, swapped} - {None}:
                for entry in self._by_birth.get(date, ()):
                    found[id(entry)] = entry
        return list(found.values())

    def link(self, patient: Patient, *, agenda: Agenda | None = None, day: str | None = None) -> IdentityLink:
        """`agenda` and `day`: the appointments of the day dictated, which put the patients seen
        that day first among the candidates (never linking one by themselves)."""
        if not (patient.last_name or patient.birth_name):
            return IdentityLink("unknown")
        scored = sorted((Candidate(entry, score(patient, entry)) for entry in self._nearby(patient)),
                        key=lambda candidate: -candidate.score)
        candidates = tuple(c for c in scored if c.score >= CANDIDATE_AT)[:MAX_CANDIDATES]
        if not candidates:
            return IdentityLink("unknown")
        best = candidates[0]
        runner_up = candidates[1].score if len(candidates) > 1 else 0.0
        flags = _date_contradiction(patient, best.entry)
        if agenda is not None and day:
            candidates = _seen_first(candidates, agenda, day)
        if (best.score >= AUTOMATIC_AT and best.score - runner_up >= AUTOMATIC_MARGIN
                and patient.birth_date == best.entry.birth_date and not _sex_contradicts(patient, best.entry)):
            return IdentityLink("automatic", (best, *(c for c in candidates if c.entry is not best.entry)), flags)
        return IdentityLink("to_choose", candidates, flags)


SEEN_TODAY = 0.1  # how far up an appointment that day moves a candidate in the list


def _seen_first(candidates: tuple[Candidate, ...], agenda: Agenda, day: str) -> tuple[Candidate, ...]:
    marked = []
    for candidate in candidates:
        entry = candidate.entry
        visit = agenda.visit(day, names=(entry.birth_name, entry.used_name), first_names=entry.first_names,
                             birth_date=entry.birth_date)
        marked.append(replace(candidate, appointment=(visit.time or "aujourd'hui") if visit else None))
    return tuple(sorted(marked, key=lambda c: -(c.score + (SEEN_TODAY if c.appointment else 0.0))))


def _swapped(iso: str) -> str | None:
    """The date with day and month exchanged, when that is a date too (« 03/12 » for « 12/03 »)."""
    try:
        year, month, day = iso.split("-")
        return dt.date(int(year), int(day), int(month)).isoformat() if day != month else None
    except ValueError:
        return None


def score(patient: Patient, entry: RegisterEntry) -> float:
    last = name_score(patient.last_name, (entry.birth_name, entry.used_name))
    if patient.birth_name:
        last = max(last, name_score(patient.birth_name, (entry.birth_name,)))
    first = name_score(patient.first_name, given_names(entry.first_names))
    if not patient.birth_date:
        birth = 0.0
    elif patient.birth_date == entry.birth_date:
        birth = 1.0
    elif _swapped(patient.birth_date) == entry.birth_date:
        birth = SWAPPED_DATE
    elif patient.birth_date[:4] == entry.birth_date[:4]:
        birth = SAME_YEAR
    else:
        birth = 0.0
    total = WEIGHTS["last"] * last + WEIGHTS["first"] * first + WEIGHTS["birth"] * birth
    return total * (0.8 if _sex_contradicts(patient, entry) else 1.0)


def _sex_contradicts(patient: Patient, entry: RegisterEntry) -> bool:
    return bool(patient.sex and entry.sex and patient.sex != entry.sex)


def _date_contradiction(patient: Patient, entry: RegisterEntry) -> tuple[Flag, ...]:
    """The names are this patient's but the dictated birth date is not theirs: say so."""
    if not patient.birth_date or patient.birth_date == entry.birth_date:
        return ()
    names_agree = (name_score(patient.last_name, (entry.birth_name, entry.used_name)) >= SOUNDS_ALIKE
                   and name_score(patient.first_name, given_names(entry.first_names)) >= SOUNDS_ALIKE)
    if not names_agree:
        return ()
    return (Flag(FlagKind.BIRTH_DATE_MISMATCH,
                 f"date dictée {_french(patient.birth_date)}, registre {_french(entry.birth_date)}"),)


def cached(outbox: Outbox) -> PatientRegister | None:
    """The register, read again only when a new import has replaced it."""
    return read_once(outbox, DIRECTORY, lambda: PatientRegister.load(outbox))


INS = re.compile(r"^[12][0-9AB]{14}$")


def registered_patient(entry: RegisterEntry, dictated: Patient) -> Patient:
    """The letter's patient from the register, as the INS rules want it: birth name, first
    given name, birth date, sex, with the used name where it differs; INS and IPP kept."""
    return Patient(
        sex=entry.sex or dictated.sex,
        last_name=entry.used_name or entry.birth_name,
        first_name=entry.first_given_name,
        birth_date=entry.birth_date,
        nir=ins if (ins := (entry.ins or "").replace(" ", "")) and INS.match(ins) else dictated.nir,
        birth_name=entry.birth_name,
        ipp=entry.ipp,
    )
