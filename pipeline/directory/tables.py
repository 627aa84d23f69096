"""The CSV exports practices import (patients, correspondents, appointments): UTF-8 or
Windows-1252, « ; », « , » or tab, columns named by a setting."""

from __future__ import annotations

import csv
import datetime as dt
import io
from dataclasses import asdict
from pathlib import Path
from typing import Callable, Iterator, TypeVar

from pipeline.errors import DicteeError
from pipeline.french import iso_date
from pipeline.store import Outbox

T = TypeVar("T")


class ImportFormatError(DicteeError):
    pass


def decoded(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("cp1252")


def iso_day(value: str) -> str:
    """A date as exports write it (« 13/05/1988 » or ISO) → ISO; ValueError when it is not one."""
    return dt.date.fromisoformat(iso_date(value.strip()).strip()).isoformat()


def column_mapping(defaults: dict[str, str], overrides: dict[str, str] | None, setting: str) -> dict[str, str]:
    unknown = set(overrides or {}) - set(defaults)
    if unknown:
        raise ImportFormatError(f"{setting} : champ(s) inconnu(s) / unknown field(s): {', '.join(sorted(unknown))} "
                                f"({', '.join(defaults)})")
    return {**defaults, **(overrides or {})}


def rows(data: bytes, mapping: dict[str, str], required: tuple[str, ...], setting: str
         ) -> Iterator[tuple[int, dict[str, str | None]]]:
    """Each row as {our field: its value or None}, with its line number (to report a skipped
    row without quoting it: the rows are patient data)."""
    text = decoded(data)
    try:
        dialect = csv.Sniffer().sniff(text[:4096], delimiters=";,\t")
    except csv.Error:
        raise ImportFormatError("ce fichier n'est pas un CSV lisible / this file is not a readable CSV") from None
    reader = csv.DictReader(io.StringIO(text), dialect=dialect)
    missing = [mapping[name] for name in required if mapping[name] not in (reader.fieldnames or [])]
    if missing:
        raise ImportFormatError(f"colonnes absentes / missing columns: {', '.join(missing)} "
                                f"({setting} dans dictee.toml / in dictee.toml)")
    for number, row in enumerate(reader, start=2):
        yield number, {name: (row.get(column) or "").strip() or None for name, column in mapping.items()}


_read: dict[Path, tuple[float, object]] = {}


def read_once(outbox: Outbox, name: str, load: Callable[[], T]) -> T | None:
    """What `load` reads of directory `name`, read again only when a new import has replaced it."""
    path = outbox.directory_file(name)
    try:
        stamp = path.stat().st_mtime
    except FileNotFoundError:
        return None
    if path not in _read or _read[path][0] != stamp:
        _read[path] = (stamp, load())
    return _read[path][1]  # type: ignore[return-value]


def load_entries(outbox: Outbox, name: str, make: Callable[..., T]) -> list[T] | None:
    """The entries of directory `name` as last imported, None when nothing was imported."""
    path = outbox.directory_file(name)
    if not path.is_file():
        return None
    return [make(**entry) for entry in outbox.read_json(path)[name]]


def save_entries(outbox: Outbox, name: str, entries: list) -> Path:
    """An import, sealed like every patient file when encryption is on; it replaces the previous one."""
    path = outbox.directory_file(name)
    path.parent.mkdir(parents=True, exist_ok=True)
    outbox.write_json(path, {"imported_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                             name: [asdict(entry) for entry in entries]})
    return path
