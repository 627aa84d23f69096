"""The desk page's own calls while she works: the autosaved working copy, and presence
(pipeline/review/working.py keeps both)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Depends, Form, Request
from fastapi.responses import JSONResponse, RedirectResponse

from pipeline import store
from pipeline.review.deps import CheckedReviewer, HeaderCheckedReviewer, ScopedJob, db, at
from pipeline.review.routes import OPEN_STATES, _open
from pipeline.review.working import cleaned, drop_working_copy, save_working_copy

autosave_router = APIRouter()


@autosave_router.post("/jobs/{job_id}/working-copy")
def autosave(request: Request, job_id: ScopedJob, reviewer: HeaderCheckedReviewer, fields: Annotated[dict, Body()],
             version: Annotated[int, Body()], session=Depends(db)):
    """The page's fields as she types, a few seconds after she stops and on leaving a field."""
    job = _open(session, job_id, OPEN_STATES)
    request.app.state.presence.beat(job.job_id, reviewer.username)
    at = save_working_copy(request.app.state.outbox, job_id, reviewer.username, cleaned(fields), version=version)
    return JSONResponse({"saved_at": at[11:16]})


@autosave_router.post("/jobs/{job_id}/presence")
def heartbeat(request: Request, job_id: ScopedJob, reviewer: HeaderCheckedReviewer, session=Depends(db)):
    _open(session, job_id, frozenset({*OPEN_STATES, store.FILED, store.REJECTED}))
    request.app.state.presence.beat(job_id, reviewer.username)
    return {"others": [{"username": p.username, "since": p.since.strftime("%H:%M")}
                       for p in request.app.state.presence.others(job_id, reviewer.username)]}


@autosave_router.post("/jobs/{job_id}/working-copy/discard")
def discard(request: Request, job_id: ScopedJob, reviewer: CheckedReviewer, csrf: Annotated[str, Form()] = ""):
    drop_working_copy(request.app.state.outbox, job_id, reviewer.username)
    return RedirectResponse(at(request, f"/jobs/{job_id}"), status_code=303)

