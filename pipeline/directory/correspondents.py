"""The practice's address book: the colleagues its letters go to.

Imported from a CSV export (columns named by the `address_book_columns` setting) or from vCard
files (`dictee correspondents import FILE.csv|FILE.vcf`), kept in `outbox/register/`.

A dictated colleague (« au docteur Martin, cardiologue ») is resolved by the sound of the name
and by specialty and city: automatically only when exactly one entry sounds like the name and
contradicts nothing dictated (two Dr Martin and no specialty said: the secretary chooses).
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Iterable

from pipeline.directory.names import SOUNDS_ALIKE, name_score
from pipeline.directory.tables import ImportFormatError, column_mapping, decoded, load_entries, read_once, rows, save_entries
from pipeline.extract import patterns as P
from pipeline.extract.names import split_name
from pipeline.french import fold
from pipeline.records import Recipient
from pipeline.result import CorrespondentLinkOut, CorrespondentOut
from pipeline.store import Outbox

DIRECTORY = "correspondents"
DEFAULT_COLUMNS = {
    "last_name": "nom", "first_name": "prenom", "title": "titre", "specialty": "specialite",
    "address": "adresse", "postal_code": "code_postal", "city": "ville", "mssante": "mssante",
    "rpps": "rpps", "phone": "telephone",
}
REQUIRED = ("last_name",)
CANDIDATE_AT, MAX_CANDIDATES = 0.5, 5
WEIGHTS = {"last": 0.6, "first": 0.15, "specialty": 0.15, "city": 0.1}
RPPS = re.compile(r"\b(?:RPPS\W*)?(1\d{10})\b", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Correspondent:
    last_name: str
    first_name: str | None = None
    title: str | None = None  # Dr / Pr
    specialty: str | None = None
    address: str | None = None  # street lines, « , » between them
    postal_code: str | None = None
    city: str | None = None
    mssante: str | None = None
    rpps: str | None = None
    phone: str | None = None

    @classmethod
    def of(cls, candidate: CorrespondentOut) -> Correspondent:
        """The address book's entry a candidate kept in result.json stands for."""
        return cls(**{name: getattr(candidate, name) for name in cls.__slots__})

    def as_recipient(self, dictated: Recipient) -> Recipient:
        """The letter's recipient as the address book knows them (the dictated greeting kept)."""
        return replace(dictated, title=self.title or dictated.title, last_name=self.last_name,
                       first_name=self.first_name or dictated.first_name,
                       specialty=self.specialty or dictated.specialty, city=self.city or dictated.city,
                       address=self.address, postal_code=self.postal_code, mssante=self.mssante, rpps=self.rpps)


@dataclass(frozen=True, slots=True)
class Candidate:
    entry: Correspondent
    score: float


@dataclass(frozen=True, slots=True)
class CorrespondentLink:
    status: str  # "automatic", "to_choose", "unknown"
    candidates: tuple[Candidate, ...] = field(default=())

    @property
    def correspondent(self) -> Correspondent | None:
        return self.candidates[0].entry if self.status == "automatic" else None

    def out(self) -> CorrespondentLinkOut:
        """The link as result.json keeps it, and the desk reads it back: one type from here on."""
        return CorrespondentLinkOut(
            status=self.status, score=round(self.candidates[0].score, 3) if self.candidates else None,
            candidates=[CorrespondentOut(**asdict(c.entry), score=round(c.score, 3)) for c in self.candidates])


def _title(value: str | None) -> str | None:
    return P.TITLES.get(fold(value or "").strip(" ."), value or None)


def read_csv(data: bytes, columns: dict[str, str] | None = None) -> tuple[list[Correspondent], list[tuple[int, str]]]:
    mapping = column_mapping(DEFAULT_COLUMNS, columns, "address_book_columns")
    entries, skipped = [], []
    for number, value in rows(data, mapping, REQUIRED, "address_book_columns"):
        if not value["last_name"]:
            skipped.append((number, "nom manquant / name missing"))
            continue
        entries.append(Correspondent(**{**value, "title": _title(value["title"]) or "Dr"}))
    return entries, skipped


def read_vcards(data: bytes) -> tuple[list[Correspondent], list[tuple[int, str]]]:
    """Entries from vCard 3 or 4 files (as exported by address books and the Annuaire Santé): N or
    FN, ADR, the e-mail on a *.mssante.fr domain, ROLE or TITLE as specialty, X-RPPS or an RPPS
    number in UID or NOTE."""
    import vobject

    entries, skipped = [], []
    try:
        cards = list(vobject.readComponents(decoded(data)))
        if not cards:
            raise ValueError("nothing in it")
    except Exception:  # vobject's parse errors have no common base worth naming
        raise ImportFormatError("ce fichier n'est pas un vCard lisible / this file is not a readable vCard") from None
    for number, card in enumerate(cards, start=1):
        entry = _from_vcard(card)
        if entry is None:
            skipped.append((number, "nom manquant / name missing"))
        else:
            entries.append(entry)
    return entries, skipped


