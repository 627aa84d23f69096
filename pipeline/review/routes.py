"""Routes per resource: auth (login/logout) and jobs (worklist, draft page, edits, decisions).

Every route but the login form needs a session; every POST needs the session's CSRF token.
"""

from __future__ import annotations

import datetime as dt
import mimetypes
from importlib import resources
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from sqlalchemy import select

from pipeline import autotext, store
from pipeline.documents import AS_LISTED, kind_of
from pipeline.draft import DOCUMENT_TITLES
from pipeline.result import FLAG_LABELS_FR, letter_text, version_of
from pipeline.review import decisions, jobs, worklist
from pipeline.review.correspondents import choose_correspondent, copy_lines
from pipeline.review.db import AUDIT_LABELS, ROLE_LABELS, AuditEvent, Job, audit
from pipeline.review.deps import CheckedReviewer, CurrentReviewer, Reviewer, ScopedJob, db, at
from pipeline.review.ranges import ranged_response
from pipeline.review.working import cleaned, drop_working_copy, load_working_copy, save_working_copy
from pipeline.store import JobFiles

auth_router = APIRouter()
DOCX_TYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
HIGHLIGHT_WORDS = frozenset({"droit", "droite", "gauche", "bilatéral", "bilatérale", "bilatéraux"})
jobs_router = APIRouter()  # each route under a draft takes `job_id: ScopedJob` (deps.py)


TYPED_USERNAME = "(saisi / typed)"  # refused logins: the typed name goes to the (sealed) detail
STATE_LABELS = {store.STATE_PENDING: "à relire", store.TO_SIGN: "à signer", store.FILED: "signé / classé",
                store.REJECTED: "renvoyé au praticien"}
OPEN_STATES = frozenset({store.STATE_PENDING, store.TO_SIGN})  # still editable


def french_part(message: str | None) -> str | None:
    """The desk speaks French: of a message written « français / English » (as the CLI and the
    logs keep them), the French part."""
    return message.split(" / ", 1)[0] if message else message


