"""The result contract: one typed model for result.json, `dictee extract` and the review app.

DESIGN.md fixes the field names; fields may be added. `result.schema.json` is generated from
this model (`python -m pipeline.result` writes it; a test checks it is up to date). Files
written by earlier versions open as they are: unknown fields are kept, missing optional ones
take their defaults.
"""

from __future__ import annotations

import json
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from pipeline.records import (
    Condition, Dictation, DocumentType, Drug, Extraction, Flag, FlagKind, NormalizedText, Patient, Quantity, Recipient,
    Timings,
    Transcript,
)
from pipeline.settings import Practitioner

SCHEMA_VERSION = 1
SCHEMA_FILE = Path(__file__).parent / "result.schema.json"


FLAG_LABELS_FR = {
    FlagKind.LOW_CONFIDENCE: "mot incertain",
    FlagKind.VOCABULARY_CORRECTION: "corrigé par le vocabulaire",
    FlagKind.SPOKEN_CORRECTION: "correction dictée",
    FlagKind.UNHEARD_SPEECH: "parole non transcrite",
    FlagKind.TEXT_IN_SILENCE: "texte sur un silence",
    FlagKind.REPETITION_LOOP: "répétition suspecte",
    FlagKind.PROMPT_ECHO: "vocabulaire récité",
    FlagKind.LANGUAGE: "autre langue",
    FlagKind.NO_PATIENT: "aucun patient",
    FlagKind.INCOMPLETE_IDENTITY: "identité incomplète",
    FlagKind.INVALID_NIR: "NIR invalide",
    FlagKind.NIR_SEX_MISMATCH: "NIR et sexe discordants",
    FlagKind.UNKNOWN_DOCUMENT_TYPE: "type de document inconnu",
    FlagKind.PATIENT_TO_CHOOSE: "patient à choisir",
    FlagKind.BIRTH_DATE_MISMATCH: "date de naissance différente du registre",
    FlagKind.CORRESPONDENT_TO_CHOOSE: "correspondant à choisir",
    FlagKind.PRESCRIPTION_INCOMPLETE: "ligne d'ordonnance incomplète",
}


def letter_text(result: dict) -> str:
    """The letter's text as it stands in a result.json: as corrected on the desk, else as dictated."""
    return result.get("body") or (result.get("transcript") or {}).get("text") or ""


def version_of(result: dict) -> int:
    """How many times a draft was saved on the desk (its « review » block): each form carries the
    version it was based on."""
    return int((result.get("review") or {}).get("version", 0))


class Part(BaseModel):
    # Older and newer files keep the fields this version does not know.
    model_config = ConfigDict(extra="allow")


class Source(Part):
    file: str
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    duration_s: float = Field(ge=0)
    received_at: str | None = None


class WordOut(Part):
    start: float
    end: float
    word: str
    probability: float = Field(ge=0, le=1)


class SpanOut(Part):
    start: int
    end: int
    audio_start: float | None
    audio_end: float | None


class TranscriptOut(Part):
    raw: str
    text: str
    language: str
    language_probability: float | None = None
    words: list[WordOut]
    spans: list[SpanOut] = []


class PatientOut(Part):
    sex: Literal["M", "F"] | None
    last_name: str | None
    first_name: str | None
    birth_date: str | None = Field(pattern=r"^\d{4}-\d{2}-\d{2}$")
    nir: str | None = Field(pattern=r"^[12][0-9AB]{14}$")
    birth_name: str | None = None
    ipp: str | None = None


class RecipientOut(Part):
    title: str | None
    last_name: str | None
    first_name: str | None
    specialty: str | None
    city: str | None
    greeting: str | None = None
    address: str | None = Field(default=None, description="street lines, from the address book")
    postal_code: str | None = None
    mssante: str | None = Field(default=None, description="secure health messaging (MSSanté) address")
    rpps: str | None = None


class DrugOut(Part):
    name: str
    atc: str | None
    dose: str | None
    frequency: str | None
    text: str
    duration: str | None = None
    unit_dose: str | None = Field(default=None, description="what is taken each time: « 1 comprimé »")
    condition: str | None = Field(default=None, description="« si douleur », « au coucher », « pendant les repas »")
    route: str | None = Field(default=None, description="« par voie orale », « en application locale »")
    renewal: str | None = Field(default=None, description="« à renouveler 2 fois », « QSP 3 mois »")
    line: str | None = Field(default=None, description="the printed line, when the secretary edited it")
    brand: str | None = Field(default=None, description="the brand as dictated (« Kardégic »), printed before the INN; "
                                                        "null when the INN was said")


class ConditionOut(Part):
    text: str
    cim10: str | None
    negated: bool
    family: bool
    hypothesis: bool


