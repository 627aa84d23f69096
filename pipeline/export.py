"""The filed letter for the patient's record: a PDF/A and an HL7 FHIR DocumentReference, in an
export folder a records system or an MSSanté client picks up.

    <export_dir>/<job_id>/letter.pdf                 PDF/A-2b, converted by LibreOffice headless
    <export_dir>/<job_id>/document-reference.json    FHIR R4 (R4B models), the PDF attached

Each letter's folder appears whole or not at all (staged, then renamed). The export is the
hand-off to another system, so its files are in clear: put `export_dir` where that system
reads, not on a shared drive. Exporting never blocks filing: the desk runs it after the
signature has answered (`ExportQueue`), and `dictee export` does what is left.

LibreOffice reads the letter in clear, so it converts in a private scratch folder inside the
outbox's work area (owner-only), never in /tmp; a scratch folder whose process died (a kill
mid-conversion) is removed at the next start.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from pipeline.documents import kind_of
from pipeline.errors import DicteeError
from pipeline.files import EXPORT_SCRATCH_PREFIX
from pipeline.result import letter_text
from pipeline.settings import Settings
from pipeline.store import JobState, Outbox, parse_instant

log = logging.getLogger("dictee.export")
PDF_NAME = "letter.pdf"
FHIR_NAME = "document-reference.json"
# PDF/A-2b: archivable, fonts embedded; LibreOffice's own export filter does the work.
PDFA_FILTER = 'pdf:writer_pdf_Export:{"SelectPdfVersion":{"type":"long","value":"2"}}'
CONVERT_TIMEOUT_S = 120

LOINC = "http://loinc.org"  # each document type's code is in its registry entry (documents.py)
# French identifier systems: INS (NIR as the national health identifier) and RPPS (idNatPS,
# "8" + RPPS number). The IPP is the practice's own number.
INS_NIR_SYSTEM = "urn:oid:1.2.250.1.213.1.4.8"
RPPS_SYSTEM = "urn:oid:1.2.250.1.71.4.2.1"
IPP_SYSTEM = "urn:dictee:ipp"  # where the practice has not set its own (`ipp_system`, its OID)


class ExportError(DicteeError):
    """The letter could not be exported (LibreOffice missing or failing): filing stands."""


def soffice() -> str:
    found = shutil.which("soffice") or shutil.which("libreoffice")
    if found is None:
        raise ExportError("LibreOffice introuvable (apt-get install libreoffice-writer-nogui) / "
                          "LibreOffice not found (apt-get install libreoffice-writer-nogui)")
    return found


def to_pdfa(docx: bytes, *, scratch_root: Path) -> bytes:
    """The .docx as PDF/A-2b, converted in a private scratch folder with a throwaway LibreOffice
    profile (two conversions at once do not collide)."""
    scratch_root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f"{EXPORT_SCRATCH_PREFIX}{os.getpid()}-", dir=scratch_root) as scratch:
        folder = Path(scratch)
        source = folder / "letter.docx"
        source.write_bytes(docx)
        command = [soffice(), "--headless", "--norestore", "--nolockcheck",
                   f"-env:UserInstallation=file://{folder / 'profile'}",
                   "--convert-to", PDFA_FILTER, "--outdir", str(folder / "out"), str(source)]
        try:
            subprocess.run(command, capture_output=True, timeout=CONVERT_TIMEOUT_S, check=True)
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as error:
            raise ExportError(f"la conversion par LibreOffice a échoué / LibreOffice conversion failed "
                              f"({type(error).__name__})") from None
        produced = folder / "out" / "letter.pdf"
        if not produced.is_file():
            raise ExportError("LibreOffice n'a rien produit / LibreOffice produced nothing")
        return produced.read_bytes()


def document_reference(result: dict, state: JobState, pdf: bytes, *, job_id: str, ipp_system: str | None = None) -> dict:
    """The FHIR DocumentReference for a filed letter: patient (INS, IPP, name, birth date, sex)
    and author (RPPS) as contained resources, type, date, and the PDF attached inline."""
    from fhir.resources.R4B.documentreference import DocumentReference

    patient, practitioner = result["patient"], result.get("practitioner") or {}
    filed = state.filed
    code, display = kind_of(result.get("document_type")).loinc_for(letter_text(result))
    identifiers = [{"system": system, "value": value} for system, value in (
        (INS_NIR_SYSTEM, (patient.get("nir") or "").replace(" ", "")), (ipp_system or IPP_SYSTEM, patient.get("ipp")))
        if value]
    contained_patient = {
        "resourceType": "Patient", "id": "patient",
        "identifier": identifiers,
        "name": [name for name in (
            {"use": "official", "family": patient.get("birth_name") or patient.get("last_name"),
             "given": [patient["first_name"]] if patient.get("first_name") else []},
            {"use": "usual", "family": patient.get("last_name")} if patient.get("birth_name") else None) if name],
        **({"birthDate": patient["birth_date"]} if patient.get("birth_date") else {}),
        **({"gender": {"M": "male", "F": "female"}[patient["sex"]]} if patient.get("sex") in ("M", "F") else {}),
    }
    # The author is the practitioner whose letter it is (its letterhead); who signed it is the
    # authenticator, each with their own RPPS (the same person where the author signed).
    author = _practitioner_resource("author", practitioner.get("name"), practitioner.get("rpps"))
    signer_name = filed.signed_by
    signer = _practitioner_resource("signer", signer_name, filed.signed_by_rpps) \
        if signer_name and signer_name != practitioner.get("name") else None
    resource = {
        "resourceType": "DocumentReference",
        "id": job_id,
        "contained": [contained_patient, author, *([signer] if signer else [])],
        "identifier": [{"system": "urn:dictee:job", "value": job_id}],
        "status": "current", "docStatus": "final",
        "type": {"coding": [{"system": LOINC, "code": code, "display": display}]},
        "subject": {"reference": "#patient"},
        "date": _instant(filed.at),
        "author": [{"reference": "#author"}],
        **({"authenticator": {"reference": "#signer" if signer else "#author"}} if signer_name else {}),
        "content": [{"attachment": {
            "contentType": "application/pdf", "language": "fr", "title": PDF_NAME,
            "data": base64.b64encode(pdf).decode("ascii"), "size": len(pdf),
            "hash": base64.b64encode(hashlib.sha1(pdf).digest()).decode("ascii"),  # FHIR's attachment hash is SHA-1
        }}],
    }
    DocumentReference.model_validate(resource)  # refuses anything FHIR R4(B) would not accept
    return resource


def _practitioner_resource(resource_id: str, name: str | None, rpps: str | None) -> dict:
    return {"resourceType": "Practitioner", "id": resource_id, "name": [{"text": name or "?"}],
            **({"identifier": [{"system": RPPS_SYSTEM, "value": "8" + rpps}]} if rpps else {})}


def _instant(at: str) -> str:
    return parse_instant(at).isoformat()


def export_filed(job_id: str, settings: Settings, outbox: Outbox) -> Path | None:
    """Write the filed letter's PDF/A and DocumentReference into `settings.export_dir` (None:
    no export configured). Returns the letter's export folder."""
    if settings.export_dir is None:
        return None
    filed = outbox.filed_job(job_id)
    result, state = filed.result_data(), filed.state()
    pdf = to_pdfa(outbox.read_bytes(filed.draft), scratch_root=outbox.work_folder())
    reference = document_reference(result, state, pdf, job_id=job_id, ipp_system=settings.ipp_system)
    target = settings.export_dir / job_id
    staging = settings.export_dir / f".{job_id}.partial"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    (staging / PDF_NAME).write_bytes(pdf)
    (staging / FHIR_NAME).write_text(json.dumps(reference, ensure_ascii=False, indent=1), encoding="utf-8")
    if target.exists():
        shutil.rmtree(target)  # exported again (`dictee export`): the newer one stands
    os.replace(staging, target)
    return target