def waiting_time(waiting: dt.timedelta) -> str:
    """How long a draft has waited, as the worklists show it: « 26 h 5 min »."""
    minutes = int(waiting.total_seconds() // 60)
    return f"{minutes // 60} h {minutes % 60} min"


def local_when(at: str | None) -> str:
    """An ISO time as the desk shows it: « 06/12/2026 10:42 », in the machine's time zone."""
    if not at:
        return ""
    try:
        return dt.datetime.fromisoformat(at).astimezone().strftime("%d/%m/%Y %H:%M")
    except ValueError:
        return at


def render(request: Request, template: str, status_code: int = 200, **context) -> HTMLResponse:
    for key in ("error", "notice"):
        if isinstance(context.get(key), str):
            context[key] = french_part(context[key])
    context = {"titles": DOCUMENT_TITLES, "states": STATE_LABELS, "decision_labels": DECISION_LABELS,
               "role_labels": ROLE_LABELS, "audit_labels": AUDIT_LABELS,
               "root": request.scope.get("root_path", ""),  # a centre's practice: its /p/<name>
               "home": "/" if getattr(request.app.state, "centre", None) else request.scope.get("root_path", "") + "/",
               **context}
    return request.app.state.templates.TemplateResponse(request, template, context, status_code=status_code)


@auth_router.get("/static/review.js")
def script(reviewer: CurrentReviewer):
    return FileResponse(str(resources.files("pipeline.review") / "templates" / "review.js"), media_type="text/javascript")


@jobs_router.get("/", response_class=HTMLResponse)
def worklist_page(request: Request, reviewer: CurrentReviewer, state: str = "", document_type: str = "", author: str = "", q: str = "",
             batch: str = "", session=Depends(db)):
    settings, outbox = request.app.state.settings, request.app.state.outbox
    worklist.sync_jobs(session, outbox)
    # A practitioner opens on the letters waiting for a signature, their own first.
    own_folder = reviewer.signs_for
    state = state or (decisions.TO_SIGN if reviewer.role == "practitioner" else "pending_review")
    folders = reviewer.folders
    items = worklist.worklist(session, outbox, state=state, document_type=document_type or None,
                          author=author or None, first_folder=own_folder, folders=folders, search=q[:200])
    inbox = worklist.waiting_in_inbox(settings)
    loads = worklist.practitioner_loads(session, settings, folders, inbox)
    # A practitioner is told, on landing, of his dictations the secretary sent back to him.
    sent_back = worklist.worklist(session, outbox, state=store.REJECTED, folders=frozenset({own_folder})) \
        if own_folder is not None and state != store.REJECTED else []
    return render(request, "worklist.html", user=reviewer.account, csrf=reviewer.csrf, items=items, state=state,
                  sent_back=sent_back, present=request.app.state.presence.by_job(), q=q[:200], notice=batch[:2000] or None,
                  document_type=document_type, document_types=AS_LISTED, figures=worklist.turnaround(session),
                  backlog=worklist.backlog(settings, outbox, inbox, folders), author=author,
                  authors=[load.name for load in loads], loads=loads)


@jobs_router.get("/jobs/{job_id}", response_class=HTMLResponse)
def job_page(request: Request, job_id: ScopedJob, reviewer: CurrentReviewer, error: str = "", session=Depends(db)):
    return _job_page(request, _files(request, job_id), reviewer, session, error=error)


def _files(request: Request, job_id: str) -> JobFiles:
    """The draft's files, for this request: its result.json is read once."""
    return request.app.state.outbox.job(job_id)


def _job_page(request: Request, files: JobFiles, reviewer, session, *, error: str = "", typed: dict | None = None,
              status_code: int = 200, conflict: bool = False) -> HTMLResponse:
    """The draft page; `typed`: what the reviewer entered, shown again when it was not saved
    (`conflict`: because someone else saved meanwhile: both are shown, field by field). Opened
    afresh, it shows her autosaved working copy if she has one, and who else has it open."""
    settings, job_id = request.app.state.settings, files.job_id
    worklist.sync_jobs(session, request.app.state.outbox)
    job = session.get(Job, job_id)
    if job is None:
        raise HTTPException(status_code=404, detail="brouillon introuvable / draft not found")
    if job.state in OPEN_STATES and (emptied := jobs.repair_unreadable(files, username=reviewer.username)):
        # Never a 500 at every load: what the model refuses is emptied, said, and audited.
        audit(session, username=reviewer.username, action="edit", job_id=job_id, vault=request.app.state.vault,
              changes={field: ["(illisible / unreadable)", None] for field in emptied})
        session.commit()
        error = error or (f"champ(s) illisible(s) vidé(s), à ressaisir : {', '.join(emptied)} / unreadable field(s) "
                          f"emptied, to be typed again")
    result = jobs.load_result(files)
    if typed is None:
        audit(session, username=reviewer.username, action="view", job_id=job_id)
        session.commit()
    corrected_at = {f["start"] for f in result["flags"] if f["kind"] == "vocabulary_correction"}
    words = [
        {"start": w["start"], "text": w["word"].strip(), "joined": _joins_previous(result["transcript"]["words"], index),
         "classes": " ".join(c for c, on in (
             ("low", w["probability"] < settings.low_confidence),
             ("num", any(ch.isdigit() for ch in w["word"])),
             ("lat", w["word"].strip(" ,.").lower() in HIGHLIGHT_WORDS),
             ("fix", w["start"] in corrected_at),
         ) if on)}
        for index, w in enumerate(result["transcript"]["words"])
    ]
    history = session.scalars(select(AuditEvent).where(AuditEvent.job_id == job_id).order_by(AuditEvent.id)).all()
    saved = {
        **{f"patient.{key}": result["patient"].get(key) or "" for key in jobs.PATIENT_FIELDS},
        **{f"recipient.{key}": (result["recipient"] or {}).get(key) or "" for key in jobs.RECIPIENT_FIELDS},
        "document_type": result["document_type"] or "", "drugs": jobs.drug_lines(result["drugs"]),
        "conditions": jobs.condition_lines(result["conditions"]), "body": letter_text(result),
        "copies": copy_lines(result.get("copies") or []),
    }
    restored = None
    if typed is None and job.state in OPEN_STATES:
        restored = load_working_copy(request.app.state.outbox, job_id, reviewer.username)
        if restored and all(saved.get(key, "") == value for key, value in restored["fields"].items()):
            restored = None  # nothing in it that is not saved
        typed = restored["fields"] if restored else None
    conflicts = [{"field": key, "saved": saved[key], "typed": value} for key, value in (typed or {}).items()
                 if conflict and key in saved and saved[key] != value]
    request.app.state.presence.beat(job_id, reviewer.username)
    return render(request, "job.html", status_code=status_code, user=reviewer.account, csrf=reviewer.csrf, job=job,
                  restored=restored, conflicts=conflicts, reviewed=result.get("review") or {},
                  autotext=autotext.for_author(request.app.state.outbox, result.get("author_folder")),
                  marks=_letter_marks(result, settings.low_confidence),
                  others=request.app.state.presence.others(job_id, reviewer.username),
                  action=_decision_for(reviewer, settings), open_states=OPEN_STATES,
                  comment=decisions.last_comment(files),
                  sign_refusal=decisions.signing_refusal(result, reviewer.signs_for, colleagues_sign=settings.colleagues_sign)
                  if reviewer.role == "practitioner" else None,
                  export_status=request.app.state.exports.status(job_id) if job.state == store.FILED else None,
                  result=result, words=words, document_types=AS_LISTED, error=error, history=history,
                  values={**saved, **(typed or {})}, unsaved=typed is not None, version=version_of(result),
                  complete=jobs.extraction_of(result).patient.is_complete,
                  patient_labels=jobs.PATIENT_LABELS, recipient_labels=jobs.RECIPIENT_LABELS,
                  flag_labels={kind.value: label for kind, label in FLAG_LABELS_FR.items()})


def _letter_marks(result: dict, low_confidence: float) -> dict[str, list[str]]:
    """What the letter marks as she edits it: the words the recognizer was unsure of, and those
    the vocabulary changed (numbers are marked by the page itself)."""
    def bare(word: str) -> str:
        return word.strip(" ,.;:!?«»()\"'").lower()

    unsure = {bare(w["word"]) for w in result["transcript"]["words"] if w["probability"] < low_confidence}
    fixed = {bare(f["written"]) for f in result["flags"] if f.get("written") and not f.get("reverted")}
    return {"unsure": sorted(word for word in unsure if len(word) >= 3), "fixed": sorted(word for word in fixed if word)}


def _joins_previous(words: list[dict], index: int) -> bool:
    """Whisper marks a new word by its leading space; a piece without one (« 'accident » after
    « L ») or after an elision (« L' ») is written against the previous one: « L'accident »."""
    if index == 0:
        return True
    return not words[index]["word"][:1].isspace() or words[index - 1]["word"].rstrip().endswith(("'", "’"))


def _back(request: Request, job_id: str, error: str = "") -> RedirectResponse:
    return RedirectResponse(at(request, f"/jobs/{job_id}") + (f"?error={quote(error)}" if error else ""), status_code=303)


def _open(session, job_id: str, states: frozenset[str] = OPEN_STATES) -> Job:
    job = session.get(Job, job_id)
    if job is None:
        raise HTTPException(status_code=404, detail="brouillon introuvable / draft not found")
    if job.state not in states:
        raise HTTPException(status_code=409, detail="déjà traité / already decided")
    return job


SUBMIT, SIGN, FILE = "submit", "sign", "file"
DECISION_LABELS = {SUBMIT: "Enregistrer et transmettre pour signature", SIGN: "Enregistrer, signer et classer",
                   FILE: "Enregistrer, approuver et classer"}


def _require_role(step: str, reviewer: Reviewer) -> None:
    try:
        decisions.require_role(step, reviewer.role)
    except PermissionError as error:
        raise HTTPException(status_code=403, detail=str(error)) from None


def _decision_for(reviewer: Reviewer, settings) -> str:
    """What « approve » means for this account: a practitioner signs; a secretary submits for
    signature, or files directly where the practice signs on paper (`signing = "secretary"`)."""
    if reviewer.role == "practitioner":
        return SIGN
    return FILE if settings.signing == "secretary" else SUBMIT


@jobs_router.get("/jobs/{job_id}/audio")
def job_audio(request: Request, job_id: ScopedJob, reviewer: CurrentReviewer, session=Depends(db)):
    audio = _files(request, job_id).audio
    if audio is None:
        raise HTTPException(status_code=404)
    # Not audited here: the player fetches on page load and at every seek. The page reports an
    # actual play (POST …/listened).
    outbox = request.app.state.outbox
    if not outbox.sealed:
        return FileResponse(str(audio))  # streams from disk, with HTTP ranges for seeking
    media_type = mimetypes.guess_type(audio.name)[0] or "application/octet-stream"
    return ranged_response(outbox.read_bytes(audio), media_type, request.headers.get("range"))


@jobs_router.post("/jobs/{job_id}/listened", status_code=204)
def job_listened(request: Request, job_id: ScopedJob, reviewer: CheckedReviewer, session=Depends(db)):
    """The reviewer pressed play: « listen » goes to the audit trail once per page."""
    if _files(request, job_id).audio is None:
        raise HTTPException(status_code=404)
    audit(session, username=reviewer.username, action="listen", job_id=job_id)
    session.commit()
    return Response(status_code=204)


@jobs_router.get("/jobs/{job_id}/preview", response_class=HTMLResponse)
def job_preview(request: Request, job_id: ScopedJob, reviewer: CurrentReviewer, session=Depends(db)):
    """The letter as it will print, from the same context as the Word file (A4, the template's
    order): a signed letter shows its signature line."""
    from pipeline.draft import draft_context, signature_data_uri

    settings = request.app.state.settings
    _open(session, job_id, frozenset(STATE_LABELS))
    files = _files(request, job_id)
    result = jobs.load_result(files)
    extraction = jobs.extraction_of(result)
    letter = draft_context(extraction, settings, today=decisions.letter_date(files),
                           practitioner=jobs.letterhead_of(result, settings), signature=decisions.signature_of(files))
    if letter["signature"]:
        letter["signature_image"] = signature_data_uri(letter["practitioner"].get("signature_image"))
    audit(session, username=reviewer.username, action="preview", job_id=job_id)  # what a batch signature asks for
    session.commit()
    return render(request, "preview.html", letter=letter, kind=kind_of(extraction.document_type),
                  prescription=extraction.document_type == "ordonnance", certificate=extraction.document_type == "certificat")


@jobs_router.get("/jobs/{job_id}/draft.docx")
def job_docx(request: Request, job_id: ScopedJob, reviewer: CurrentReviewer, session=Depends(db)):
    draft = _files(request, job_id).draft
    if not draft.is_file():
        raise HTTPException(status_code=404, detail="brouillon introuvable / draft not found")  # and not audited
    audit(session, username=reviewer.username, action="download", job_id=job_id)
    session.commit()
    return Response(request.app.state.outbox.read_bytes(draft), media_type=DOCX_TYPE,
                    headers={"Content-Disposition": f'attachment; filename="{job_id}.docx"'})


async def _typed(request: Request) -> dict[str, str]:
    return {k: v for k, v in (await request.form()).items() if k != "csrf" and isinstance(v, str)}


def _save(request: Request, files: JobFiles, form: dict[str, str], reviewer, session) -> None:
    """Save what the reviewer typed (raises ReviewError, StaleEdit); regenerate and audit if it changed."""
    settings = request.app.state.settings
    changes = jobs.apply_edits(files, form, username=reviewer.username, models_dir=settings.models_dir)
    drop_working_copy(files.outbox, files.job_id, reviewer.username)  # saved: her working copy is the draft now
    if changes:
        jobs.regenerate(files, settings)
        audit(session, username=reviewer.username, action="edit", job_id=files.job_id, vault=request.app.state.vault,
              changes=changes)
        session.commit()


def _keep_refused(request: Request, job_id: str, reviewer, form: dict[str, str]) -> None:
    """A refused form becomes her working copy: a reload, a closed tab, finds it again."""
    version = int(form["version"]) if form.get("version", "").isdigit() else 0
    fields = {key: value for key, value in form.items() if key not in ("version", "choice")}
    save_working_copy(request.app.state.outbox, job_id, reviewer.username, cleaned(fields), version=version)


@jobs_router.post("/jobs/{job_id}/edit")
async def job_edit(request: Request, job_id: ScopedJob, reviewer: CheckedReviewer, session=Depends(db)):
    _open(session, job_id)
    form, files = await _typed(request), _files(request, job_id)
    try:
        _save(request, files, form, reviewer, session)
    except jobs.ReviewError as error:
        # Nothing she typed is lost: the page comes back with her entries and the reason; where
        # someone else saved meanwhile, with what they saved beside what she typed.
        stale = isinstance(error, jobs.StaleEdit)
        _keep_refused(request, job_id, reviewer, form)
        return _job_page(request, files, reviewer, session, error=str(error), typed=form,
                         status_code=409 if stale else 422, conflict=stale)
    return _back(request, job_id)


@jobs_router.post("/jobs/{job_id}/flags/{index}/revert")
def job_revert_correction(request: Request, job_id: ScopedJob, reviewer: CheckedReviewer, index: int, session=Depends(db)):
    """One click puts back what the recognizer heard in place of a vocabulary correction."""
    _open(session, job_id)
    files = _files(request, job_id)
    try:
        changes = jobs.revert_correction(files, index, username=reviewer.username)
        jobs.regenerate(files, request.app.state.settings)
    except jobs.ReviewError as error:
        return _back(request, job_id, str(error))
    audit(session, username=reviewer.username, action="edit", job_id=job_id, vault=request.app.state.vault,
          changes=changes)
    session.commit()
    return _back(request, job_id)


@jobs_router.post("/jobs/{job_id}/patient")
async def job_choose_patient(request: Request, job_id: ScopedJob, reviewer: CheckedReviewer, session=Depends(db)):
    """One click: the patient among the register's candidates, or « nouveau patient »."""
    def choose(files: JobFiles, choice: str, username: str) -> dict:
        return jobs.choose_patient(files, choice, username=username)

    return await _choose(request, job_id, reviewer, session, choose, action="identity_choose")


@jobs_router.post("/jobs/{job_id}/correspondent")
async def job_choose_correspondent(request: Request, job_id: ScopedJob, reviewer: CheckedReviewer, session=Depends(db)):
    """One click: the recipient, or a « copie à », among the address book's candidates."""
    def choose(files: JobFiles, choice: str, username: str) -> dict:
        result = jobs.load_result(files)
        try:
            changes = choose_correspondent(result, choice, username=username)
        except ValueError as error:
            raise jobs.ReviewError(str(error)) from None
        jobs.save_result(files, result, username=username)
        return changes

    return await _choose(request, job_id, reviewer, session, choose, action="correspondent_choose")


async def _choose(request: Request, job_id: str, reviewer, session, choose, *, action: str):
    """A choice among candidates. What she typed on the page is saved first, as with « Approuver »."""
    _open(session, job_id)
    form, files = await _typed(request), _files(request, job_id)
    choice = form.pop("choice", "")
    try:
        if form:
            _save(request, files, form, reviewer, session)
        changes = choose(files, choice, reviewer.username)
        jobs.regenerate(files, request.app.state.settings)
    except jobs.ReviewError as error:
        return _job_page(request, files, reviewer, session, error=str(error), typed=form or None,
                         status_code=409 if isinstance(error, jobs.StaleEdit) else 422)
    audit(session, username=reviewer.username, action=action, job_id=job_id, vault=request.app.state.vault,
          changes=changes)
    session.commit()
    return _back(request, job_id)


@jobs_router.post("/jobs/{job_id}/approve")
async def job_approve(request: Request, job_id: ScopedJob, reviewer: CheckedReviewer, session=Depends(db)):
    """Saves what is on screen, then takes the next step in one go (nothing typed is left
    behind): a secretary submits it for signature (or files it), a practitioner signs and files."""
    _open(session, job_id)
    form, files = await _typed(request), _files(request, job_id)
    then = form.pop("then", "next")  # her choice, kept by the page: the next draft, or the list
    settings, outbox = request.app.state.settings, request.app.state.outbox
    decision = _decision_for(reviewer, settings)
    _require_role(decision, reviewer)
    try:
        if decision == SIGN:  # who may sign is decided from the stored draft, before anything is saved
            stored = jobs.load_result(files)
            refusal = decisions.signing_refusal(stored, reviewer.signs_for,
                                                colleagues_sign=settings.colleagues_sign)
            if refusal:
                raise jobs.ReviewError(refusal)
            if form.get("document_type", stored.get("document_type") or "") != (stored.get("document_type") or ""):
                raise jobs.ReviewError("le type de document a changé : enregistrez, puis signez / "
                                       "the document type changed: save, then sign")
        if form:
            _save(request, files, form, reviewer, session)
        if decision == SUBMIT:
            decisions.submit_for_signature(session, files, username=reviewer.username)
        elif decision == SIGN:
            signer = settings.practitioner(reviewer.signs_for or None)
            decisions.approve(session, files, settings, username=reviewer.username, signer=signer)
        else:
            decisions.approve(session, files, settings, username=reviewer.username)
    except jobs.ReviewError as error:
        if form:
            _keep_refused(request, job_id, reviewer, form)
        return _job_page(request, files, reviewer, session, error=str(error), typed=form or None,
                         status_code=409 if isinstance(error, jobs.StaleEdit) else 422)
    drop_working_copy(outbox, job_id, None if decision != SUBMIT else reviewer.username)
    if decision == SUBMIT:
        audit(session, username=reviewer.username, action="submit", job_id=job_id)
        session.commit()
    else:  # filed, its audit row committed with it: learning, PDF/A + FHIR after the answer, never inside it
        request.app.state.exports.submit(job_id, learn=decisions.after_filing(settings, files))
    if request.app.state.centre is not None:  # a centre's practice: « Suivant » goes across its practices
        return RedirectResponse("/" if then == "list" else "/suivant", status_code=303)
    following = _next_draft(request, session, reviewer, after=job_id) if then != "list" else None
    return RedirectResponse(at(request, f"/jobs/{following}" if following else "/"), status_code=303)


def _next_draft(request: Request, session, reviewer: Reviewer, *, after: str) -> str | None:
    """The next draft of her worklist as she lands on it (urgent first, then oldest; a
    practitioner's own letters to sign first), other than the one just decided."""
    state = decisions.TO_SIGN if reviewer.role == "practitioner" else store.STATE_PENDING
    items = worklist.worklist(session, request.app.state.outbox, state=state, first_folder=reviewer.signs_for,
                          folders=reviewer.folders)
    return next((item.job.job_id for item in items if item.job.job_id != after), None)


@jobs_router.post("/jobs/{job_id}/export")
def job_export_again(request: Request, job_id: ScopedJob, reviewer: CheckedReviewer, session=Depends(db)):
    """« réessayer »: a filed letter whose PDF/A + FHIR export failed is exported again, in the background."""
    _open(session, job_id, frozenset({store.FILED}))
    request.app.state.exports.submit(job_id)
    return _back(request, job_id)


@jobs_router.post("/jobs/{job_id}/reopen")
def job_reopen(request: Request, job_id: ScopedJob, reviewer: CheckedReviewer, comment: Annotated[str, Form()] = "",
               session=Depends(db)):
    """A draft the secretary sent back to its author: he puts it back « à relire », with his precisions."""
    _open(session, job_id, frozenset({store.REJECTED}))
    _require_role("reopen", reviewer)
    try:
        decisions.reopen(session, _files(request, job_id), username=reviewer.username, comment=comment)
    except jobs.ReviewError as error:
        return _back(request, job_id, str(error))
    audit(session, username=reviewer.username, action="reopen", job_id=job_id, vault=request.app.state.vault,
          comment=comment.strip())
    session.commit()
    return RedirectResponse(at(request, "/"), status_code=303)


@jobs_router.post("/jobs/{job_id}/reject")
def job_reject(request: Request, job_id: ScopedJob, reviewer: CheckedReviewer, comment: Annotated[str, Form()] = "", session=Depends(db)):
    """« à relire » → back to the practitioner (the secretary cannot make a letter of it); « à
    signer » → back to « à relire » (the practitioner wants a correction). The comment is shown."""
    job = _open(session, job_id)
    back = decisions.send_back if job.state == decisions.TO_SIGN else decisions.reject
    _require_role("send_back" if back is decisions.send_back else "reject", reviewer)
    try:
        back(session, _files(request, job_id), username=reviewer.username, comment=comment)
    except jobs.ReviewError as error:
        return _back(request, job_id, str(error))
    audit(session, username=reviewer.username, action="send_back" if back is decisions.send_back else "reject",
          job_id=job_id, vault=request.app.state.vault, comment=comment.strip())
    session.commit()
    return RedirectResponse(at(request, "/"), status_code=303)