class FlagOut(Part):
    kind: FlagKind
    text: str
    start: float | None = Field(description="audio time in seconds, where the secretary should listen")
    heard: str | None = Field(default=None, description="a vocabulary correction: the words as heard")
    written: str | None = Field(default=None, description="… and as written instead")
    reverted: bool = Field(default=False, description="the secretary put back the words heard")


class RegisteredPatientOut(Part):
    birth_name: str
    first_names: str
    birth_date: str = Field(pattern=r"^\d{4}-\d{2}-\d{2}$")
    used_name: str | None = None
    sex: Literal["M", "F"] | None = None
    birthplace: str | None = None
    ins: str | None = None
    ipp: str | None = None
    score: float
    appointment: str | None = Field(default=None, description="seen the day dictated, at this time (the agenda)")


class CorrespondentOut(Part):
    last_name: str
    first_name: str | None = None
    title: str | None = None
    specialty: str | None = None
    address: str | None = None
    postal_code: str | None = None
    city: str | None = None
    mssante: str | None = None
    rpps: str | None = None
    phone: str | None = None
    score: float


class CorrespondentLinkOut(Part):
    """How a dictated colleague was found in the practice's address book."""

    status: Literal["automatic", "to_choose", "unknown", "chosen"]
    score: float | None = None
    by: str | None = Field(default=None, description="who chose, when a person did")
    at: str | None = None
    candidates: list[CorrespondentOut] = Field(default_factory=list)


class CorrespondentLinksOut(Part):
    recipient: CorrespondentLinkOut | None = None
    copies: list[CorrespondentLinkOut | None] = Field(default_factory=list, description="one per entry of « copies »")


class IdentityLinkOut(Part):
    """How the patient was linked to the practice's register (identitovigilance)."""

    status: Literal["automatic", "to_choose", "unknown", "chosen", "new"] = Field(
        description="linked by itself, candidates for the secretary, none found, chosen by a person, or declared new")
    score: float | None = Field(default=None, description="the best candidate's score (0–1)")
    by: str | None = Field(default=None, description="who chose, when a person did")
    at: str | None = None
    candidates: list[RegisteredPatientOut] = Field(default_factory=list)


class ReviewOut(Part):
    """The draft's last save on the desk: each form carries the version it was based on, so a save
    made meanwhile by someone else is never overwritten."""

    edited_by: str
    edited_at: str
    version: int = Field(ge=1, description="how many times reviewers saved the draft")


class QuantityOut(Part):
    value: str
    unit: str
    text: str
    start: float | None = None  # when it was said, so the desk can play it


class TimingsOut(Part):
    decode_s: float = 0.0
    transcribe_s: float
    normalize_s: float = 0.0
    extract_s: float
    draft_s: float


class ExtractionFields(Part):
    """What the NLP finds: shared by result.json and `dictee extract`."""

    document_type: DocumentType | None
    patient: PatientOut
    recipient: RecipientOut | None
    drugs: list[DrugOut]
    conditions: list[ConditionOut]
    flags: list[FlagOut]
    dates: list[str] = []
    quantities: list[QuantityOut] = []
    body: str | None = None
    copies: list[RecipientOut] = Field(default_factory=list, description="« Copie à » : colleagues a copy goes to")

    @classmethod
    def of(cls, extraction: Extraction) -> dict[str, Any]:
        return {
            "document_type": extraction.document_type,
            "patient": PatientOut(**asdict(extraction.patient)),
            "recipient": RecipientOut(**asdict(extraction.recipient)) if extraction.recipient else None,
            "drugs": [DrugOut(**asdict(drug)) for drug in extraction.drugs],
            "conditions": [ConditionOut(**asdict(condition)) for condition in extraction.conditions],
            "flags": [FlagOut(**asdict(flag)) for flag in extraction.flags],
            "dates": list(extraction.dates),
            "quantities": [QuantityOut(**asdict(quantity)) for quantity in extraction.quantities],
            "body": extraction.body,
            "copies": [RecipientOut(**asdict(copy)) for copy in extraction.copies],
        }

    def extraction(self) -> Extraction:
        """Back to the records the letter is drawn from (after the secretary's edits)."""
        recipient = self.recipient
        return Extraction(
            document_type=self.document_type,
            patient=Patient(**_known(Patient, self.patient)),
            recipient=Recipient(**_known(Recipient, recipient)) if recipient else None,
            drugs=tuple(Drug(**_known(Drug, drug)) for drug in self.drugs),
            conditions=tuple(Condition(**_known(Condition, condition)) for condition in self.conditions),
            body=self.body or "",
            flags=tuple(Flag(flag.kind, flag.text, flag.start, flag.heard, flag.written) for flag in self.flags),
            dates=tuple(self.dates),
            quantities=tuple(Quantity(**_known(Quantity, quantity)) for quantity in self.quantities),
            copies=tuple(Recipient(**_known(Recipient, copy)) for copy in self.copies),
        )