def is_exported(job_id: str, settings: Settings) -> bool:
    return settings.export_dir is not None and (settings.export_dir / job_id).is_dir()


def export_quietly(job_id: str, settings: Settings, outbox: Outbox, *, attempts: int = 2) -> bool:
    """After filing: tried `attempts` times; an export that still fails is logged by job id and
    left for `dictee export` (or the desk's « réessayer »)."""
    for attempt in range(attempts):
        try:
            export_filed(job_id, settings, outbox)
            return True
        except Exception as error:  # the letter is filed whatever happens here
            if attempt + 1 == attempts:
                log.error("job %s: not exported (%s); run `dictee export %s`", job_id, type(error).__name__, job_id)
    return False


class ExportQueue:
    """What follows a filing runs after the request that filed the letter has answered, one at a
    time: learning from the letter, then its export (a LibreOffice conversion takes every core for
    seconds). What is under way is known, so the desk can say « en cours », « fait » or « échec —
    réessayer »."""

    def __init__(self, settings: Settings, outbox: Outbox) -> None:
        self.settings, self.outbox = settings, outbox
        self._lock = threading.Lock()
        self._waiting: set[str] = set()
        self._failed: set[str] = set()
        self._pool: ThreadPoolExecutor | None = None

    def _worker(self) -> ThreadPoolExecutor:
        # Started on first use, and again after `close`: an app whose lifespan is entered twice
        # (a second client, a server restarted in the same process) still files and exports.
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="dictee-export")
            return self._pool

    def submit(self, job_id: str, *, learn: Callable[[], None] | None = None) -> None:
        """Export `job_id` (where an export folder is set), after `learn` if given."""
        if learn is not None:
            self._worker().submit(learn)
        if self.settings.export_dir is None:
            return
        with self._lock:
            if job_id in self._waiting:
                return
            self._waiting.add(job_id)
            self._failed.discard(job_id)
        self._worker().submit(self._run, job_id)

    def _run(self, job_id: str) -> None:
        done = export_quietly(job_id, self.settings, self.outbox)
        with self._lock:
            self._waiting.discard(job_id)
            if not done:
                self._failed.add(job_id)

    def status(self, job_id: str) -> str | None:
        """None (no export configured), "running", "done" or "failed"."""
        if self.settings.export_dir is None:
            return None
        with self._lock:
            if job_id in self._waiting:
                return "running"
        return "done" if is_exported(job_id, self.settings) else "failed"

    def wait(self, timeout: float | None = None) -> None:
        """Until what was submitted so far is done (tests, shutdown)."""
        self._worker().submit(lambda: None).result(timeout=timeout)

    def close(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=False)
