"""The monthly statement a secretary (or a télésecrétariat centre) attaches to an invoice: per
practitioner, the letters drafted and signed, the minutes of audio, the lines typed, the
corrections made on the desk and the turnaround. Counts only: no patient, no file name.

Lines are the trade's unit: 65 characters, spaces included, counted on the text the letter
carries as filed (its body as corrected and its prescription lines; not the letterhead, the
patient line or the formulas the template adds), rounded up per letter.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import math
import re
import statistics
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.errors import DicteeError
from pipeline.settings import Settings
from pipeline.result import letter_text
from pipeline.store import FILED, Outbox, parse_instant

LINE_CHARS = 65
MONTH = re.compile(r"(?P<year>20\d\d)-(?P<month>0[1-9]|1[0-2])")


@dataclass
class AuthorFigures:
    practitioner: str
    drafted: int = 0
    signed: int = 0
    audio_s: float = 0.0
    characters: int = 0
    lines: int = 0
    corrections: int = 0
    turnaround_h: list[float] = field(default_factory=list)

    @property
    def median_turnaround_h(self) -> float | None:
        return round(statistics.median(self.turnaround_h), 1) if self.turnaround_h else None


def month_span(month: str) -> tuple[dt.datetime, dt.datetime]:
    """« 2026-11 » → its first instant and the next month's, in the machine's time zone."""
    found = MONTH.fullmatch(month)  # as written: it goes into a file name and a download header
    if found is None:
        raise DicteeError(f"mois attendu sous la forme AAAA-MM, par exemple 2026-11 / month expected as YYYY-MM, "
                          f"e.g. 2026-11 (got {month[:20]!r})")
    year, number = int(found["year"]), int(found["month"])
    start = dt.datetime(year, number, 1).astimezone()
    following = dt.datetime(year + number // 12, number % 12 + 1, 1).astimezone()
    return start, following


def previous_month(today: dt.date) -> str:
    last = today.replace(day=1) - dt.timedelta(days=1)
    return f"{last.year}-{last.month:02d}"


def _instant(at: str | None) -> dt.datetime | None:
    try:
        return parse_instant(at) if at else None
    except ValueError:
        return None  # a time no one could read: not counted rather than a failed statement


def typed_characters(result: dict) -> int:
    """The letter's own text as filed: its body (as corrected) and its prescription lines."""
    from pipeline.review.jobs import drug_lines

    prescription = drug_lines(result.get("drugs") or []) if result.get("document_type") == "ordonnance" else ""
    return sum(len(paragraph.strip()) for paragraph in f"{letter_text(result)}\n{prescription}".splitlines()
               if paragraph.strip())


def monthly_statement(settings: Settings, outbox: Outbox, month: str) -> list[AuthorFigures]:
    """One row per practitioner who had a letter drafted or signed in `month`, by name."""
    start, end = month_span(month)
    rows: dict[str, AuthorFigures] = {}
    jobs = {files.job_id: files for files in outbox.jobs()}
    if outbox.filed_folder().is_dir():  # a filed letter's copy, where its draft folder also stands
        jobs |= {folder.name: outbox.filed_job(folder.name) for folder in sorted(outbox.filed_folder().iterdir())
                 if folder.is_dir() and folder.name.isalnum()}
    for files in jobs.values():
        try:
            state, result = files.state(), files.result_data()
        except (OSError, ValueError, KeyError, TypeError):
            continue  # a folder being written, or unreadable without its key: not counted
        name = settings.practitioner(result.get("author_folder") or None).name
        row = rows.setdefault(name, AuthorFigures(name))
        drafted = _instant(state.drafted_at) if state.history else None
        if drafted and start <= drafted < end:
            row.drafted += 1
        filed = _instant(state.filed.at) if state.filed else None
        if state.state == FILED and filed and start <= filed < end:
            characters = typed_characters(result)
            row.signed += 1
            row.audio_s += float((result.get("source") or {}).get("duration_s") or 0.0)
            row.characters += characters
            row.lines += math.ceil(characters / LINE_CHARS)
            row.corrections += int((result.get("review") or {}).get("version") or 0)
            if (received := _instant((result.get("source") or {}).get("received_at"))) is not None:
                row.turnaround_h.append((filed - received).total_seconds() / 3600)
    return sorted((row for row in rows.values() if row.drafted or row.signed), key=lambda row: row.practitioner)


