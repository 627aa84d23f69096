"""Typed notes instead of audio: a `.txt` or `.docx` dropped in the inbox, or `dictee draft FILE`,
go through the same normalize → extract → draft stages and the same desk, without a recognizer.

A practitioner who types notes, or another recognizer's transcript, gets the same letter.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

from pipeline.errors import BadInput
from pipeline.plain import multiline
from pipeline.records import Transcript

TEXT_SUFFIXES = frozenset({".txt", ".docx"})
MAX_TEXT_CHARS = 200_000  # a letter, not a book
MAX_NOTES_BYTES = 20 * 1024 * 1024  # read at most this much of a notes file or standard input
# A Word file's parts, checked in its zip directory before any XML is parsed: a few MB of
# zip can hold gigabytes of XML (a « zip bomb »).
MAX_DOCX_UNZIPPED = 50 * 1024 * 1024
MAX_DOCX_RATIO = 200


def is_typed(path: Path) -> bool:
    return path.suffix.lower() in TEXT_SUFFIXES


def read_typed(data: bytes, suffix: str) -> str:
    """The text of typed notes: UTF-8 (or Windows-1252, as Notepad wrote it) or a Word file."""
    if suffix.lower() == ".docx":
        from docx import Document

        check_docx_parts(data)
        try:
            text = "\n".join(paragraph.text for paragraph in Document(io.BytesIO(data)).paragraphs)
        except Exception as error:  # python-docx raises several kinds on a file that is not a .docx
            raise BadInput("unreadable_text", "Document Word illisible.", "Unreadable Word document.") from error
    else:
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            text = data.decode("cp1252", errors="replace")
        if "\x00" in text:
            raise BadInput("unreadable_text", "Ce fichier .txt n'est pas du texte.", "This .txt file is not text.")
    text = multiline(text).strip()  # control characters never reach a letter
    if not text:
        raise BadInput("empty_text", "Les notes sont vides.", "The notes are empty.")
    if len(text) > MAX_TEXT_CHARS:
        raise BadInput("too_long", "Notes trop longues pour un courrier.", "Notes too long for a letter.")
    return text


def check_docx_parts(data: bytes) -> None:
    """Refuse a .docx whose parts unzip to far more than a letter, from the zip directory alone."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            parts = archive.infolist()
    except (zipfile.BadZipFile, ValueError) as error:
        raise BadInput("unreadable_text", "Document Word illisible.", "Unreadable Word document.") from error
    unzipped = sum(part.file_size for part in parts)
    if unzipped > MAX_DOCX_UNZIPPED or any(
            part.file_size > MAX_DOCX_RATIO * max(part.compress_size, 1024) for part in parts):
        raise BadInput("too_large", "Document Word anormalement volumineux une fois décompressé : refusé.",
                       "Word document abnormally large once unzipped: refused.")


def typed_transcript(text: str) -> Transcript:
    """Notes stand where a transcript would: no words, no audio, no recognition time."""
    return Transcript(raw=text, language="fr", language_probability=1.0, words=(), duration_s=0.0)
