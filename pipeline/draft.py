"""Extraction → Word letter, through docxtpl with a sandboxed, escaping, strict Jinja environment.

docxtpl's default environment neither sandboxes nor escapes: a patient called "Dupont & Fils"
would corrupt the XML, and template code could reach Python internals.
"""

from __future__ import annotations

import base64
import datetime as dt
import io
from pathlib import Path

from jinja2 import StrictUndefined, TemplateError as JinjaTemplateError
from jinja2.sandbox import SandboxedEnvironment

from pipeline.documents import kind_of, titles
from pipeline.errors import TemplateError
from pipeline.plain import multiline
from pipeline.letter import (
    age_line, ald_zones, certificate_formula, dated_title, prescription_remarks, report_sections, split_letter,
    subject_line, weight_kg, without_identity_sentences,
)
from pipeline.french import MONTHS
from pipeline.records import Drug, Extraction, Patient, Recipient
from pipeline.settings import Practitioner, Settings

DOCUMENT_TITLES = titles()
CIVILITY_BY_SEX = {"M": "Monsieur", "F": "Madame"}


def jinja_environment() -> SandboxedEnvironment:
    return SandboxedEnvironment(autoescape=True, undefined=StrictUndefined)


# The templates shipped with the code: found whatever folder a command runs from, where the
# practice's own folder (`letter_templates`, relative to where it runs) lacks one.
BUNDLED_TEMPLATES = Path(__file__).resolve().parents[1] / "letter_templates"


def template_path(templates_dir: Path, document_type: str | None) -> Path:
    name = kind_of(document_type).template
    own = templates_dir / name
    return own if own.is_file() else BUNDLED_TEMPLATES / name


def french_date(day: dt.date) -> str:
    return f"{'1er' if day.day == 1 else day.day} {MONTHS[day.month - 1]} {day.year}"


def patient_line(patient: Patient, *, today: dt.date | None = None) -> str:
    """The identity as the INS rules show it: civility (the sex), first given name, birth name,
    the used name where it differs, birth date: « Madame Inès ROCHE, nom utilisé MARTIN, née le 13/05/1988 ».
    A minor is named as a child, with the age: « L'enfant Lucie GIRAUD, née le 15/02/2017 (9 ans) »."""
    used = patient.last_name or ""
    birth = patient.birth_name or used
    age = age_line(patient.birth_date, today) if today else None
    civility = "L'enfant" if age else CIVILITY_BY_SEX.get(patient.sex or "", "")
    parts = [civility, patient.first_name or "", birth.upper()]
    line = " ".join(part for part in parts if part) or "Patient non identifié"
    if used and birth.casefold() != used.casefold():
        line += f", nom utilisé {used.upper()}"
    if patient.birth_date:
        born = dt.date.fromisoformat(patient.birth_date)
        line += f", {'née' if patient.sex == 'F' else 'né'} le {born:%d/%m/%Y}"
    return f"{line} ({age})" if age else line


def recipient_name(recipient: Recipient) -> str:
    title = {"Dr": "Docteur", "Pr": "Professeur"}.get(recipient.title or "", "")
    return " ".join(part for part in (title, recipient.first_name, recipient.last_name) if part)


def recipient_context(recipient: Recipient | None) -> dict | None:
    """The recipient block: name, specialty, and the postal address once the address book gave it
    (else the city dictated)."""
    if recipient is None or not recipient.last_name:
        return None
    town = " ".join(part for part in (recipient.postal_code, recipient.city) if part)
    if recipient.address:
        details, lines = recipient.specialty or "", [*recipient.address.split(", "), town]
    else:
        details, lines = " — ".join(part for part in (recipient.specialty, recipient.city) if part), []
    return {"name": recipient_name(recipient), "details": details, "lines": [line for line in lines if line]}


def copy_line(copy: Recipient) -> str:
    """« Docteur Claire Durand, cardiologue — 69002 Lyon »."""
    town = " ".join(part for part in (copy.postal_code, copy.city) if part)
    return " — ".join(part for part in (", ".join(p for p in (recipient_name(copy), copy.specialty) if p), town) if part)


SIGNATURE_WIDTH_MM = 40


def draft_context(extraction: Extraction, settings: Settings, *, today: dt.date,
                  practitioner: Practitioner | None = None, signature: str | None = None) -> dict:
    """`practitioner`: the letterhead, by default the practice's; `signature`: the line of a
    signed letter (« Signé électroniquement par … »), None on a draft."""
    letter = split_letter(extraction.body)
    kind = kind_of(extraction.document_type)
    grouped = products(extraction.drugs)
    title, paragraphs = dated_title(letter.paragraphs, kind.title, kind.cue)
    paragraphs = without_identity_sentences(paragraphs, extraction.patient)
    return {
        "signature": signature,
        "subject": subject_line(extraction.body, extraction.conditions) if kind.with_subject else "",
        "salutation": letter.salutation,
        "letter_body": (prescription_remarks(paragraphs, [drug.text for drug in extraction.drugs])
                        if extraction.document_type == "ordonnance" else list(paragraphs)),
        "closing": letter.closing,
        "sections": report_sections(paragraphs, kind.sections),
        "practitioner": (practitioner or settings.practitioner(None)).model_dump(),
        "date": french_date(today),
        "document_title": title,
        "recipient": recipient_context(extraction.recipient),
        "patient_line": patient_line(extraction.patient, today=today),
        "body": [paragraph.strip() for paragraph in extraction.body.split("\n") if paragraph.strip()],
        "prescriptions": [product_line(product) for product in grouped],
        "prescription_count": len(grouped),
        "copies": [copy_line(copy) for copy in extraction.copies if copy.last_name],
        "child": child_context(extraction, today),
        "bizone": bizone_context(extraction, grouped),
        "certificate_formula": certificate_formula(extraction.body, minor=age_line(extraction.patient.birth_date, today)
                                                   is not None) if extraction.document_type == "certificat" else None,
        "signature_image": None,  # set by render_draft on a signed letter, when the practitioner has one
    }