class DictationResult(ExtractionFields):
    """result.json: one dictation, recognised, understood and drafted."""

    schema_version: Literal[1]
    job_id: str = Field(pattern=r"^[0-9a-f]{16}$")
    priority: Literal["urgent", "normal"] = "normal"
    author: str | None = None
    author_folder: str | None = Field(default=None, description="the practitioner's inbox subfolder (null: the inbox root)")
    practitioner: Practitioner | None = Field(default=None, description="the letterhead the letter is signed with")
    source: Source
    transcript: TranscriptOut
    timings: TimingsOut
    decodings_at_once: int = Field(default=1, ge=1,
                                   description="dictations transcribed side by side with this one (their timings overlap)")
    identity_link: IdentityLinkOut | None = Field(default=None, description="null: no patient register imported")
    correspondent_links: CorrespondentLinksOut | None = Field(default=None, description="null: no address book imported")
    review: ReviewOut | None = Field(default=None, description="null: not yet saved on the desk")

    @classmethod
    def build(
        cls,
        dictation: Dictation,
        transcript: Transcript,
        normalized: NormalizedText,
        extraction: Extraction,
        timings: Timings,
        *,
        low_confidence: float,
        practitioner: Practitioner,
        extra_flags: tuple[Flag, ...] = (),
        decodings_at_once: int = 1,
        identity_link: IdentityLinkOut | None = None,
        correspondent_links: CorrespondentLinksOut | None = None,
    ) -> DictationResult:
        flags = (*extra_flags, *extraction.flags, *low_confidence_flags(transcript, threshold=low_confidence),
                 *(Flag(FlagKind.SPOKEN_CORRECTION, note) for note in normalized.corrections))
        fields = ExtractionFields.of(extraction)
        fields["flags"] = [FlagOut(**asdict(flag)) for flag in flags]
        return cls(
            schema_version=SCHEMA_VERSION,
            job_id=dictation.job_id,
            priority="urgent" if dictation.urgent else "normal",
            author=practitioner.name,
            author_folder=dictation.author,
            # The letterhead as signed: a letter regenerated after review keeps it, whatever the settings say by then.
            practitioner=practitioner,
            source=Source(file=dictation.original_name, sha256=dictation.sha256, duration_s=transcript.duration_s,
                          received_at=dictation.received_at),
            transcript=TranscriptOut(
                raw=transcript.raw, text=normalized.text, language=transcript.language,
                language_probability=transcript.language_probability,
                words=[WordOut(**asdict(word)) for word in transcript.words],
                spans=[SpanOut(**asdict(span)) for span in normalized.spans],
            ),
            timings=TimingsOut(**{key: round(value, 3) for key, value in asdict(timings).items()}),
            decodings_at_once=decodings_at_once,
            identity_link=identity_link,
            correspondent_links=correspondent_links,
            **fields,
        )

    @classmethod
    def read(cls, data: dict[str, Any]) -> DictationResult:
        """A result.json as loaded from disk, by this version or an earlier one."""
        return cls.model_validate(data)

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    def extraction(self) -> Extraction:
        extraction = super().extraction()
        # Files from before « body » was kept: the letter is the normalized transcript.
        return extraction if extraction.body else replace(extraction, body=self.transcript.text)


class ExtractOutput(ExtractionFields):
    """`dictee extract`: the extraction of a text, without audio."""

    schema_version: Literal[1]
    transcript: dict[str, str]
    timings: dict[str, float]

    @classmethod
    def build(cls, raw: str, normalized_text: str, extraction: Extraction, *, extract_s: float) -> ExtractOutput:
        return cls(schema_version=SCHEMA_VERSION, transcript={"raw": raw, "text": normalized_text},
                   timings={"extract_s": round(extract_s, 4)}, **ExtractionFields.of(extraction))


def low_confidence_flags(transcript: Transcript, *, threshold: float) -> tuple[Flag, ...]:
    return tuple(
        Flag(FlagKind.LOW_CONFIDENCE, word.word.strip(), word.start)
        for word in transcript.words
        if word.probability < threshold
    )


def _known(record: type, part: BaseModel) -> dict[str, Any]:
    """The fields a record knows, from a part that may carry more (added by later versions)."""
    values = part.model_dump()
    return {name: values.get(name) for name in record.__slots__}


def json_schema() -> dict[str, Any]:
    schema = DictationResult.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = f"Dictée result.json (schema_version {SCHEMA_VERSION})"
    return schema


if __name__ == "__main__":  # python -m pipeline.result: regenerate result.schema.json
    SCHEMA_FILE.write_text(json.dumps(json_schema(), ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
