"""A filed letter reaches the records system: PDF/A by LibreOffice, and a FHIR DocumentReference."""

from __future__ import annotations

import base64
import copy
import hashlib
import io
import json
import logging
import re
import shutil

import pytest

from pipeline import export
from pipeline.export import document_reference
from pipeline.store import JobState
from tests.conftest import REPO, signed_in

SCREENSHOTS = REPO / "test-output"
RESULT = {
    "document_type": "ordonnance",
    "patient": {"sex": "F", "last_name": "Martin", "birth_name": "Roche", "first_name": "Inès",
                "birth_date": "1988-05-13", "nir": "2 88 05 75 123 456 78", "ipp": "IPP0042"},
    "practitioner": {"name": "Dr Claire Exemple", "rpps": "10000000000"},
}
STATE = {"state": "filed", "history": [{"state": "pending_review", "at": "2026-12-02T09:00:00+00:00", "by": "pipeline"},
                                       {"state": "filed", "at": "2026-12-02T10:30:00+00:00", "by": "dr_claire",
                                        "signed_by": "Dr Claire Exemple"}]}


def test_the_document_reference_names_patient_author_type_and_carries_the_pdf():
    from fhir.resources.R4B.documentreference import DocumentReference

    pdf = b"%PDF-1.7 fictitious"
    resource = document_reference(RESULT, JobState.read(STATE), pdf, job_id="abc123")
    parsed = DocumentReference.model_validate(resource)
    patient, author = resource["contained"]
    assert {"system": export.INS_NIR_SYSTEM, "value": "288057512345678"} in patient["identifier"]
    assert {"system": export.IPP_SYSTEM, "value": "IPP0042"} in patient["identifier"]
    own = document_reference(RESULT, JobState.read(STATE), pdf, job_id="abc123", ipp_system="urn:oid:1.2.250.1.999.1")
    assert {"system": "urn:oid:1.2.250.1.999.1", "value": "IPP0042"} in own["contained"][0]["identifier"]
    assert patient["name"][0] == {"use": "official", "family": "Roche", "given": ["Inès"]}  # the birth name, as INS asks
    assert patient["name"][1] == {"use": "usual", "family": "Martin"}
    assert patient["birthDate"] == "1988-05-13" and patient["gender"] == "female"
    assert author["identifier"] == [{"system": export.RPPS_SYSTEM, "value": "810000000000"}]
    assert parsed.type.coding[0].code == "57833-6" and parsed.docStatus == "final"
    attachment = resource["content"][0]["attachment"]
    assert base64.b64decode(attachment["data"]) == pdf and attachment["size"] == len(pdf)
    assert base64.b64decode(attachment["hash"]) == hashlib.sha1(pdf).digest()
    assert resource["date"] == "2026-12-02T10:30:00+00:00"


def test_fhir_validation_is_real_a_malformed_reference_is_refused():
    from fhir.resources.R4B.documentreference import DocumentReference
    from pydantic import ValidationError

    resource = document_reference(RESULT, JobState.read(STATE), b"%PDF", job_id="abc123")
    for field, wrong in (("date", "hier"), ("stauts", "current"), ("content", [{"attachment": {"size": "big"}}])):
        broken = copy.deepcopy(resource)
        broken[field] = wrong  # not an instant; no such element; not an integer
        with pytest.raises(ValidationError):
            DocumentReference.model_validate(broken)


@pytest.fixture
def exporting(settings, tmp_path):
    if shutil.which("soffice") is None:
        pytest.skip("LibreOffice is not installed (apt-get install libreoffice-writer-nogui); scripts/setup.sh "
                    "installs it when run as root")
    return settings.model_copy(update={"export_dir": tmp_path / "export"})


def sign_one(settings, fake_transcriber_text: str | None = None) -> str:
    from pipeline import ingest
    from pipeline.job import run_job
    from tests.conftest import write_tone

    source = write_tone(settings.inbox / "dictee.wav", seconds=4.0)
    dictation = ingest.claim_dictation(source, work_dir=settings.work_dir, outbox=settings.outbox)
    run_job(dictation, settings)
    with signed_in(settings, "dr_claire", role="practitioner") as client:
        csrf = re.search(r'name="csrf" value="([^"]+)"', client.get("/?state=pending_review").text).group(1)
        assert client.post(f"/jobs/{dictation.job_id}/approve", data={"csrf": csrf}).status_code == 303
    return dictation.job_id


