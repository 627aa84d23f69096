"""Typed, immutable records passed between stages (no loose dicts across modules)."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Literal

from pipeline.documents import DOCUMENT_TYPES

DocumentType = Literal[DOCUMENT_TYPES]  # the keys of the document registry (documents.py)


@dataclass(frozen=True, slots=True)
class Dictation:
    """An audio file claimed from the inbox, renamed to its job id in the work area."""

    job_id: str
    path: Path
    original_name: str
    sha256: str
    duration_s: float
    received_at: str
    urgent: bool = False
    author: str | None = None  # the practitioner's inbox subfolder; None: the inbox root
    # Claimed across filesystems (an inbox on a share): the original, set aside beside where it
    # was until the draft is published, so that a writer still busy with it loses nothing.
    held_original: Path | None = None


@dataclass(frozen=True, slots=True)
class Word:
    start: float
    end: float
    word: str
    probability: float


@dataclass(frozen=True, slots=True)
class Transcript:
    raw: str
    language: str
    language_probability: float
    words: tuple[Word, ...]
    duration_s: float
    elapsed_s: float = 0.0  # recognition time, excluding any wait for the model
    unheard: tuple[tuple[float, float], ...] = ()  # speech (start, end s) with no word, even when heard again


@dataclass(frozen=True, slots=True)
class TimedSpan:
    """Characters [start, end) of the normalized text were spoken between audio_start and audio_end."""

    start: int
    end: int
    audio_start: float | None
    audio_end: float | None


@dataclass(frozen=True, slots=True)
class Reading:
    """What normalize understood a run of words to be, typed, so extract need not read it again."""

    kind: Literal["quantity", "blood_pressure", "date"]
    value: str  # "2,5" (French decimal comma kept), "13/8", or an ISO date
    unit: str | None = None  # "mg", "cmHg"…; None for a date


@dataclass(frozen=True, slots=True)
class Annotation:
    """A reading, where it stands in the normalized text (characters [start, end)) and when it was said."""

    reading: Reading
    start: int
    end: int
    audio_start: float | None = None
    audio_end: float | None = None


@dataclass(frozen=True, slots=True)
class NormalizedText:
    text: str
    spans: tuple[TimedSpan, ...] = ()
    corrections: tuple[str, ...] = ()  # spoken corrections applied ("non pardon", "effacez…")
    annotations: tuple[Annotation, ...] = ()  # quantities, blood pressures and dates, in text order

    def audio_time(self, char: int) -> float | None:
        """When the character at `char` was spoken (None for typed notes)."""
        return next((span.audio_start for span in self.spans if span.end > char and span.audio_start is not None),
                    None)


@dataclass(frozen=True, slots=True)
class Patient:
    sex: Literal["M", "F"] | None = None
    last_name: str | None = None
    first_name: str | None = None
    birth_date: str | None = None
    nir: str | None = None
    birth_name: str | None = None
    ipp: str | None = None

    @property
    def is_complete(self) -> bool:
        return bool(self.last_name and self.first_name and self.birth_date)


@dataclass(frozen=True, slots=True)
class Recipient:
    title: str | None = None
    last_name: str | None = None
    first_name: str | None = None
    specialty: str | None = None
    city: str | None = None
    greeting: str | None = None
    # From the address book, once the colleague is resolved in it.
    address: str | None = None
    postal_code: str | None = None
    mssante: str | None = None
    rpps: str | None = None


@dataclass(frozen=True, slots=True)
class Drug:
    name: str
    atc: str | None
    dose: str | None
    frequency: str | None
    text: str
    duration: str | None = None  # "pendant 7 jours"
    # What else a prescription line carries, as dictated (pipeline/extract/posology.py).
    unit_dose: str | None = None  # "1 comprimé", "2 bouffées": what is taken each time
    condition: str | None = None  # "si douleur", "au coucher", "pendant les repas"
    route: str | None = None  # "par voie orale", "en application locale"
    renewal: str | None = None  # "à renouveler 2 fois", "QSP 3 mois"
    line: str | None = None  # the printed line as the secretary typed it, when she edited it
    brand: str | None = None  # the brand dictated (« Kardégic »), None when the INN was said


@dataclass(frozen=True, slots=True)
class Condition:
    text: str
    cim10: str | None
    negated: bool
    family: bool
    hypothesis: bool


@dataclass(frozen=True, slots=True)
class Quantity:
    value: str  # as written, French decimal comma kept: "2,5"
    unit: str
    text: str
    start: float | None = None  # when it was said (None for typed notes)


class FlagKind(StrEnum):
    """Everything the secretary may be asked to check; the French label is what the desk shows."""

    LOW_CONFIDENCE = "low_confidence"
    VOCABULARY_CORRECTION = "vocabulary_correction"
    SPOKEN_CORRECTION = "spoken_correction"
    UNHEARD_SPEECH = "unheard_speech"
    TEXT_IN_SILENCE = "text_in_silence"
    REPETITION_LOOP = "repetition_loop"
    PROMPT_ECHO = "prompt_echo"
    LANGUAGE = "language"
    NO_PATIENT = "no_patient"
    INCOMPLETE_IDENTITY = "incomplete_identity"
    INVALID_NIR = "invalid_nir"
    NIR_SEX_MISMATCH = "nir_sex_mismatch"
    UNKNOWN_DOCUMENT_TYPE = "unknown_document_type"
    PATIENT_TO_CHOOSE = "patient_to_choose"
    BIRTH_DATE_MISMATCH = "birth_date_mismatch"
    CORRESPONDENT_TO_CHOOSE = "correspondent_to_choose"
    PRESCRIPTION_INCOMPLETE = "prescription_incomplete"


@dataclass(frozen=True, slots=True)
class Flag:
    """Something the secretary should check; uncertainty is data, not an exception. A new kind
    is one `FlagKind` member (and its French label in result.py) plus the stage that raises it."""

    kind: FlagKind
    text: str
    start: float | None = None
    # A vocabulary correction's words as heard and as written, so the secretary can revert it.
    heard: str | None = None
    written: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", FlagKind(self.kind))  # a kind that is no member fails where it is raised


@dataclass(frozen=True, slots=True)
class Extraction:
    document_type: DocumentType | None
    patient: Patient
    recipient: Recipient | None
    drugs: tuple[Drug, ...]
    conditions: tuple[Condition, ...]
    body: str
    flags: tuple[Flag, ...] = ()
    dates: tuple[str, ...] = ()
    quantities: tuple[Quantity, ...] = ()
    copies: tuple[Recipient, ...] = ()  # « copie au docteur … »
    # Where the patient, the recipient, the NIR… are named: character spans of the normalized text.
    mentions: dict[str, tuple[int, int]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Timings:
    decode_s: float = 0.0
    transcribe_s: float = 0.0
    normalize_s: float = 0.0
    extract_s: float = 0.0
    draft_s: float = 0.0


@dataclass(frozen=True, slots=True)
class JobOutcome:
    """What happened to one dictation, for the batch summary (no patient data)."""

    job_id: str
    status: Literal["drafted", "quarantined", "duplicate", "failed", "still_writing"]
    duration_s: float = 0.0
    document_type: str | None = None
    flags: int = 0
    reason: str | None = None
    timings: Timings = field(default_factory=Timings)
    worker: str | None = None  # host:pid that drafted it
