"""Generate letter_templates/<document_type>.docx, one per document type.

The templates are committed; rerun this after changing the layout. Practices may edit the
.docx files in Word as long as they keep the {{ … }} variables listed in the README.
"""

from __future__ import annotations

import sys
from pathlib import Path

from docx import Document
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import Cm, Pt

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from pipeline.documents import KINDS, DocumentKind  # noqa: E402



def add_field(paragraph, instruction: str) -> None:
    """A Word field (PAGE, NUMPAGES) Word and LibreOffice compute when the letter is laid out."""
    field = OxmlElement("w:fldSimple")
    field.set(qn("w:instr"), instruction)
    run = OxmlElement("w:r")
    text = OxmlElement("w:t")
    text.text = "1"
    run.append(text)
    field.append(run)
    paragraph._p.append(field)


def page_furniture(section) -> None:
    """Page numbers on every page; the patient's name at the top of every page after the first."""
    section.different_first_page_header_footer = True
    later = section.header.paragraphs[0]
    later.text = "{{ patient_line }}"
    later.alignment = WD_ALIGN_PARAGRAPH.RIGHT
    for footer in (section.footer, section.first_page_footer):
        numbers = footer.paragraphs[0]
        numbers.alignment = WD_ALIGN_PARAGRAPH.CENTER
        numbers.add_run("Page ")
        add_field(numbers, "PAGE")
        numbers.add_run(" / ")
        add_field(numbers, "NUMPAGES")


def numbered(document, items: str) -> None:
    """Numbered by the template, not by Word's list numbering, which would run on from one zone
    of a bizone prescription into the next: each zone counts from 1."""
    document.add_paragraph(f"{{%p for line in {items} %}}")
    line = document.add_paragraph("{{ loop.index }}.\t{{ line }}")
    line.paragraph_format.left_indent, line.paragraph_format.first_line_indent = Cm(0.8), Cm(-0.8)
    document.add_paragraph("{%p endfor %}")


def prescription(document) -> None:
    """The drugs, one line each; a child's age and weight; the two zones of a bizone prescription
    (Cerfa 12555) when drugs are for a long-term condition (ALD)."""
    document.add_paragraph("{%p if child %}")
    document.add_paragraph("Âge : {{ child.age }}{% if child.weight %} — Poids : {{ child.weight }} kg{% endif %}")
    document.add_paragraph("{%p endif %}")
    document.add_paragraph("{%p if bizone %}")
    for heading, items in (("Prescriptions relatives au traitement de l'affection de longue durée reconnue "
                            "(liste ou hors liste) (AFFECTION EXONÉRANTE)", "bizone.ald"),
                           ("Prescriptions SANS RAPPORT avec l'affection de longue durée "
                            "(MALADIES INTERCURRENTES)", "bizone.other")):
        zone = document.add_paragraph()
        zone.add_run(heading).bold = True
        zone.paragraph_format.space_before = Cm(0.4)
        border(zone)
        numbered(document, items)
    document.add_paragraph("{%p else %}")
    numbered(document, "prescriptions")
    document.add_paragraph("{%p endif %}")


def sectioned(document) -> None:
    """A report under the headings dictated (Indication, Technique, Résultats, Conclusion), in
    bold; the letter's paragraphs as they come where none was dictated."""
    document.add_paragraph("{%p if sections %}")
    document.add_paragraph("{%p for section in sections %}")
    document.add_paragraph("{%p if section.heading %}")
    heading = document.add_paragraph()
    heading.add_run("{{ section.heading }}").bold = True
    heading.paragraph_format.space_before = Cm(0.3)
    document.add_paragraph("{%p endif %}")
    document.add_paragraph("{%p for paragraph in section.paragraphs %}")
    document.add_paragraph("{{ paragraph }}")
    document.add_paragraph("{%p endfor %}")
    document.add_paragraph("{%p endfor %}")
    document.add_paragraph("{%p else %}")
    document.add_paragraph("{%p for paragraph in letter_body %}")
    document.add_paragraph("{{ paragraph }}")
    document.add_paragraph("{%p endfor %}")
    document.add_paragraph("{%p endif %}")


def border(paragraph) -> None:
    """A rule above the paragraph: the line between the two zones of a bizone prescription."""
    properties = paragraph._p.get_or_add_pPr()
    borders = OxmlElement("w:pBdr")
    top = OxmlElement("w:top")
    for key, value in (("w:val", "single"), ("w:sz", "8"), ("w:space", "4"), ("w:color", "000000")):
        top.set(qn(key), value)
    borders.append(top)
    properties.append(borders)


