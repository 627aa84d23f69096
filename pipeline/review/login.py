"""Logging in and out: the password, then the second factor (TOTP or a recovery code) for an
account that has one, or its enrolment when the login comes from outside the practice's networks.
Every step is audited; refused codes are throttled like refused passwords."""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from pipeline.review import auth, twofactor
from pipeline.review.db import audit
from pipeline.review.deps import JOB_ID, CheckedReviewer, CurrentReviewer, db
from pipeline.review.routes import TYPED_USERNAME, render

login_router = APIRouter()
PENDING_COOKIE = "dictee_pending"
RETURN_COOKIE = "dictee_return"  # the draft a session expiry took her from
RETURN_PATH = re.compile(rf"^(/p/[a-z0-9][a-z0-9-]{{0,39}})?/jobs/{JOB_ID}$")  # a draft of this desk, or of a centre's practice


def _client(request: Request) -> str | None:
    return request.client.host if request.client else None


def _secure(request: Request) -> bool:
    return request.url.scheme == "https"


def _with_session(request: Request, response: Response, token: str) -> Response:
    """The response that carries the new session's cookie, the half-login one gone."""
    response.set_cookie(auth.SESSION_COOKIE, token, httponly=True, samesite="strict", secure=_secure(request),
                        max_age=auth.SESSION_HOURS * 3600)
    response.delete_cookie(PENDING_COOKIE)
    return response


def _signed_in(request: Request, session, user) -> Response:
    token, _ = auth.open_session(session, user)
    back = request.cookies.get(RETURN_COOKIE, "")
    response = _with_session(request, RedirectResponse(back if RETURN_PATH.match(back) else "/", status_code=303), token)
    response.delete_cookie(RETURN_COOKIE)
    return response


def _throttled(request: Request, session, keys, typed: str) -> HTMLResponse | None:
    """This attempt counted before anything is checked; a page saying how long to wait if it
    may not be checked now."""
    wait = auth.take_attempt(session, keys)
    if not wait:
        return None
    audit(session, username=TYPED_USERNAME, action="login_throttled", vault=request.app.state.vault,
          typed=typed[:80], wait_s=wait)
    session.commit()
    return render(request, "login.html", status_code=429,
                  error=f"Trop d'essais : réessayez dans {wait} s / too many attempts: try again in {wait} s")


@login_router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, expired: int = 0):
    return render(request, "login.html", error=None,
                  notice="Session fermée après inactivité : reconnectez-vous / session closed after inactivity"
                  if expired else None)


@login_router.post("/login")
def login(request: Request, username: Annotated[str, Form()], password: Annotated[str, Form()], session=Depends(db)):
    settings, vault = request.app.state.settings, request.app.state.vault
    keys = auth.throttle_keys(session, username, _client(request))
    if (refused := _throttled(request, session, keys, username)) is not None:  # not even checked
        return refused
    user = auth.authenticate(session, username, password)
    if user is None:
        # The typed name may be a mistyped password or a patient's name: sealed when the outbox is.
        audit(session, username=TYPED_USERNAME, action="login_failed", vault=vault, typed=username[:80],
              failures=auth.failures_of(session, keys))
        session.commit()
        return render(request, "login.html", status_code=401, error="Identifiants incorrects / wrong credentials")
    auth.clear_failures(session, keys)
    local = twofactor.is_local(_client(request), settings.review_local_networks)
    if not twofactor.enrolled(session, user) and local:
        audit(session, username=user.username, action="login")
        session.commit()
        return _signed_in(request, session, user)
    # The second factor is asked, or enrolled first when this account has none and logs in from outside.
    response = RedirectResponse("/login/code" if twofactor.enrolled(session, user) else "/login/enrol", status_code=303)
    response.set_cookie(PENDING_COOKIE, auth.open_pending(session, user), httponly=True, samesite="strict",
                        secure=_secure(request), max_age=auth.PENDING_MINUTES * 60)
    return response


def _pending(request: Request, session):
    return auth.pending_user(session, request.cookies.get(PENDING_COOKIE))


def _expired_pending(request: Request) -> HTMLResponse:
    return render(request, "login.html", status_code=401,
                  error="Étape expirée : reconnectez-vous / step expired: sign in again")


@login_router.get("/login/code", response_class=HTMLResponse)
def code_form(request: Request, session=Depends(db)):
    if _pending(request, session) is None:
        return _expired_pending(request)
    return render(request, "second_factor.html", error=None)