def child_context(extraction: Extraction, today: dt.date) -> dict | None:
    """A prescription for a child states its age and, when dictated, its weight."""
    age = age_line(extraction.patient.birth_date, today)
    return {"age": age, "weight": weight_kg(extraction.body)} if age else None


def bizone_context(extraction: Extraction, grouped: list[list[Drug]]) -> dict | None:
    """The two zones of a prescription for a long-term condition (ALD), when the dictation puts
    drugs under it; None for an ordinary prescription."""
    if extraction.document_type != "ordonnance":
        return None
    zones = ald_zones(extraction.body, [product[0].text for product in grouped])
    if zones is None:
        return None
    lines = [product_line(product) for product in grouped]
    return {"ald": [line for line, for_ald in zip(lines, zones) if for_ald],
            "other": [line for line, for_ald in zip(lines, zones) if not for_ald]}


def products(drugs: tuple[Drug, ...] | list[Drug]) -> list[list[Drug]]:
    """The drugs as the products dictated: a brand of several INNs (« Augmentin » → amoxicilline,
    acide clavulanique) is one product, printed on one line with its one strength — never a line
    per INN each claiming the product's strength."""
    grouped: list[list[Drug]] = []
    for drug in drugs:
        if grouped and drug.brand and (grouped[-1][0].brand, grouped[-1][0].text) == (drug.brand, drug.text):
            grouped[-1].append(drug)
        else:
            grouped.append([drug])
    return grouped


def product_line(product: list[Drug]) -> str:
    """One line of a prescription, all that was dictated: « PARACÉTAMOL — 1 g — 1 comprimé — par
    voie orale — 3 fois par jour — si douleur — pendant 5 jours — à renouveler 2 fois »; a brand
    dictated is kept before the INN: « KARDÉGIC (acide acétylsalicylique) — 75 mg ». The line
    as the secretary typed it, where she edited it."""
    first = product[0]
    if first.line:
        return first.line
    inns = ", ".join(drug.name for drug in product)
    name = f"{first.brand.upper()} ({inns})" if first.brand else inns.upper()
    parts = (name, first.dose, first.unit_dose, first.route, first.frequency, first.condition, first.duration,
             first.renewal)
    return " — ".join(part for part in parts if part)


def prescription_line(drug: Drug) -> str:
    return product_line([drug])


def prescription_lines(drugs: tuple[Drug, ...] | list[Drug]) -> list[str]:
    return [product_line(product) for product in products(drugs)]


def signature_data_uri(image: str | None) -> str | None:
    """The signature scan for the HTML preview (a data: URI), None when there is none."""
    path = Path(image or "")
    if not image or not path.is_file():
        return None
    kind = "image/png" if path.suffix.lower() == ".png" else "image/jpeg"
    return f"data:{kind};base64,{base64.b64encode(path.read_bytes()).decode()}"


def without_controls(value):
    """The context's every string free of control characters, which Word's XML cannot hold: the
    last guard, whatever way in a value came by."""
    if isinstance(value, str):
        return multiline(value)
    if isinstance(value, dict):
        return {key: without_controls(item) for key, item in value.items()}
    if type(value) in (list, tuple):
        return type(value)(without_controls(item) for item in value)
    return value


def render_draft(extraction: Extraction, settings: Settings, *, today: dt.date | None = None,
                 practitioner: Practitioner | None = None, signature: str | None = None) -> bytes:
    """The .docx letter for `extraction`, in memory: the caller seals it if encryption is on."""
    from docxtpl import DocxTemplate

    template = template_path(settings.letter_templates, extraction.document_type)
    if not template.is_file():
        raise TemplateError(f"letter template missing: {template.name}")
    context = without_controls(draft_context(extraction, settings, today=today or dt.date.today(),
                                             practitioner=practitioner, signature=signature))
    try:
        document = DocxTemplate(str(template))
        image = Path(context["practitioner"].get("signature_image") or "")
        if signature and image.is_file():
            from docx.shared import Mm
            from docxtpl import InlineImage

            context["signature_image"] = InlineImage(document, str(image), width=Mm(SIGNATURE_WIDTH_MM))
        document.render(context, jinja_env=jinja_environment(), autoescape=True)
        docx = io.BytesIO()
        document.save(docx)
    except JinjaTemplateError as error:
        raise TemplateError(f"letter template {template.name} failed: {error.__class__.__name__}: {error.message}") from error
    return docx.getvalue()
