"""The one settings object: arguments > DICTEE_* environment > dictee.toml > defaults.

Read once at the edges (CLI, flows) and passed down; stages take what they need.
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Mapping
from contextvars import ContextVar
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

if TYPE_CHECKING:
    from pipeline.store import Outbox
    from pipeline.vault import Vault

CONFIG_FILE_ENV = "DICTEE_CONFIG"
DEFAULT_CONFIG_FILE = Path("dictee.toml")
# A practice's own settings file (pipeline/practices.py), for the settings built inside `load_settings`.
_chosen_config_file: ContextVar[Path | None] = ContextVar("dictee_config_file", default=None)


class Practitioner(BaseModel):
    """A letterhead and signature: the practice's default, or one per inbox subfolder."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    specialty: str = ""
    address: str = ""
    rpps: str = ""
    city: str = ""
    phone: str = ""
    email: str = ""
    # A scan of the handwritten signature (PNG/JPEG), printed on letters once signed on the desk.
    signature_image: str = ""


# Inbox subfolders a practitioner may own: plain names, and not the urgent folder.
PRACTITIONER_FOLDER = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="DICTEE_", extra="forbid", frozen=True)

    # Folders
    inbox: Path = Path("inbox")
    outbox: Path = Path("outbox")
    models_dir: Path = Path("models")
    letter_templates: Path = Path("letter_templates")

    # Speech recognition. `whisper_model` points at any CTranslate2 Whisper folder;
    # empty means the bundled base model assembled into models_dir.
    whisper_model: Path | None = None
    compute_type: Literal["int8", "int8_float32", "int8_float16", "int8_bfloat16", "int16", "float16",
                          "bfloat16", "float32", "default", "auto"] = "int8"
    # Where the recognizer runs: "auto" takes a CUDA GPU when CTranslate2 sees one, else the CPU.
    device: Literal["auto", "cpu", "cuda"] = "auto"
    # Which recognizer (pipeline/transcribe.py ENGINES): one class behind the Recognizer protocol each.
    engine: Literal["faster-whisper"] = "faster-whisper"
    beam_size: int = Field(default=5, ge=1, le=10)
    # Chunks (≤ 30 s, cut at pauses) of one dictation decoded together.
    chunk_batch_size: int = Field(default=8, ge=1, le=64)
    cpu_threads: int = Field(default=0, ge=0, description="0 lets CTranslate2 decide")
    language: str = "fr"
    # Whisper's language detection costs one more encoder pass (~1 s a dictation on 2 cores).
    language_check: bool = False
    low_confidence: float = Field(default=0.5, ge=0.0, le=1.0)
    # Opt-in until measured on medical speech: on general French (FLEURS) the prompt is now
    # neutral (WER ±0.3 point, +5–9 % time; it cost 2 points in the sequential decoder).
    # The flagged post-correction is cheap and on.
    vocabulary_prompt: bool = False
    vocabulary_correction: bool = True
    # Bias recognition towards the practitioner's specialty terms and the practice's names
    # (faster-whisper hotwords, echo detected like the prompt's). Off by default: on FLEURS it
    # keeps WER (−0.3 point on clips, +0.2 on minute-long recordings) but costs +12 % time on
    # clips and +20–27 % on minute-long recordings, over the 15 % we allow.
    vocabulary_hotwords: bool = False
    # Misheard medical terms repaired by sound against the medical lexicon, guarded by general
    # French (wordfreq); each repair is a flag the secretary can revert.
    vocabulary_repair: bool = True
    # Doubtful spans (suspect words that sound like lexicon terms) heard again, primed with those
    # terms (pipeline/vocabulary/redecode.py); needs vocabulary_repair. Scored on the first pass's
    # own encoding: +14 % time on medical dictations with doubtful terms, none on read French.
    vocabulary_redecode: bool = True
    practice_vocabulary: Path | None = None  # CSV of correspondents/patients (last_name, first_name)

    # Input guards
    max_duration_s: float = Field(default=3600.0, gt=0)
    # A file larger than this is refused before anything reads it whole (an hour of 16-bit
    # 44.1 kHz stereo WAV is ~600 MB; a dictation is rarely a tenth of that). Sealing reads a
    # file whole, so this also bounds memory with encryption on.
    max_file_mb: float = Field(default=512.0, gt=0, le=1536)
    min_duration_s: float = Field(default=0.5, ge=0)
    stable_seconds: float = Field(default=2.0, ge=0)
    # `batch` waits this long at most for files still being written before leaving them.
    write_wait_s: float = Field(default=120.0, ge=0)
    rescan_seconds: float = Field(default=30.0, gt=0)
    # `watch` tells a person (pipeline/notify.py): this command is run when a dictation fails
    # twice, or when one has waited `notify_backlog_minutes`; said in the log either way.
    notify_command: str | None = None
    notify_backlog_minutes: float = Field(default=30.0, gt=0)

    # Backlog: dictations transcribed at once by `dictee batch` on this machine (one model,
    # `workers` decodings sharing its weights). `dictee watch` takes them one at a time.
    workers: int = Field(default=2, ge=1, le=64)
    # A Dask scheduler ("tcp://host:8786") to fan the backlog out over several machines.
    dask_address: str | None = None

    # Letterhead
    practitioner_name: str = "Dr Claire Exemple"
    practitioner_specialty: str = "Médecine générale"
    practitioner_address: str = "1 rue de l'Exemple, 75000 Paris"
    practitioner_rpps: str = "10000000000"
    practitioner_city: str = "Paris"
    practitioner_phone: str = ""
    practitioner_email: str = ""  # an MSSanté address, typically
    practitioner_signature_image: str = ""
    # Several practitioners: inbox/<folder>/ → their letterhead, e.g. in dictee.toml
    # [practitioners.dupont] name = "Dr Anne Dupont" … ; files at the inbox root get the one above.
    practitioners: dict[str, Practitioner] = Field(default_factory=dict)

    # Encryption at rest of outbox/, filed/ and quarantine/ (see pipeline/vault.py): a key
    # file made by `dictee key create`, kept outside the inbox, outbox and code checkout.
    encryption_key_file: Path | None = None

    # Who files a letter: its practitioner signs it (the secretary submits it « à signer »), or,
    # where the practitioner signs on paper, the secretary files it directly.
    signing: Literal["practitioner", "secretary"] = "practitioner"
    # A practitioner signs an ordinary letter of a colleague's (« Dr A, pour le Dr B »): off, a
    # letter is signed by its author. Certificates and prescriptions never.
    colleagues_sign: bool = False
    # The key that MACs the audit trail and, beside it, the trail's head (audit-head.json): kept
    # out of the database, so deleted or rewritten rows are seen. Default: outbox/.audit/.
    audit_key_file: Path | None = None
    # The identifier system of the practice's patient numbers (IPP) in the FHIR export: its OID
    # (« urn:oid:1.2.250.… »); empty, a placeholder URN that says it is not set.
    ipp_system: str | None = Field(default=None, pattern=r"^(urn:oid:[0-2](\.[0-9]+)+|https?://\S+)$")

    # The practice's patient register (`dictee register import`): our field → its CSV column,
    # over pipeline/directory/patients.py's defaults (nom_naissance, nom_utilise, prenoms, date_naissance,
    # sexe, lieu_naissance_insee, matricule_ins, ipp).
    register_columns: dict[str, str] = Field(default_factory=dict)
    # The address book (`dictee correspondents import`, CSV; vCard needs no mapping): our field →
    # its column, over pipeline/directory/correspondents.py's defaults (nom, prenom, titre,
    # specialite, adresse, code_postal, ville, mssante, rpps, telephone).
    address_book_columns: dict[str, str] = Field(default_factory=dict)
    # The agenda's CSV (`dictee register appointments`; iCalendar needs no mapping), over
    # pipeline/directory/appointments.py's defaults (date, heure, nom, prenom, date_naissance, praticien).
    appointment_columns: dict[str, str] = Field(default_factory=dict)

    # Filed letters exported for the records system (pipeline/export.py): PDF/A + FHIR
    # DocumentReference, one folder per letter, in clear. None: no export.
    export_dir: Path | None = None

    # Review app state; empty means SQLite in the outbox (sqlite:///outbox/dictee.db).
    database_url: str | None = None
    # The desk opened beyond the practice (télésecrétariat): a session idle this long is closed,
    # and logins from outside these networks need a second factor (TOTP).
    session_idle_minutes: float = Field(default=30, gt=0)
    review_local_networks: list[str] = Field(default_factory=lambda: ["127.0.0.0/8", "::1/128"])

    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "WARNING"

    @field_validator("language")
    @classmethod
    def _whisper_language(cls, language: str) -> str:
        from faster_whisper.tokenizer import _LANGUAGE_CODES

        if language not in _LANGUAGE_CODES:
            raise ValueError(f"{language!r} is not a language Whisper knows (ISO 639-1 code, e.g. 'fr')")
        return language

    @field_validator("practitioners")
    @classmethod
    def _folder_names(cls, practitioners: dict[str, Practitioner]) -> dict[str, Practitioner]:
        for folder in practitioners:
            if not re.match(PRACTITIONER_FOLDER, folder) or folder.lower() == "urgent":
                raise ValueError(f"practitioner folder {folder!r}: letters, digits, - and _ only, not 'urgent'")
        return practitioners

    def practitioner(self, folder: str | None) -> Practitioner:
        """The letterhead for a dictation dropped in inbox/<folder>/ (None: the inbox root)."""
        if folder in self.practitioners:
            return self.practitioners[folder]
        return Practitioner(name=self.practitioner_name, specialty=self.practitioner_specialty,
                            address=self.practitioner_address, rpps=self.practitioner_rpps, city=self.practitioner_city,
                            phone=self.practitioner_phone, email=self.practitioner_email,
                            signature_image=self.practitioner_signature_image)

    @property
    def whisper_model_dir(self) -> Path:
        """The model set by `whisper_model`, else the practice's adapted version in use
        (`dictee models use`), else the bundled base model."""
        return self.whisper_model_dir_for(None)

    def whisper_model_dir_for(self, author: str | None) -> Path:
        """The model an author's dictations are heard with: `whisper_model` if set, else his own
        adapted version in use (`dictee adapt run --author`), else the practice's."""
        from pipeline.errors import ModelError
        from pipeline.modelstore import BUNDLED_NAME, practice_model_in_use

        if self.whisper_model:
            return self.whisper_model
        own = None
        if author is not None:
            try:
                own = practice_model_in_use(self.models_dir, author)
            except ModelError:  # not a folder name an author can have: he has no model of his own
                own = None
        return own or practice_model_in_use(self.models_dir) or self.models_dir / BUNDLED_NAME

    @property
    def uses_bundled_model(self) -> bool:
        """Checked by its pinned checksums; other models by their files."""
        from pipeline.modelstore import BUNDLED_NAME

        return self.whisper_model_dir == self.models_dir / BUNDLED_NAME

    @property
    def work_dir(self) -> Path:
        """Claimed audio waits here, renamed to its job id (no patient name in any path)."""
        return self.store(sealed=False).work_folder()

    @property
    def quarantine_dir(self) -> Path:
        return self.store(sealed=False).quarantine_folder()

    def vault(self) -> "Vault":
        """Seals and opens files with the configured key; passes them through without one."""
        from pipeline.vault import load_vault

        return load_vault(self.encryption_key_file, guarded=[self.inbox, self.outbox])

    def store(self, *, sealed: bool = True) -> "Outbox":
        """The outbox, its files going through the vault (`sealed=False`: its layout only, no key read)."""
        from pipeline.store import Outbox  # here: the store imports what imports the settings
        from pipeline.vault import PLAIN

        return Outbox(self.outbox, self.vault() if sealed else PLAIN)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        config_file = _chosen_config_file.get() or Path(os.environ.get(CONFIG_FILE_ENV, DEFAULT_CONFIG_FILE))
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls, config_file))