HEADERS = ("Praticien", "Dictées mises en forme", "Courriers signés", "Minutes d'audio", "Caractères",
           f"Lignes ({LINE_CHARS} car.)", "Corrections", "Délai médian (h)")


def row_values(row: AuthorFigures) -> tuple:
    return (row.practitioner, row.drafted, row.signed, round(row.audio_s / 60, 1), row.characters, row.lines,
            row.corrections, "" if row.median_turnaround_h is None else row.median_turnaround_h)


def totals(rows: list[AuthorFigures]) -> AuthorFigures:
    total = AuthorFigures("Total")
    for row in rows:
        total.drafted += row.drafted
        total.signed += row.signed
        total.audio_s += row.audio_s
        total.characters += row.characters
        total.lines += row.lines
        total.corrections += row.corrections
        total.turnaround_h += row.turnaround_h
    return total


def _french(value) -> str | int:
    """A figure as a French reader writes it: « 2,5 »."""
    return str(value).replace(".", ",") if isinstance(value, float) else value


def as_csv(rows: list[AuthorFigures]) -> str:
    """Semicolon-separated with a decimal comma, as French spreadsheets open it."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", lineterminator="\n")
    writer.writerow(HEADERS)
    for row in [*rows, totals(rows)]:
        writer.writerow([_french(value) for value in row_values(row)])
    return out.getvalue()


def as_docx(rows: list[AuthorFigures], *, practice: str, month: str) -> bytes:
    """The statement as a one-page Word file (then PDF/A through LibreOffice, as letters are)."""
    from docx import Document
    from docx.shared import Pt

    document = Document()
    document.styles["Normal"].font.size = Pt(10)
    document.add_heading(f"Relevé d'activité — {month}", level=1)
    document.add_paragraph(practice)
    table = document.add_table(rows=1, cols=len(HEADERS))
    table.style = "Table Grid"
    for cell, header in zip(table.rows[0].cells, HEADERS):
        cell.text = header
    for row in [*rows, totals(rows)]:
        for cell, value in zip(table.add_row().cells, row_values(row)):
            cell.text = str(_french(value))
    document.add_paragraph(f"Lignes de {LINE_CHARS} caractères, espaces compris, comptées sur le texte de chaque "
                           "courrier signé (corps corrigé et lignes d'ordonnance, hors en-tête et formules), "
                           "arrondies à la ligne supérieure par courrier. Délai : de la réception de la dictée à "
                           "la signature.")
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def write_statement(settings: Settings, outbox: Outbox, month: str, target: Path, *, pdf: bool = True,
                    practice: str | None = None) -> tuple[list[AuthorFigures], list[Path]]:
    """releve-<month>.csv (and .pdf where LibreOffice is there) into `target`; a centre's
    practice's as releve-<practice>-<month>, so that several share a folder."""
    from pipeline.export import ExportError, to_pdfa
    from pipeline.files import write_bytes_atomic

    rows = monthly_statement(settings, outbox, month)
    target.mkdir(parents=True, exist_ok=True)
    stem = f"releve-{practice}-{month}" if practice else f"releve-{month}"
    written = [target / f"{stem}.csv"]
    write_bytes_atomic(written[0], as_csv(rows).encode("utf-8"))
    if pdf:
        try:
            document = to_pdfa(as_docx(rows, practice=settings.practitioner(None).name, month=month),
                               scratch_root=outbox.work_folder())
        except ExportError:
            return rows, written  # said by the caller: the CSV stands alone
        write_bytes_atomic(target / f"{stem}.pdf", document)
        written.append(target / f"{stem}.pdf")
    return rows, written
