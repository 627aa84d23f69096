"""Signing several reviewed letters at once, from « à signer », as dictation systems offer —
each one previewed first: a letter goes into the batch only once its practitioner has opened
its print preview since it last changed.

Every letter of the batch goes through the same checks as a single signature (in scope, « à
signer », signed by its author or as the practice allows, previewed), one at a time; those
that do not pass are named and left as they are.
"""

from __future__ import annotations

from urllib.parse import quote

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import RedirectResponse
from sqlalchemy import select

from pipeline.review import decisions, jobs
from pipeline.review.db import AuditEvent, Job
from pipeline.review.deps import CheckedReviewer, Reviewer, ScopedJobs, db, at
from pipeline.review.routes import french_part
from pipeline.review.working import drop_working_copy
from pipeline.store import TO_SIGN, JobFiles

batch_router = APIRouter()
MAX_BATCH = 50
CHANGES = ("edit", "submit", "identity_choose", "correspondent_choose", "send_back", "reopen")


def previewed_since_last_change(session, job_id: str, username: str) -> bool:
    """This account opened the print preview after the letter's last change."""
    rows = session.execute(select(AuditEvent.action, AuditEvent.username).where(AuditEvent.job_id == job_id)
                           .order_by(AuditEvent.id)).all()
    last_change = max((index for index, (action, _) in enumerate(rows) if action in CHANGES), default=-1)
    return any(action == "preview" and who == username for action, who in rows[last_change + 1:])


def refusal(session, request: Request, reviewer: Reviewer, files: JobFiles) -> str | None:
    """Why this letter, in the reviewer's scope, cannot go into the batch, or None."""
    if session.get(Job, files.job_id).state != TO_SIGN:
        return "n'est plus à signer"
    problem = decisions.signing_refusal(jobs.load_result(files), reviewer.signs_for,
                                        colleagues_sign=request.app.state.settings.colleagues_sign)
    if problem:
        return french_part(problem)
    if not previewed_since_last_change(session, files.job_id, reviewer.username):
        return "aperçu non ouvert depuis la dernière modification"
    return None


@batch_router.post("/sign-selected")
def sign_selected(request: Request, reviewer: CheckedReviewer, picked: ScopedJobs, session=Depends(db)):
    if reviewer.role not in decisions.MAY_TAKE["sign"]:
        raise HTTPException(status_code=403, detail=decisions.ROLE_REFUSED)
    settings, outbox = request.app.state.settings, request.app.state.outbox
    signer = settings.practitioner(reviewer.signs_for or None)
    signed, left = 0, []
    for job_id, reachable in picked[:MAX_BATCH]:
        # An id out of scope is « introuvable », as on every route of a draft.
        files = outbox.job(job_id) if reachable else None
        why = refusal(session, request, reviewer, files) if files else "introuvable"
        if why is None:
            try:
                decisions.approve(session, files, settings, username=reviewer.username, signer=signer)
            except jobs.ReviewError as error:
                why = french_part(str(error))
        if why is None:
            signed += 1
            drop_working_copy(outbox, job_id)
            request.app.state.exports.submit(job_id, learn=decisions.after_filing(settings, files))
        else:
            left.append(f"{job_id[:8]} : {why}")
    summary = f"{signed} courrier(s) signé(s)" + (f" ; non signé(s) : {' ; '.join(left)}" if left else "")
    return RedirectResponse(at(request, f"/?state={TO_SIGN}&batch={quote(summary)}"), status_code=303)
