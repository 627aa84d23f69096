"""Dictations recorded in the browser (« Dicter »), uploaded in chunks that resume after a
network drop, then handed to the inbox like a dropped file.

Chunks wait in `outbox/.work/uploads/<id>/`, each sealed when the outbox is. Only a complete
recording reaches the inbox, and whole: it is written under a hidden `.part` name the inbox
ignores, then renamed into the practitioner's folder (`urgent/` when marked so).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import re
import secrets
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

from pipeline import ingest
from pipeline.audio import DEMUXERS, MAGIC
from pipeline.errors import DicteeError
from pipeline.store import Outbox

BROWSER_CHUNK_BYTES = 256 * 1024  # what the page sends at a time
MAX_CHUNK_BYTES = 4 * 1024 * 1024
MAX_RECORDING_BYTES = 200 * 1024 * 1024  # about 14 hours of Opus at 32 kbit/s
# Uploads under way at once: a phone that lost its page a few times, not a disk filled by one account.
MAX_OPEN_PER_ACCOUNT = 4
MAX_OPEN_TOTAL = 32
# What an upload may be, by its first bytes: the browser's (MediaRecorder: Opus in WebM/Ogg in
# Chromium and Firefox, AAC in MP4 in Safari) and a dictation software's (`dictee send`): every
# container the pipeline opens with its one demuxer (pipeline/audio.py).
RECORDING_FORMATS = tuple(suffix for _, _, suffix in MAGIC if suffix in DEMUXERS)
CHUNK = re.compile(r"^(\d{12})$")
UPLOAD_ID = re.compile(r"^[0-9a-f]{32}$")


class UploadError(DicteeError):
    def __init__(self, message: str, *, status: int = 422, offset: int | None = None) -> None:
        super().__init__(message)
        self.status, self.offset = status, offset


@dataclass(frozen=True, slots=True)
class UploadInfo:
    folder: str  # the practitioner's inbox folder, "" the main one
    username: str
    urgent: bool
    patient: str | None  # typed on the page (patient data: the file is sealed when the outbox is)
    recipient: str | None
    started_at: str


@dataclass(frozen=True, slots=True)
class Delivered:
    job_id: str
    path: Path


def uploads_dir(outbox: Outbox) -> Path:
    return outbox.work_folder() / "uploads"


class ChunkedUpload:
    def __init__(self, folder: Path, info: UploadInfo, outbox: Outbox) -> None:
        self.folder, self.info, self.outbox = folder, info, outbox
        self.upload_id = folder.name

    @classmethod
    def start(cls, outbox: Outbox, info: UploadInfo) -> ChunkedUpload:
        """A new upload, if the account and the desk have room for one more under way."""
        forget_stale(outbox)
        under_way = [UploadInfo(**outbox.read_json(f / "upload.json")).username
                     for f in uploads_dir(outbox).glob("*") if (f / "upload.json").is_file()] \
            if uploads_dir(outbox).is_dir() else []
        if under_way.count(info.username) >= MAX_OPEN_PER_ACCOUNT or len(under_way) >= MAX_OPEN_TOTAL:
            raise UploadError("trop d'envois en cours : terminez ou attendez ceux en cours / "
                              "too many uploads under way: finish or wait for those in progress", status=429)
        folder = uploads_dir(outbox) / secrets.token_hex(16)
        folder.mkdir(parents=True)
        outbox.write_json(folder / "upload.json", asdict(info))
        return cls(folder, info, outbox)

    @classmethod
    def open(cls, outbox: Outbox, upload_id: str) -> ChunkedUpload:
        """An upload under way (404 for an unknown or finished one)."""
        folder = uploads_dir(outbox) / upload_id
        if not UPLOAD_ID.match(upload_id) or not (folder / "upload.json").is_file():
            raise UploadError("envoi inconnu ou terminé / unknown or finished upload", status=404)
        return cls(folder, UploadInfo(**outbox.read_json(folder / "upload.json")), outbox)

    def _chunks(self) -> list[tuple[int, Path]]:
        return sorted((int(m.group(1)), path) for path in self.folder.iterdir() if (m := CHUNK.match(path.name)))

    def received(self) -> int:
        """Bytes received so far: where the next chunk starts."""
        chunks = self._chunks()
        return chunks[-1][0] + len(self.outbox.read_bytes(chunks[-1][1])) if chunks else 0

    def append(self, offset: int, data: bytes) -> int:
        """Add the chunk starting at `offset`; a chunk sent again after a drop is accepted once.
        Returns the bytes received. A gap or an overlap says where to resume (409)."""
        if len(data) > MAX_CHUNK_BYTES:
            raise UploadError("morceau trop grand / chunk too large", status=413)
        received = self.received()
        if offset != received:
            raise UploadError("reprendre à / resume at", status=409, offset=received)
        if received + len(data) > MAX_RECORDING_BYTES:
            raise UploadError("enregistrement trop long / recording too long", status=413)
        temporary = self.folder / f".{offset:012d}.tmp"
        self.outbox.write_bytes(temporary, data)
        os.replace(temporary, self.folder / f"{offset:012d}")  # a chunk is there whole or not at all
        return received + len(data)

    def finish(self, inbox: Path, declared_size: int) -> Delivered:
        """The recording, whole, into the practitioner's inbox folder (copied chunk by chunk:
        never the whole recording in memory)."""
        info, chunks = self.info, self._chunks()
        first = self.outbox.read_bytes(chunks[0][1]) if chunks else b""
        suffix = next((s for magic, at, s in MAGIC if first[at:at + len(magic)] == magic and s in RECORDING_FORMATS), None)
        received = self.received()
        if received != declared_size:
            raise UploadError("enregistrement incomplet / incomplete recording", status=409, offset=received)
        if suffix is None:
            raise UploadError("ce n'est pas un enregistrement audio / not an audio recording")
        target_dir = inbox / info.folder if info.folder else inbox
        if info.urgent:
            target_dir = target_dir / ingest.URGENT_FOLDER
        target_dir.mkdir(parents=True, exist_ok=True)
        stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        target = target_dir / f"dictee-{stamp}-{self.upload_id[:8]}{suffix}"
        partial = target_dir / f".{target.name}.part"  # hidden and .part: never claimed half-written
        digest = hashlib.sha256()
        with partial.open("wb") as handle:
            for _, path in chunks:
                data = self.outbox.read_bytes(path)
                digest.update(data)
                handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(partial, target)
        shutil.rmtree(self.folder, ignore_errors=True)
        return Delivered(ingest.job_id_for(digest.hexdigest()), target)


async def read_chunk(stream, *, limit: int = MAX_CHUNK_BYTES) -> bytes:
    """A request body read as it arrives, refused as soon as it passes `limit` (a 500 MB body
    must not be held in memory to learn it is too large)."""
    parts, size = [], 0
    async for part in stream:
        size += len(part)
        if size > limit:
            raise UploadError("morceau trop grand / chunk too large", status=413)
        parts.append(part)
    return b"".join(parts)


def forget_stale(outbox: Outbox, *, older_than: dt.timedelta = dt.timedelta(days=2)) -> int:
    """Uploads abandoned for days (a phone that never came back): their chunks are removed."""
    removed = 0
    cutoff = dt.datetime.now().timestamp() - older_than.total_seconds()
    for folder in uploads_dir(outbox).glob("*") if uploads_dir(outbox).is_dir() else ():
        if folder.is_dir() and max((p.stat().st_mtime for p in folder.iterdir()), default=0) < cutoff:
            shutil.rmtree(folder, ignore_errors=True)
            removed += 1
    return removed