@login_router.post("/login/code")
def code_check(request: Request, code: Annotated[str, Form()], session=Depends(db)):
    user = _pending(request, session)
    if user is None:
        return _expired_pending(request)
    keys = auth.code_keys(user)  # apart from the password's: a right password does not clear them
    if (refused := _throttled(request, session, keys, user.username)) is not None:
        return refused
    # Past MAX_CODE_FAILURES wrong codes, only a recovery code (or an admin's reset) opens it.
    blocked = auth.failures_of(session, keys) > auth.MAX_CODE_FAILURES
    kind = twofactor.verify(session, user, code, request.app.state.vault, totp=not blocked)
    if kind is None:
        audit(session, username=user.username, action="totp_failed")
        session.commit()
        error = ("Trop de codes erronés : utilisez un code de secours ou demandez à l'administrateur / "
                 "too many wrong codes: use a recovery code or ask the administrator") if blocked \
            else "Code incorrect / wrong code"
        return render(request, "second_factor.html", status_code=401, error=error)
    auth.clear_failures(session, keys)
    auth.close_pending(session, request.cookies.get(PENDING_COOKIE))
    audit(session, username=user.username, action="recovery_used" if kind == "recovery" else "totp_ok")
    audit(session, username=user.username, action="login")
    session.commit()
    return _signed_in(request, session, user)


def _enrolment_page(request: Request, session, user, *, error: str | None = None, status_code: int = 200,
                    signed_in=None) -> HTMLResponse:
    secret = twofactor.start_enrolment(session, user, request.app.state.vault)
    uri = twofactor.provisioning_uri(secret, user.username)
    return render(request, "enrol.html", status_code=status_code, error=error, qr=twofactor.qr_svg(uri),
                  secret=secret, action="/securite/enrol" if signed_in else "/login/enrol",
                  user=signed_in.account if signed_in else None, csrf=signed_in.csrf if signed_in else None)


@login_router.get("/login/enrol", response_class=HTMLResponse)
def enrol_form(request: Request, session=Depends(db)):
    user = _pending(request, session)
    if user is None:
        return _expired_pending(request)
    if twofactor.enrolled(session, user):  # a password alone never replaces an enrolled second factor
        return RedirectResponse("/login/code", status_code=303)
    return _enrolment_page(request, session, user)


@login_router.post("/login/enrol")
def enrol_confirm(request: Request, code: Annotated[str, Form()], session=Depends(db)):
    user = _pending(request, session)
    if user is None:
        return _expired_pending(request)
    if twofactor.enrolled(session, user):
        return RedirectResponse("/login/code", status_code=303)
    codes = twofactor.confirm_enrolment(session, user, code, request.app.state.vault)
    if codes is None:
        audit(session, username=user.username, action="totp_failed")
        session.commit()
        return _enrolment_page(request, session, user, status_code=401, error="Code incorrect / wrong code")
    auth.close_pending(session, request.cookies.get(PENDING_COOKIE))
    audit(session, username=user.username, action="totp_enrol")
    audit(session, username=user.username, action="login")
    session.commit()
    token, csrf = auth.open_session(session, user)
    return _with_session(request, render(request, "recovery_codes.html", codes=codes, user=user, csrf=csrf), token)


@login_router.get("/securite", response_class=HTMLResponse)
def security_page(request: Request, reviewer: CurrentReviewer, session=Depends(db)):
    """An account signed in from the practice may enrol its second factor before working remotely."""
    if twofactor.enrolled(session, reviewer.account):
        return render(request, "enrol.html", enrolled=True, user=reviewer.account, csrf=reviewer.csrf, error=None)
    return _enrolment_page(request, session, reviewer.account, signed_in=reviewer)


@login_router.post("/securite/enrol")
def security_enrol(request: Request, reviewer: CheckedReviewer, code: Annotated[str, Form()], session=Depends(db)):
    codes = twofactor.confirm_enrolment(session, reviewer.account, code, request.app.state.vault)
    if codes is None:
        return _enrolment_page(request, session, reviewer.account, signed_in=reviewer, status_code=401,
                               error="Code incorrect / wrong code")
    audit(session, username=reviewer.username, action="totp_enrol")
    session.commit()
    return render(request, "recovery_codes.html", codes=codes, user=reviewer.account, csrf=reviewer.csrf)


@login_router.post("/logout")
def logout(request: Request, reviewer: CheckedReviewer, session=Depends(db)):
    audit(session, username=reviewer.username, action="logout")
    session.commit()
    auth.close_session(session, request.cookies.get(auth.SESSION_COOKIE))
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(auth.SESSION_COOKIE)
    return response
