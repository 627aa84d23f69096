"""Who is asking, and which drafts they may reach: the dependencies every desk route declares.

A route under a draft takes its id as `job_id: ScopedJob`; nothing else gives it the id. An
account serving some practitioners only reaches their drafts (404 for the others: whether a
draft exists is not said either). `unscoped_routes` walks an app and names any route that
reaches a draft some other way; the app factory refuses to start with one (it fails closed).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Form, HTTPException, Path, Request
from fastapi.routing import APIRoute
from fastapi.dependencies.models import Dependant

from pipeline.review import auth
from pipeline.review.db import Job, LoginSession, User, audit
from pipeline.store import Outbox

JOB_ID = "[0-9a-f]{16}"  # what a job id looks like (the start of its audio's sha256)
NOT_FOUND = "brouillon introuvable / draft not found"
MAX_PICKED = 200  # drafts picked on one list (a batch signs at most 50 of them)


def at(request: Request, path: str) -> str:
    """A path of this desk as the browser asks for it: under its prefix when the desk is one
    practice of a centre's (mounted at /p/<practice>/), as is where there is none."""
    return request.scope.get("root_path", "") + path


class LoginRequired(Exception):
    def __init__(self, *, expired: bool = False) -> None:
        self.expired = expired


def db(request: Request):
    with request.app.state.sessions() as session:
        yield session


@dataclass(frozen=True)
class Reviewer:
    """The signed-in account, as every route sees it."""

    account: User
    login: LoginSession
    folders: frozenset[str] | None  # the inbox folders it serves ("" the main one); None: all
    signs_for: str | None  # the folder of the practitioner it signs as; None: signs for no one

    @property
    def username(self) -> str:
        return self.account.username

    @property
    def role(self) -> str:
        return self.account.role

    @property
    def csrf(self) -> str:
        return self.login.csrf_token

    def may_reach(self, job: Job | None, outbox: Outbox) -> bool:
        from pipeline.review.worklist import folder_of  # the worklist reads drafts; deps stays below it

        return job is not None and (self.folders is None or folder_of(job, outbox) in self.folders)


def signed_in_account(session, request: Request, idle: dt.timedelta) -> tuple[User, LoginSession]:
    """The account and session of the request's cookie in `session`'s accounts; LoginRequired
    (an idle session ending is audited there)."""
    try:
        found = auth.user_for_token(session, request.cookies.get(auth.SESSION_COOKIE), idle=idle)
    except auth.IdleExpired as expired:
        audit(session, username=expired.username, action="session_expired")
        session.commit()
        raise LoginRequired(expired=True) from None
    if found is None:
        raise LoginRequired()
    return found


def current_reviewer(request: Request, session=Depends(db)) -> Reviewer:
    if (centre := request.app.state.centre) is not None:  # a centre's practice: the centre says who asks
        return centre.reviewer(request)
    idle = dt.timedelta(minutes=request.app.state.settings.session_idle_minutes)
    account, login = signed_in_account(session, request, idle)
    return Reviewer(account, login, auth.served_folders(session, account), auth.practitioner_folder(session, account))


CurrentReviewer = Annotated[Reviewer, Depends(current_reviewer)]


def require_csrf(login: LoginSession, submitted: str | None) -> None:
    if not auth.csrf_matches(login, submitted):
        raise HTTPException(status_code=403, detail="CSRF token invalide / invalid CSRF token")


def checked_reviewer(reviewer: CurrentReviewer, csrf: Annotated[str, Form()] = "") -> Reviewer:
    """A state-changing request: signed in and carrying the session's CSRF token."""
    require_csrf(reviewer.login, csrf)
    return reviewer


def header_checked_reviewer(request: Request, reviewer: CurrentReviewer) -> Reviewer:
    """A state-changing call from the page's script (a JSON body): the CSRF token in a header."""
    require_csrf(reviewer.login, request.headers.get("X-CSRF-Token"))
    return reviewer


CheckedReviewer = Annotated[Reviewer, Depends(checked_reviewer)]
HeaderCheckedReviewer = Annotated[Reviewer, Depends(header_checked_reviewer)]


def require_admin(reviewer: Reviewer) -> None:
    if reviewer.role != "admin":
        raise HTTPException(status_code=403, detail="réservé à l'administrateur / admin only")


def scoped_job(request: Request, reviewer: CurrentReviewer, job_id: Annotated[str, Path()], session=Depends(db)) -> str:
    """The id of a draft this reviewer may reach; 404 for any other, and for what is no id."""
    from pipeline.review.worklist import sync_jobs

    if re.fullmatch(JOB_ID, job_id) is None:
        raise HTTPException(status_code=404, detail=NOT_FOUND)
    outbox = request.app.state.outbox
    if (job := session.get(Job, job_id)) is None and sync_jobs(session, outbox):  # drafted since the last look
        job = session.get(Job, job_id)
    if not reviewer.may_reach(job, outbox):
        raise HTTPException(status_code=404, detail=NOT_FOUND)
    return job_id


def scoped_jobs(request: Request, reviewer: CurrentReviewer, job: Annotated[list[str], Form()] = [],  # noqa: B006
                session=Depends(db)) -> list[tuple[str, bool]]:
    """Several drafts picked on a list (a batch): each id with whether this reviewer may reach
    it, in the order given, repeats dropped. An id out of scope is said no more than unknown."""
    outbox = request.app.state.outbox
    picked = list(dict.fromkeys(job))[:MAX_PICKED]  # one look-up each: bounded whatever is posted
    return [(job_id, re.fullmatch(JOB_ID, job_id) is not None
             and reviewer.may_reach(session.get(Job, job_id), outbox)) for job_id in picked]


ScopedJob = Annotated[str, Depends(scoped_job)]
ScopedJobs = Annotated[list[tuple[str, bool]], Depends(scoped_jobs)]


def _reaches_scoped_job(dependant: Dependant) -> bool:
    return any(sub.call in (scoped_job, scoped_jobs) or _reaches_scoped_job(sub) for sub in dependant.dependencies)


def _takes_job_id(dependant: Dependant) -> bool:
    """A job id taken as a plain parameter anywhere in the route's dependencies."""
    plain = [*dependant.path_params, *dependant.query_params, *dependant.body_params]
    if any(param.name in ("job_id", "job") for param in plain) and dependant.call not in (scoped_job, scoped_jobs):
        return True
    return any(_takes_job_id(sub) for sub in dependant.dependencies)


def unscoped_routes(routes) -> list[str]:
    """Routes that reach a draft without `ScopedJob`: a `{job_id}` in the path not given through
    it, or a job id taken from the query or the form. Empty for a sound app."""
    found = []
    for route in routes:
        if not isinstance(route, APIRoute):
            continue
        if _takes_job_id(route.dependant) or ("{job_id}" in route.path and not _reaches_scoped_job(route.dependant)):
            found.append(f"{','.join(sorted(route.methods))} {route.path}")
    return found