def build(kind: DocumentKind, target: Path) -> None:
    document_type = kind.key
    document = Document()
    for section in document.sections:  # A4 with 2-cm margins, as French letters are printed
        section.page_width, section.page_height = Cm(21), Cm(29.7)
        section.left_margin = section.right_margin = section.top_margin = section.bottom_margin = Cm(2)
        page_furniture(section)
    style = document.styles["Normal"]
    style.font.name = "Calibri"
    style.font.size = Pt(11)

    head = document.add_paragraph()
    head.add_run("{{ practitioner.name }}").bold = True
    document.add_paragraph("{{ practitioner.specialty }}")
    document.add_paragraph("{{ practitioner.address }}")
    document.add_paragraph("RPPS : {{ practitioner.rpps }}")
    document.add_paragraph("{%p if practitioner.phone or practitioner.email %}")
    document.add_paragraph("{% if practitioner.phone %}Tél. : {{ practitioner.phone }}{% endif %}"
                           "{% if practitioner.phone and practitioner.email %} · {% endif %}"
                           "{{ practitioner.email }}")
    document.add_paragraph("{%p endif %}")

    if kind.addressed:
        document.add_paragraph("{%p if recipient %}")
        block = document.add_paragraph()
        block.alignment = WD_ALIGN_PARAGRAPH.RIGHT
        block.add_run("{{ recipient.name }}").bold = True
        details = document.add_paragraph("{{ recipient.details }}")
        details.alignment = WD_ALIGN_PARAGRAPH.RIGHT
        document.add_paragraph("{%p for line in recipient.lines %}")
        document.add_paragraph("{{ line }}").alignment = WD_ALIGN_PARAGRAPH.RIGHT
        document.add_paragraph("{%p endfor %}")
        document.add_paragraph("{%p endif %}")

    if document_type != "certificat":  # a certificate is dated where it is signed: « Fait à … »
        dated = document.add_paragraph("{{ practitioner.city }}, le {{ date }}")
        dated.alignment = WD_ALIGN_PARAGRAPH.RIGHT

    if not kind.addressed:  # a letter to a colleague has no title; « Objet » says what it is about
        title = document.add_paragraph()
        title.alignment = WD_ALIGN_PARAGRAPH.CENTER
        title.add_run("{{ document_title }}").bold = True

    if kind.with_subject:
        document.add_paragraph("{%p if subject %}")
        subject = document.add_paragraph()
        subject.add_run("Objet : ").bold = True
        subject.add_run("{{ subject }}")
        document.add_paragraph("{%p endif %}")

    concerning = document.add_paragraph()
    concerning.add_run("Patient : ").bold = True
    concerning.add_run("{{ patient_line }}")

    if document_type == "ordonnance":
        prescription(document)

    document.add_paragraph("{%p if salutation %}")
    document.add_paragraph("{{ salutation }}")
    document.add_paragraph("{%p endif %}")
    if kind.sections:
        sectioned(document)
    else:
        document.add_paragraph("{%p for paragraph in letter_body %}")
        document.add_paragraph("{{ paragraph }}")
        document.add_paragraph("{%p endfor %}")
    document.add_paragraph("{%p if closing %}")
    document.add_paragraph("{{ closing }}")
    document.add_paragraph("{%p endif %}")

    if document_type == "ordonnance":  # what was prescribed, and on how many pages: nothing added after
        count = document.add_paragraph()
        count.paragraph_format.space_before = Cm(0.4)
        count.add_run("Ordonnance de {{ prescription_count }} ligne{% if prescription_count > 1 %}s{% endif %} sur ")
        add_field(count, "NUMPAGES")
        count.add_run(" page(s)")

    if document_type == "certificat":
        document.add_paragraph("{%p if certificate_formula %}")
        document.add_paragraph("{{ certificate_formula }}")
        document.add_paragraph("{%p endif %}")
        done_at = document.add_paragraph("Fait à {{ practitioner.city }}, le {{ date }}")
        done_at.alignment = WD_ALIGN_PARAGRAPH.RIGHT
        done_at.paragraph_format.space_before = Cm(0.5)

    signature = document.add_paragraph("{{ practitioner.name }}")
    signature.alignment = WD_ALIGN_PARAGRAPH.RIGHT
    signature.paragraph_format.space_before = Cm(1.5)  # room for a handwritten signature
    document.add_paragraph("{%p if signature_image %}")
    document.add_paragraph("{{ signature_image }}").alignment = WD_ALIGN_PARAGRAPH.RIGHT
    document.add_paragraph("{%p endif %}")
    document.add_paragraph("{%p if signature %}")
    signed = document.add_paragraph("{{ signature }}")
    signed.alignment = WD_ALIGN_PARAGRAPH.RIGHT
    document.add_paragraph("{%p endif %}")
    document.add_paragraph("{%p if copies %}")
    document.add_paragraph()  # a line apart from the signature
    document.add_paragraph("{%p endif %}")
    document.add_paragraph("{%p for copy in copies %}")  # one correspondent per line, aligned after « Copie à : »
    copied = document.add_paragraph()
    copied.paragraph_format.left_indent, copied.paragraph_format.first_line_indent = Cm(2), Cm(-2)
    copied.add_run("{% if loop.first %}Copie à :{% endif %}").bold = True
    copied.add_run("\t{{ copy }}")
    document.add_paragraph("{%p endfor %}")
    document.core_properties.title = kind.title
    document.core_properties.author = "Dictée"
    document.save(str(target))


def main() -> None:
    target_dir = Path(__file__).resolve().parents[1] / "letter_templates"
    target_dir.mkdir(exist_ok=True)
    for kind in KINDS:
        build(kind, target_dir / kind.template)
        print(f"wrote letter_templates/{kind.template}")


if __name__ == "__main__":
    main()
