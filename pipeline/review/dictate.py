"""« Dicter »: a practitioner records in the browser (a phone will do), and follows their
dictations: received, drafted, to sign, filed. The upload goes in chunks that resume after a
network drop (pipeline/upload.py); the finished recording lands in their inbox folder."""

from __future__ import annotations

from importlib import resources

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy import select

from pipeline import hints, upload
from pipeline.review import auth, jobs
from pipeline.review.db import BrowserDictation, Job, audit, utcnow
from pipeline.review.routes import STATE_LABELS, current, db, render, require_csrf
from pipeline.upload import ChunkedUpload, UploadError, UploadInfo

dictate_router = APIRouter()
RECENT = 15


def practitioner(request: Request, who=Depends(current), session=Depends(db)) -> tuple:
    """The practitioner's account and the inbox folder it dictates into."""
    folder = auth.practitioner_folder(session, who[0])
    if folder is None:
        raise HTTPException(status_code=403, detail="réservé aux praticiens reliés à leur dossier (dictee users "
                                                    "set-practitioner) / for practitioners linked to their folder")
    return who, folder


def with_csrf_header(request: Request, account=Depends(practitioner)) -> tuple:
    """The upload calls send the session's CSRF token in a header (their body is audio or JSON)."""
    require_csrf(account[0][1], request.headers.get("X-CSRF-Token"))
    return account


@dictate_router.get("/dicter", response_class=HTMLResponse)
def dictate_page(request: Request, account=Depends(practitioner), session=Depends(db)):
    (user, login), folder = account
    jobs.sync_jobs(session, request.app.state.outbox)  # as the worklist does
    sent = list(session.scalars(select(BrowserDictation.job_id).where(BrowserDictation.user_id == user.id)
                                .order_by(BrowserDictation.uploaded_at.desc()).limit(RECENT)))
    drafted = {job.job_id: job for job in session.scalars(select(Job).where(Job.folder == folder)
                                                          .order_by(Job.received_at.desc()).limit(RECENT))}
    drafted |= {job.job_id: job for job in session.scalars(select(Job).where(Job.job_id.in_(sent)))}
    recent = [{"job_id": job_id, "state": STATE_LABELS.get(drafted[job_id].state, drafted[job_id].state)
               if job_id in drafted else "reçue, en cours de transcription"}
              for job_id in [*sent, *(j for j in drafted if j not in sent)]][:RECENT]
    return render(request, "dictate.html", user=user, csrf=login.csrf_token, recent=recent,
                  chunk_bytes=upload.BROWSER_CHUNK_BYTES)


@dictate_router.get("/static/dictate.js")
def script(account=Depends(practitioner)):
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
def upload_start(request: Request, new: NewUpload, account=Depends(with_csrf_header)):
    (user, _), folder = account
    info = UploadInfo(folder=folder, username=user.username, urgent=new.urgent,
                      patient=(new.patient or "").strip() or None, recipient=(new.recipient or "").strip() or None,
                      started_at=utcnow().isoformat(timespec="seconds"))
    try:
        started = ChunkedUpload.start(request.app.state.outbox, info)
    except UploadError as error:
        return _refused(error)
    return {"id": started.upload_id, "offset": 0}


@dictate_router.get("/dicter/uploads/{upload_id}")
def upload_status(request: Request, upload_id: str, account=Depends(practitioner)):
    try:
        return {"offset": _upload(request, upload_id, account[0][0]).received()}
    except UploadError as error:
        return _refused(error)


@dictate_router.put("/dicter/uploads/{upload_id}")
async def upload_chunk(request: Request, upload_id: str, offset: int, account=Depends(with_csrf_header)):
    try:
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > upload.MAX_CHUNK_BYTES:
            raise UploadError("morceau trop grand / chunk too large", status=413)
        recording = _upload(request, upload_id, account[0][0])
        return {"offset": recording.append(offset, await upload.read_chunk(request.stream()))}
    except UploadError as error:
        return _refused(error)


@dictate_router.post("/dicter/uploads/{upload_id}/finish")
def upload_finish(request: Request, upload_id: str, size: int, account=Depends(with_csrf_header),
                  session=Depends(db)):
    settings, outbox = request.app.state.settings, request.app.state.outbox
    (user, _), _folder = account
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
