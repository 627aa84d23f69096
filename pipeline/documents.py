"""The document types, one record each: what a practice dictates, and everything the pipeline
knows of it. Extraction, drafting, the desk, signing and export read this table; a new type is
one entry here plus its template (`letter_templates/<key>.docx`, `scripts/build_letter_templates.py`).

The order of `KINDS` is the order the opening cues are tried: the first that matches wins, so a
specific cue (« compte rendu d'imagerie ») comes before a general one (« compte rendu »).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# The modalities a « compte rendu d'… » names when it reports an examination.
EXAMINATIONS = (
    r"échographie|écho|examen|scanner|tomodensitométrie|TDM|IRM|radiographie|radio|mammographie|endoscopie|"
    r"fibroscopie|gastroscopie|coloscopie|électrocardiogramme|ECG|holter|épreuve\s+d'effort|doppler|"
    r"échodoppler|scintigraphie|biopsie|explorations?\s+fonctionnelles?|EFR|électromyogramme|EMG|polysomnographie|"
    r"densitométrie|bilan\s+urodynamique"
)


@dataclass(frozen=True, slots=True)
class DocumentKind:
    key: str  # as written in result.json
    title: str  # the letter's French title
    loinc: tuple[str, str]  # FHIR DocumentReference.type: LOINC code and display
    cue: re.Pattern[str] | None = None  # said in the opening sentences: this type
    addressed: bool = False  # names its recipient (a letter to a colleague); others drop a heard one
    with_subject: bool = True  # an « Objet : » line under the title
    author_signs_only: bool = False  # signed by its own practitioner, never by a colleague for them
    sections: tuple[str, ...] = ()  # the headings a report is laid out under, where dictated
    # A more precise LOINC code where the text says what kind it is: (what it says, code).
    precise_loinc: tuple[tuple[re.Pattern[str], tuple[str, str]], ...] = ()

    @property
    def template(self) -> str:
        return f"{self.key}.docx"

    def loinc_for(self, text: str) -> tuple[str, str]:
        return next((code for said, code in self.precise_loinc if said.search(text)), self.loinc)


KINDS: tuple[DocumentKind, ...] = (
    DocumentKind(
        "compte_rendu_operatoire", "Compte rendu opératoire", ("11504-8", "Surgical operation note"),
        re.compile(r"\b(?:compte[- ]rendu|CR)\s+(?:opératoire|d'intervention|d'opération)|\bprotocole\s+opératoire", re.I)),
    DocumentKind(
        "compte_rendu_imagerie", "Compte rendu d'imagerie", ("18748-4", "Diagnostic imaging study"),
        re.compile(r"\b(?:compte[- ]rendu|CR)\s+(?:d'imagerie|radiologique|de\s+radiologie|d'imagerie\s+médicale)\b", re.I),
        with_subject=False, sections=("Indication", "Technique", "Résultats", "Conclusion")),  # its Indication says it
    DocumentKind(
        "compte_rendu_examen", "Compte rendu d'examen", ("47045-0", "Study report"),
        re.compile(rf"\b(?:compte[- ]rendu|CR|résultats?)\s+(?:d'|de\s+l'|de\s+la\s+|du\s+|de\s+|des\s+)?(?:{EXAMINATIONS})", re.I)),
    DocumentKind(
        "compte_rendu_consultation", "Compte rendu de consultation", ("11488-4", "Consult note"),
        re.compile(r"\b(?:compte[- ]rendu|CR)\s+(?:de\s+|d')?(?:consultation|visite|téléconsultation)", re.I)),
    DocumentKind(
        "certificat", "Certificat médical", ("34109-9", "Note"),
        re.compile(r"\bcertificat\b|\bje\s+soussignée?\b[^.]*\bcertifie\b", re.I),
        with_subject=False, author_signs_only=True,
        # « absence de contre-indication à la pratique du judo », « apte à … »: a fitness certificate
        precise_loinc=((re.compile(r"\bcontre-?\s?indications?\b|\baptes?\s+(?:à|au|aux)\b", re.I),
                        ("104988-1", "Medical fitness certificate")),)),
    DocumentKind(
        "ordonnance", "Ordonnance", ("57833-6", "Prescription for medication"),
        re.compile(r"^\W*(?:ordonnance|prescription\s+médicale)\b", re.I),
        with_subject=False, author_signs_only=True),
    DocumentKind(
        "lettre_confrere", "Courrier", ("57133-1", "Referral note"),
        re.compile(r"^\W*(?:courrier|lettre|mot|réponse)\s+(?:au|à|pour)\b", re.I),
        addressed=True),
    DocumentKind(
        "autre", "Document médical", ("34109-9", "Note"),
        re.compile(r"\b(?:compte[- ]rendu|CR)\s+d'hospitalisation|\blettre\s+de\s+liaison|\bcompte[- ]rendu\b", re.I)),
)
BY_KEY = {kind.key: kind for kind in KINDS}
DOCUMENT_TYPES: tuple[str, ...] = tuple(BY_KEY)
AS_LISTED: tuple[str, ...] = tuple(sorted(BY_KEY, key=lambda key: BY_KEY[key].title))  # on the desk's menus
FALLBACK = BY_KEY["autre"]  # what a draft of no recognised type is laid out as


def kind_of(document_type: str | None) -> DocumentKind:
    """The type's record; the fallback for none (or a value from an older version)."""
    return BY_KEY.get(document_type or "", FALLBACK)


def titles() -> dict[str, str]:
    return {kind.key: kind.title for kind in KINDS}
