"""Optional encryption at rest of what the outbox keeps about patients (Fernet, from `cryptography`).

With `encryption_key_file` set, every file of a draft, a filed letter or a quarantined
dictation is written sealed: audio, draft.docx, result.json, state.json, error.json. The
names stay those of DESIGN.md; the contents are Fernet tokens (AES-128-CBC + HMAC-SHA256),
which `dictee decrypt` and the review app open. `raison.txt` stays readable and then names
no file. Readers accept plain files too, so encryption can be switched on for an existing
outbox.

The key lives in its own file, outside the inbox, the outbox and the code checkout, readable
by its owner only — a key beside the data it locks protects nothing.
"""

from __future__ import annotations

import functools
import json
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from pipeline.errors import DicteeError
from pipeline.files import copy_file_atomic, json_bytes, write_bytes_atomic

# Every Fernet token starts with version byte 0x80, "gAAAAA" once base64-encoded; no JSON,
# .docx (PK), WAV (RIFF), Ogg, MP3 or M4A file does.
SEALED_PREFIX = b"gAAAAA"
CODE_CHECKOUT = Path(__file__).resolve().parents[1]


class KeyProblem(DicteeError):
    """The key file is missing, unreadable, too open, misplaced or not a key."""


class SealedWithoutKey(DicteeError):
    """A sealed file was met without a key, or with another key than the one that sealed it."""


def is_sealed(data: bytes) -> bool:
    return data.startswith(SEALED_PREFIX)


@dataclass(frozen=True, slots=True)
class Vault:
    """Seals what is written and opens what is read; without a key, passes bytes through."""

    fernet: Fernet | None = None

    @property
    def enabled(self) -> bool:
        return self.fernet is not None

    def seal(self, data: bytes) -> bytes:
        return self.fernet.encrypt(data) if self.fernet else data

    def open(self, data: bytes) -> bytes:
        if not is_sealed(data):
            return data
        if self.fernet is None:
            raise SealedWithoutKey(
                "fichier chiffré : indiquez la clé (réglage encryption_key_file) / "
                "encrypted file: set the key (encryption_key_file setting)"
            )
        try:
            return self.fernet.decrypt(data)
        except InvalidToken as error:
            raise SealedWithoutKey(
                "fichier chiffré avec une autre clé, ou altéré / file encrypted with another key, or tampered with"
            ) from error

    def read_bytes(self, path: Path) -> bytes:
        return self.open(path.read_bytes())

    def read_json(self, path: Path) -> dict:
        return json.loads(self.read_bytes(path).decode("utf-8"))

    def write_bytes(self, path: Path, data: bytes) -> None:
        write_bytes_atomic(path, self.seal(data))

    def write_json(self, path: Path, data: dict) -> None:
        self.write_bytes(path, json_bytes(data))

    def copy_in(self, source: Path, target: Path, *, limit: int | None = None) -> None:
        """Copy a plain file (the claimed audio) into the outbox, sealed if enabled; streamed
        when not sealed. With `limit`, only its first `limit` bytes (an absurd file's sample)."""
        if self.enabled or limit is not None:
            with source.open("rb") as handle:
                self.write_bytes(target, handle.read(limit) if limit is not None else handle.read())
        else:
            copy_file_atomic(source, target)


PLAIN = Vault()


def _inside(path: Path, folder: Path) -> bool:
    return path.is_relative_to(folder.resolve())


def check_key_location(key_file: Path, *, guarded: list[Path]) -> None:
    """Refuse a key kept with the data it protects, or in the code checkout (it could be committed)."""
    resolved = key_file.expanduser().resolve()
    for folder in [*guarded, CODE_CHECKOUT]:
        if _inside(resolved, folder):
            raise KeyProblem(
                f"la clé ne doit pas être dans {folder} : placez-la ailleurs (ex. /etc/dictee/cle.key) / "
                f"the key must not be inside {folder}: keep it elsewhere (e.g. /etc/dictee/key)"
            )


def create_key_file(key_file: Path, *, guarded: list[Path]) -> None:
    """Write a new key readable by its owner only; never overwrite one (that would lose every sealed file)."""
    check_key_location(key_file, guarded=guarded)
    key_file = key_file.expanduser()
    key_file.parent.mkdir(parents=True, exist_ok=True)
    try:
        descriptor = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError as error:
        raise KeyProblem(
            f"{key_file} existe déjà : une clé n'est jamais remplacée / already exists: a key is never replaced"
        ) from error
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(Fernet.generate_key() + b"\n")
        handle.flush()
        os.fsync(handle.fileno())


def load_vault(key_file: Path | None, *, guarded: list[Path]) -> Vault:
    if key_file is None:
        return PLAIN
    check_key_location(key_file, guarded=guarded)
    key_file = key_file.expanduser()
    try:
        status = key_file.stat()
    except OSError as error:
        raise KeyProblem(
            f"clé introuvable : {key_file} (créez-la avec `dictee key create`) / "
            f"key not found: {key_file} (create it with `dictee key create`)"
        ) from error
    if status.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise KeyProblem(
            f"la clé {key_file} est lisible par d'autres : chmod 600 / the key {key_file} is readable by others: chmod 600"
        )
    return _vault_from_key(str(key_file), status.st_mtime_ns)


@functools.lru_cache(maxsize=2)
def _vault_from_key(key_file: str, mtime_ns: int) -> Vault:
    try:
        return Vault(Fernet(Path(key_file).read_bytes().strip()))
    except (ValueError, OSError) as error:
        raise KeyProblem(f"{key_file} n'est pas une clé Dictée valide / is not a valid Dictée key") from error
