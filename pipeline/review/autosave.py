"""The desk page's own calls while she works: the autosaved working copy, and presence
(pipeline/review/working.py keeps both)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Depends, Form, Request
from fastapi.responses import JSONResponse, RedirectResponse

from pipeline import store
from pipeline.review.routes import OPEN_STATES, _open, checked, checked_by_header, db, in_scope
from pipeline.review.working import cleaned, drop_working_copy, save_working_copy

autosave_router = APIRouter(dependencies=[Depends(in_scope)])


@autosave_router.post("/jobs/{job_id}/working-copy")
def autosave(request: Request, job_id: str, fields: Annotated[dict, Body()], version: Annotated[int, Body()],
             who=Depends(checked_by_header), session=Depends(db)):
    """The page's fields as she types, a few seconds after she stops and on leaving a field."""
    user = who[0]
    job = _open(session, job_id, OPEN_STATES)
    request.app.state.presence.beat(job.job_id, user.username)
    at = save_working_copy(request.app.state.outbox, job_id, user.username, cleaned(fields), version=version)
    return JSONResponse({"saved_at": at[11:16]})


@autosave_router.post("/jobs/{job_id}/presence")
def heartbeat(request: Request, job_id: str, who=Depends(checked_by_header), session=Depends(db)):
    user = who[0]
    _open(session, job_id, frozenset({*OPEN_STATES, store.FILED, store.REJECTED}))
    request.app.state.presence.beat(job_id, user.username)
    return {"others": [{"username": p.username, "since": p.since.strftime("%H:%M")}
                       for p in request.app.state.presence.others(job_id, user.username)]}


@autosave_router.post("/jobs/{job_id}/working-copy/discard")
def discard(request: Request, job_id: str, csrf: Annotated[str, Form()] = "", who=Depends(checked)):
    drop_working_copy(request.app.state.outbox, job_id, who[0].username)
    return RedirectResponse(f"/jobs/{job_id}", status_code=303)

