"""« Dicter »: a practitioner records in the browser (a phone will do), and follows their
dictations: received, drafted, to sign, filed. The upload goes in chunks that resume after a
network drop (pipeline/upload.py); the finished recording lands in their inbox folder."""

from __future__ import annotations

from importlib import resources
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy import select

from pipeline import hints, upload
from pipeline.review import worklist
from pipeline.review.db import BrowserDictation, Job, audit, utcnow
from pipeline.review.deps import CurrentReviewer, Reviewer, db, require_csrf
from pipeline.review.routes import STATE_LABELS, render
from pipeline.upload import ChunkedUpload, UploadError, UploadInfo

dictate_router = APIRouter()
RECENT = 15


def practitioner(reviewer: CurrentReviewer) -> Reviewer:
    """A practitioner's account; `signs_for` is the inbox folder it dictates into."""
    if reviewer.signs_for is None:
        raise HTTPException(status_code=403, detail="réservé aux praticiens reliés à leur dossier (dictee users "
                                                    "set-practitioner) / for practitioners linked to their folder")
    return reviewer


def with_csrf_header(request: Request, reviewer: Annotated[Reviewer, Depends(practitioner)]) -> Reviewer:
    """The upload calls send the session's CSRF token in a header (their body is audio or JSON)."""
    require_csrf(reviewer.login, request.headers.get("X-CSRF-Token"))
    return reviewer


Practitioner = Annotated[Reviewer, Depends(practitioner)]
UploadingPractitioner = Annotated[Reviewer, Depends(with_csrf_header)]


@dictate_router.get("/dicter", response_class=HTMLResponse)
def dictate_page(request: Request, reviewer: Practitioner, session=Depends(db)):
    user, folder = reviewer.account, reviewer.signs_for
    worklist.sync_jobs(session, request.app.state.outbox)  # as the worklist does
    sent = list(session.scalars(select(BrowserDictation.job_id).where(BrowserDictation.user_id == user.id)
                                .order_by(BrowserDictation.uploaded_at.desc()).limit(RECENT)))
    drafted = {job.job_id: job for job in session.scalars(select(Job).where(Job.folder == folder)
                                                          .order_by(Job.received_at.desc()).limit(RECENT))}
    drafted |= {job.job_id: job for job in session.scalars(select(Job).where(Job.job_id.in_(sent)))}
    recent = [{"job_id": job_id, "state": STATE_LABELS.get(drafted[job_id].state, drafted[job_id].state)
               if job_id in drafted else "reçue, en cours de transcription"}
              for job_id in [*sent, *(j for j in drafted if j not in sent)]][:RECENT]
    return render(request, "dictate.html", user=user, csrf=reviewer.csrf, recent=recent,
                  chunk_bytes=upload.BROWSER_CHUNK_BYTES)


@dictate_router.get("/static/dictate.js")
def script(reviewer: Practitioner):
    return FileResponse(str(resources.files("pipeline.review") / "templates" / "dictate.js"),
                        media_type="text/javascript")


class NewUpload(BaseModel):
    patient: str | None = Field(default=None, max_length=200)
    recipient: str | None = Field(default=None, max_length=200)
    urgent: bool = False


def _upload(request: Request, upload_id: str, user) -> ChunkedUpload:
    recording = ChunkedUpload.open(request.app.state.outbox, upload_id)
    if recording.info.username != user.username:  # another account's recording: not said to exist
        raise UploadError("envoi inconnu / unknown upload", status=404)
    return recording


def _refused(error: UploadError) -> JSONResponse:
    return JSONResponse({"error": str(error), "offset": error.offset}, status_code=error.status)


@dictate_router.post("/dicter/uploads")
def upload_start(request: Request, reviewer: UploadingPractitioner, new: NewUpload):
    user, folder = reviewer.account, reviewer.signs_for
    info = UploadInfo(folder=folder, username=user.username, urgent=new.urgent,
                      patient=(new.patient or "").strip() or None, recipient=(new.recipient or "").strip() or None,
                      started_at=utcnow().isoformat(timespec="seconds"))
    try:
        started = ChunkedUpload.start(request.app.state.outbox, info)
    except UploadError as error:
        return _refused(error)
    return {"id": started.upload_id, "offset": 0}


@dictate_router.get("/dicter/uploads/{upload_id}")
def upload_status(request: Request, reviewer: Practitioner, upload_id: str):
    try:
        return {"offset": _upload(request, upload_id, reviewer.account).received()}
    except UploadError as error:
        return _refused(error)


@dictate_router.put("/dicter/uploads/{upload_id}")
async def upload_chunk(request: Request, reviewer: UploadingPractitioner, upload_id: str, offset: int):
    try:
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > upload.MAX_CHUNK_BYTES:
            raise UploadError("morceau trop grand / chunk too large", status=413)
        recording = _upload(request, upload_id, reviewer.account)
        return {"offset": recording.append(offset, await upload.read_chunk(request.stream()))}
    except UploadError as error:
        return _refused(error)


@dictate_router.post("/dicter/uploads/{upload_id}/finish")
def upload_finish(request: Request, reviewer: UploadingPractitioner, upload_id: str, size: int, session=Depends(db)):
    settings, outbox = request.app.state.settings, request.app.state.outbox
    user = reviewer.account
    try:
        recording = _upload(request, upload_id, user)
        delivered = recording.finish(settings.inbox, size)
    except UploadError as error:
        return _refused(error)
    hints.save_hints(outbox, delivered.job_id, patient=recording.info.patient,
                     recipient=recording.info.recipient)
    if session.get(BrowserDictation, delivered.job_id) is None:
        session.add(BrowserDictation(job_id=delivered.job_id, user_id=user.id))
    audit(session, username=user.username, action="dictation_upload", job_id=delivered.job_id)
    session.commit()
    return {"job_id": delivered.job_id}