class SettingsError(ValueError):
    """Settings that cannot be used; the message is French and English."""


def check_environment(environ: Mapping[str, str] = os.environ) -> None:
    """Refuse what pydantic-settings would silently ignore: a misspelt DICTEE_* variable, and a
    DICTEE_CONFIG naming a file that does not exist (the practice would get the placeholder letterhead)."""
    known = {f"DICTEE_{name.upper()}" for name in Settings.model_fields} | {CONFIG_FILE_ENV, "DICTEE_CENTRE"}
    for name in sorted(environ):
        if name.startswith("DICTEE_") and name not in known:
            close = difflib.get_close_matches(name, sorted(known), n=1)
            hint = f" ({'vouliez-vous dire / did you mean'} {close[0]} ?)" if close else ""
            raise SettingsError(f"variable d'environnement inconnue / unknown environment variable: {name}{hint}")
    config = environ.get(CONFIG_FILE_ENV)
    if config and not Path(config).is_file():
        raise SettingsError(f"fichier de réglages introuvable / settings file not found: {CONFIG_FILE_ENV}={config}")


def load_settings(*, config_file: Path | None = None, **overrides: object) -> Settings:
    """Build settings, dropping overrides left unset (None) so lower layers still apply.
    `config_file`: read instead of DICTEE_CONFIG's or ./dictee.toml (a practice's own)."""
    check_environment()
    chosen = _chosen_config_file.set(config_file)
    try:
        return Settings(**{key: value for key, value in overrides.items() if value is not None})
    finally:
        _chosen_config_file.reset(chosen)