def test_signing_exports_an_a4_pdfa_with_its_fhir_record(exporting, fake_transcriber):
    from pypdf import PdfReader

    job_id = sign_one(exporting)
    folder = exporting.export_dir / job_id
    assert sorted(p.name for p in folder.iterdir()) == [export.FHIR_NAME, export.PDF_NAME]
    pdf = (folder / export.PDF_NAME).read_bytes()
    assert re.search(rb"<pdfaid:part>2</pdfaid:part>", pdf)  # PDF/A-2, as its XMP metadata declares
    reader = PdfReader(io.BytesIO(pdf))
    box = reader.pages[0].mediabox
    assert (round(float(box.width)), round(float(box.height))) == (595, 842)  # A4, in points
    text = reader.pages[0].extract_text()
    assert "DUPONT" in text and "Signé électroniquement par Dr Claire Exemple" in text
    reference = json.loads((folder / export.FHIR_NAME).read_text(encoding="utf-8"))
    assert base64.b64decode(reference["content"][0]["attachment"]["data"]) == pdf
    assert not list(exporting.export_dir.glob(".*.partial"))

    import pypdfium2

    SCREENSHOTS.mkdir(exist_ok=True)  # the letter as printed, for a person to look at
    page = pypdfium2.PdfDocument(pdf)[0].render(scale=1.5).to_pil()
    page.save(SCREENSHOTS / "letter-signed.png")
    assert abs(page.size[0] - 595 * 1.5) <= 1 and abs(page.size[1] - 842 * 1.5) <= 1


def test_an_export_that_fails_never_stops_filing_and_is_done_again_later(exporting, fake_transcriber, monkeypatch,
                                                                          caplog):
    from typer.testing import CliRunner

    from pipeline.cli import app

    real_soffice = export.soffice

    def missing():
        raise export.ExportError("LibreOffice introuvable / LibreOffice not found")

    monkeypatch.setattr(export, "soffice", missing)
    with caplog.at_level(logging.ERROR, logger="dictee.export"):
        job_id = sign_one(exporting)
    assert (exporting.outbox / "filed" / job_id / "draft.docx").is_file()  # filed all the same
    assert f"job {job_id}: not exported (ExportError)" in caplog.text and "Dupont" not in caplog.text
    assert not (exporting.export_dir / job_id).exists()

    monkeypatch.setattr(export, "soffice", real_soffice)
    monkeypatch.setenv("DICTEE_OUTBOX", str(exporting.outbox))
    monkeypatch.setenv("DICTEE_EXPORT_DIR", str(exporting.export_dir))
    done = CliRunner().invoke(app, ["export"])
    assert done.exit_code == 0, done.output
    assert (exporting.export_dir / job_id / export.PDF_NAME).is_file()


def test_a_long_letter_numbers_its_pages_and_names_the_patient_on_each_page_after_the_first(settings):
    from docx import Document
    from pypdf import PdfReader

    from pipeline.draft import render_draft
    from pipeline.records import Extraction, Patient, Recipient

    if shutil.which("soffice") is None:
        pytest.skip("LibreOffice is not installed (apt-get install libreoffice-writer-nogui)")
    body = ("Cher confrère, je vous adresse Madame Inès Roche pour bilan d'une dyspnée d'effort.\n"
            + "\n".join(f"Paragraphe {n} de l'examen clinique, détaillé comme il se doit." for n in range(60))
            + "\nBien confraternellement.")
    extraction = Extraction("lettre_confrere", Patient(sex="F", last_name="Roche", first_name="Inès",
                                                       birth_date="1988-05-13"),
                            Recipient(title="Dr", last_name="Masson", specialty="pneumologue"), (), (), body)
    docx = render_draft(extraction, settings.model_copy(update={"practitioner_phone": "04 72 00 00 00",
                                                                "practitioner_email": "claire@exemple.mssante.fr"}))
    paragraphs = [p.text for p in Document(io.BytesIO(docx)).paragraphs]
    assert "Cher confrère," in paragraphs and "Bien confraternellement." in paragraphs  # paragraphs of their own
    assert "Objet : Dyspnée d'effort — bilan" in paragraphs
    assert "Tél. : 04 72 00 00 00 · claire@exemple.mssante.fr" in paragraphs
    pages = PdfReader(io.BytesIO(export.to_pdfa(docx, scratch_root=settings.store().work_folder()))).pages
    assert len(pages) >= 2
    first, second = pages[0].extract_text(), pages[1].extract_text()
    assert f"Page 1 / {len(pages)}" in first and f"Page 2 / {len(pages)}" in second
    assert "Madame Inès ROCHE, née le 13/05/1988" in second  # on page 2, only its header says it
    assert not first.lstrip().startswith("Madame Inès ROCHE")  # the first page opens on the letterhead
