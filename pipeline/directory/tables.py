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
from pipeline.plain import multiline, single_line
from pipeline.store import Outbox

T = TypeVar("T")


class ImportFormatError(DicteeError):
    pass


MAX_FIELD_CHARS = 4096  # a name, an address: never more; a longer field is a broken row


def decoded(data: bytes) -> str:
    """UTF-8, else Windows-1252; a byte neither can read is named by its line."""
    try:
        return multiline(data.decode("utf-8-sig"))  # control characters never reach a letter
    except UnicodeDecodeError:
        pass
    try:
        return multiline(data.decode("cp1252"))
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        raise ImportFormatError(f"ligne {line} : octet illisible (ni UTF-8 ni Windows-1252) / line {line}: "
                                "unreadable byte (neither UTF-8 nor Windows-1252)") from None


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
        dialect = csv.Sniffer().sniff(text.split("\n", 1)[0][:4096], delimiters=";,\t")  # the header says it
    except csv.Error:
        raise ImportFormatError("ce fichier n'est pas un CSV lisible / this file is not a readable CSV") from None
    reader = csv.DictReader(io.StringIO(text), dialect=dialect, strict=True)
    try:
        missing = [mapping[name] for name in required if mapping[name] not in (reader.fieldnames or [])]
    except csv.Error as error:
        raise ImportFormatError(f"ligne 1 : en-tête illisible / line 1: unreadable header ({error})") from None
    if missing:
        raise ImportFormatError(f"colonnes absentes / missing columns: {', '.join(missing)} "
                                f"({setting} dans dictee.toml / in dictee.toml)")
    first = reader.line_num + 1
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as error:  # a field past csv's limit, a quote never closed before the end
            raise ImportFormatError(f"ligne {first} : ligne illisible / line {first}: unreadable row ({error})") from None
        if row.get(None) is not None or any(len(value or "") > MAX_FIELD_CHARS or "\n" in (value or "")
                                             for value in row.values() if isinstance(value, str)):
            # A stray quote swallows the lines after it into one field: never a row to import.
            raise ImportFormatError(f"lignes {first} à {reader.line_num} : guillemet non fermé ou champ trop long / "
                                    f"lines {first} to {reader.line_num}: unclosed quote or field too long")
        yield first, {name: single_line(row.get(column) or "") or None for name, column in mapping.items()}
        first = reader.line_num + 1


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
