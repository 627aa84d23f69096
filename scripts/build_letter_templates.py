"""Generate letter_templates/<document_type>.docx, one per document type.

The templates are committed; rerun this after changing the layout. Practices may edit the
.docx files in Word as long as they keep the {{ … }} variables listed in the README.
"""

from __future__ import annotations

import sys
from pathlib import Path

from docx import Document
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.shared import Cm, Pt

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from pipeline.draft import ADDRESSED_TYPES, DOCUMENT_TITLES  # noqa: E402



def build(document_type: str, target: Path) -> None:
    document = Document()
    for section in document.sections:  # A4 with 2-cm margins, as French letters are printed
        section.page_width, section.page_height = Cm(21), Cm(29.7)
        section.left_margin = section.right_margin = section.top_margin = section.bottom_margin = Cm(2)
    style = document.styles["Normal"]
    style.font.name = "Calibri"
    style.font.size = Pt(11)

    head = document.add_paragraph()
    head.add_run("{{ practitioner.name }}").bold = True
    document.add_paragraph("{{ practitioner.specialty }}")
    document.add_paragraph("{{ practitioner.address }}")
    document.add_paragraph("RPPS : {{ practitioner.rpps }}")

    if document_type in ADDRESSED_TYPES:
        document.add_paragraph("{%p if recipient %}")
        block = document.add_paragraph()
        block.alignment = WD_ALIGN_PARAGRAPH.RIGHT
        block.add_run("{{ recipient.name }}").bold = True
        details = document.add_paragraph("{{ recipient.details }}")
        details.alignment = WD_ALIGN_PARAGRAPH.RIGHT
        document.add_paragraph("{%p endif %}")

    dated = document.add_paragraph("{{ practitioner.city }}, le {{ date }}")
    dated.alignment = WD_ALIGN_PARAGRAPH.RIGHT

    title = document.add_paragraph()
    title.alignment = WD_ALIGN_PARAGRAPH.CENTER
    title.add_run("{{ document_title }}").bold = True

    concerning = document.add_paragraph()
    concerning.add_run("Patient : ").bold = True
    concerning.add_run("{{ patient_line }}")

    if document_type == "ordonnance":  # the drugs, one line each, then what the dictation adds
        document.add_paragraph("{%p for line in prescriptions %}")
        document.add_paragraph("{{ line }}", style="List Number")
        document.add_paragraph("{%p endfor %}")

    document.add_paragraph("{%p for paragraph in body %}")
    document.add_paragraph("{{ paragraph }}")
    document.add_paragraph("{%p endfor %}")

    signature = document.add_paragraph("{{ practitioner.name }}")
    signature.alignment = WD_ALIGN_PARAGRAPH.RIGHT
    document.add_paragraph("{%p if signature %}")
    signed = document.add_paragraph("{{ signature }}")
    signed.alignment = WD_ALIGN_PARAGRAPH.RIGHT
    document.add_paragraph("{%p endif %}")
    document.core_properties.title = DOCUMENT_TITLES[document_type]
    document.core_properties.author = "Dictée"
    document.save(str(target))


def main() -> None:
    target_dir = Path(__file__).resolve().parents[1] / "letter_templates"
    target_dir.mkdir(exist_ok=True)
    for document_type in DOCUMENT_TITLES:
        build(document_type, target_dir / f"{document_type}.docx")
        print(f"wrote letter_templates/{document_type}.docx")


if __name__ == "__main__":
    main()