def _from_vcard(card) -> Correspondent | None:
    def text(name: str) -> str | None:
        item = getattr(card, name.lower(), None)
        value = item.value if item is not None else None
        return str(value).strip() or None if value else None

    names = getattr(card, "n", None)
    last = first = title = None
    if names is not None:
        last, first = _joined(names.value.family) or None, _joined(names.value.given) or None
        title = _title(_joined(names.value.prefix))
    if not last and text("fn"):
        titled = P.TITLE_FIRST.match(text("fn"))
        title = title or _title(titled.group(1) if titled else None)
        name = text("fn")[titled.end() if titled else 0:].strip()
        first, last = split_name(name) if name else (None, None)
    if not last:
        return None
    street = postal_code = city = None
    if getattr(card, "adr", None) is not None:
        adr = card.adr.value
        street = ", ".join(line.strip() for line in _joined(adr.street, "\n").split("\n") if line.strip()) or None
        postal_code, city = (adr.code or None), (adr.city or None)
    emails = [str(item.value).strip() for item in card.contents.get("email", [])]
    mssante = next((email for email in emails if email.lower().endswith("mssante.fr")), None)
    rpps_found = [RPPS.search(value or "") for value in (text("x-rpps"), text("uid"), text("note"))]
    phones = [str(item.value).strip() for item in card.contents.get("tel", [])]
    return Correspondent(last_name=last, first_name=first, title=title or "Dr",
                         specialty=text("role") or text("title"), address=street, postal_code=postal_code,
                         city=city, mssante=mssante, rpps=next((m.group(1) for m in rpps_found if m), None),
                         phone=phones[0] if phones else None)


def _joined(value, separator: str = " ") -> str:
    """vCard components come as a string or a list of strings."""
    return separator.join(value) if isinstance(value, list) else (value or "")


def read_address_book(data: bytes, suffix: str, columns: dict[str, str] | None = None
                      ) -> tuple[list[Correspondent], list[tuple[int, str]]]:
    if suffix.lower() in (".vcf", ".vcard"):
        return read_vcards(data)
    return read_csv(data, columns)


# Specialties as dictated and as address books write them: « cardiologie » and « cardiologue »,
# « ophtalmologiste » and « ophtalmologue », « médecine générale » and « généraliste ».
SPECIALTY_FORMS = (
    (re.compile(r"\b(?:medecine\s+generale|medecin\s+generaliste|medecin\s+traitant|generaliste|mg)\b"), "generaliste"),
    (re.compile(r"\b(?:oto-?rhino-?laryngolog\w*|orl)\b"), "orl"),
    (re.compile(r"\bgastro-?enterolog\w*"), "gastroenterolog"),
    (re.compile(r"\b(\w+?)(?:ogie|ogue|ogiste)s?\b"), r"\1og"),
    (re.compile(r"\bpediatr\w*"), "pediatr"),
    (re.compile(r"\bpsychiatr\w*"), "psychiatr"),
)


def specialty_key(specialty: str) -> str:
    key = fold(specialty)
    for pattern, canonical in SPECIALTY_FORMS:
        key = pattern.sub(canonical, key)
    return re.sub(r"\s+", " ", key).strip()


def agrees(dictated: str | None, known: str | None, *, key=fold) -> bool | None:
    """True or False when both sides say something, None when one is silent."""
    if not dictated or not known:
        return None
    a, b = key(dictated), key(known)
    return a == b or a in b or b in a


def score(dictated: Recipient, entry: Correspondent) -> float:
    parts = {"last": name_score(dictated.last_name, (entry.last_name,))}
    if dictated.first_name and entry.first_name:
        parts["first"] = name_score(dictated.first_name, (entry.first_name,))
    for name, agreement in (("specialty", agrees(dictated.specialty, entry.specialty, key=specialty_key)),
                            ("city", agrees(dictated.city, entry.city))):
        if agreement is not None:
            parts[name] = 1.0 if agreement else 0.0
    weight = sum(WEIGHTS[name] for name in parts)
    return sum(WEIGHTS[name] * value for name, value in parts.items()) / weight


def _compatible(dictated: Recipient, entry: Correspondent) -> bool:
    """Sounds like the dictated name and contradicts nothing else dictated."""
    return (name_score(dictated.last_name, (entry.last_name,)) >= SOUNDS_ALIKE
            and agrees(dictated.specialty, entry.specialty, key=specialty_key) is not False
            and agrees(dictated.city, entry.city) is not False
            and not (dictated.first_name and entry.first_name
                     and name_score(dictated.first_name, (entry.first_name,)) < SOUNDS_ALIKE))


class AddressBook:
    def __init__(self, entries: Iterable[Correspondent]) -> None:
        self.entries = list(entries)

    @classmethod
    def load(cls, outbox: Outbox) -> AddressBook | None:
        entries = load_entries(outbox, DIRECTORY, Correspondent)
        return None if entries is None else cls(entries)

    def save(self, outbox: Outbox) -> Path:
        return save_entries(outbox, DIRECTORY, self.entries)

    def resolve(self, dictated: Recipient) -> CorrespondentLink:
        if not dictated.last_name:
            return CorrespondentLink("unknown")
        scored = sorted((Candidate(entry, score(dictated, entry)) for entry in self.entries),
                        key=lambda candidate: -candidate.score)
        candidates = tuple(c for c in scored if c.score >= CANDIDATE_AT)[:MAX_CANDIDATES]
        if not candidates:
            return CorrespondentLink("unknown")
        compatible = [c for c in scored if _compatible(dictated, c.entry)]
        if len(compatible) == 1 and compatible[0] is candidates[0]:
            return CorrespondentLink("automatic", candidates)
        return CorrespondentLink("to_choose", candidates)

    def lookup(self, dictated: Recipient) -> tuple[Recipient, CorrespondentLink]:
        """The recipient as the letter will name them (the address book's entry when resolved,
        else as dictated) and how the lookup went."""
        link = self.resolve(dictated)
        return (link.correspondent.as_recipient(dictated) if link.correspondent else dictated), link


def cached(outbox: Outbox) -> AddressBook | None:
    """The address book, read again only when a new import has replaced it."""
    return read_once(outbox, DIRECTORY, lambda: AddressBook.load(outbox))
