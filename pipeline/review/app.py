"""The review app factory: settings in, FastAPI app out (routes per resource in routes.py)."""

from __future__ import annotations

import logging
import re
from contextlib import asynccontextmanager
from html import escape
from importlib import resources

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from starlette.exceptions import HTTPException as StarletteHTTPException

from pipeline.review import routes
from pipeline.review.deps import JOB_ID, LoginRequired, unscoped_routes
from pipeline.review.accounts import accounts_router, statement_router
from pipeline.review.dictate import dictate_router
from pipeline.review.lexicon import lexicon_router
from pipeline.review.login import RETURN_COOKIE, login_router
from pipeline.review.audit import AuditAnchor
from pipeline.review.autosave import autosave_router
from pipeline.review.autotexts import autotext_router
from pipeline.review.batch import batch_router
from pipeline.review.working import Presence
from pipeline.review.db import make_sessionmaker
from pipeline.review.jobs import ReviewError
from pipeline.export import ExportQueue
from pipeline.files import keep_private, open_to_others, remove_dead_partials
from pipeline.settings import Settings
from pipeline.upload import forget_stale
from pipeline.vault import SealedWithoutKey

log = logging.getLogger("dictee.review")
ROUTERS = (login_router, dictate_router, routes.auth_router, routes.jobs_router, autosave_router, batch_router,
           autotext_router, lexicon_router, accounts_router, statement_router)
# A centre's practice: its drafts, dictations and practice pages; signing in and accounts are the centre's.
PRACTICE_ROUTERS = tuple(router for router in ROUTERS if router not in (login_router, accounts_router))
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; media-src 'self' blob:; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


HSTS = "max-age=31536000; includeSubDomains"
DRAFT_PATH = re.compile(rf"^/jobs/{JOB_ID}")  # where a login may send her back to, and nowhere else

ERROR_TITLES = {403: "Accès refusé", 404: "Introuvable", 405: "Action non permise", 409: "Conflit",
                422: "Saisie refusée", 500: "Erreur interne", 503: "Brouillons illisibles"}


def _error_page(status: int, detail: str) -> HTMLResponse:
    """A plain French page for every error, never a traceback; the security headers still apply."""
    title, detail = ERROR_TITLES.get(status, "Erreur"), routes.french_part(detail)
    body = (f"<!doctype html><html lang=fr><meta charset=utf-8><title>{title}</title>"
            f"<h1>{title} ({status})</h1><p>{escape(detail)}</p><p><a href=\"/\">Retour à la liste</a></p></html>")
    return HTMLResponse(body, status_code=status, headers=SECURITY_HEADERS)


def database_url(settings: Settings) -> str:
    return settings.database_url or f"sqlite:///{settings.outbox / 'dictee.db'}"


def audit_anchor(settings: Settings) -> AuditAnchor:
    """The audit chain's key and head file: `audit_key_file`, or the outbox's `.audit/` folder
    (keep it elsewhere, e.g. /etc/dictee, for a trail safe from whoever can write the outbox)."""
    return AuditAnchor.at(settings.audit_key_file or settings.outbox / ".audit" / "audit.key")


def review_sessions(settings: Settings):
    """The review database's sessions, their audit rows anchored outside it."""
    settings.outbox.mkdir(parents=True, exist_ok=True)
    return make_sessionmaker(database_url(settings), anchor=audit_anchor(settings))


def create_app(settings: Settings, *, centre=None, routers=None) -> FastAPI:
    """The desk of one practice; `centre` (centre.CentreLink): one practice of a centre's, who
    is asking said by the centre; `routers`: the centre's own pages instead (centre.py)."""
    routers = routers or (PRACTICE_ROUTERS if centre is not None else ROUTERS)
    keep_private()  # drafts, audio, the database: owner-only whatever the umask
    settings.outbox.mkdir(parents=True, exist_ok=True)
    if open_to_others(settings.outbox):
        log.warning("the outbox is readable by other accounts on this machine: chmod -R go-rwx it")
    sessions = review_sessions(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        yield
        for close in app.state.on_close:  # the practices' desks a centre mounts too: theirs never run
            close()

    app = FastAPI(title="Dictée — relecture", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan)
    app.state.settings = settings
    app.state.outbox = settings.store()  # a missing or misplaced key stops the app at start
    app.state.vault = app.state.outbox.vault  # for what the database keeps sealed (audit details, 2FA secrets)
    forget_stale(app.state.outbox)  # recordings a phone began days ago and never finished
    app.state.outbox.clear_dead_marks()  # transitions a killed desk left half-taken
    remove_dead_partials(app.state.outbox.work_folder())  # half-written files, export scratch of a killed desk
    app.state.exports = ExportQueue(settings, app.state.outbox)
    # An export under way finishes (none is cut off mid-file); pooled connections are closed.
    app.state.on_close = [app.state.exports.close, sessions.kw["bind"].dispose]
    app.state.centre = centre
    app.state.presence = Presence()
    app.state.sessions = sessions
    app.state.templates = Jinja2Templates(directory=str(resources.files("pipeline.review") / "templates"))
    app.state.templates.env.filters["fr"] = routes.french_part
    app.state.templates.env.filters["quand"] = routes.local_when
    app.state.templates.env.filters["attente"] = routes.waiting_time

    @app.middleware("http")
    async def security_headers(request: Request, call_next) -> Response:
        response = await call_next(request)
        response.headers.update(SECURITY_HEADERS)
        if request.url.scheme == "https":  # directly (--tls-cert) or behind a proxy that says so
            response.headers["Strict-Transport-Security"] = HSTS
        return response

    @app.exception_handler(LoginRequired)
    async def to_login(request: Request, exc: LoginRequired) -> Response:
        response = RedirectResponse("/login?expired=1" if exc.expired else "/login", status_code=303)
        # Back to the draft she was on once signed in again (its working copy waits there).
        root = request.scope.get("root_path", "")  # a centre's practice: its prefix stays in the way back
        if (back := DRAFT_PATH.match(request.url.path.removeprefix(root))) is not None:
            response.set_cookie(RETURN_COOKIE, root + back.group(0), httponly=True, samesite="strict",
                                secure=request.url.scheme == "https", max_age=3600)
        return response

    @app.exception_handler(StarletteHTTPException)
    async def error_page(request: Request, exc: StarletteHTTPException) -> Response:
        return _error_page(exc.status_code, str(exc.detail))

    @app.exception_handler(ReviewError)
    async def unknown_draft(request: Request, exc: ReviewError) -> Response:
        return _error_page(404, str(exc))  # an id that is not a draft's, from a reading route

    @app.middleware("http")
    async def server_error(request: Request, call_next) -> Response:
        # Caught here rather than by an exception handler, which Starlette re-raises for the
        # server to log with a traceback whose values (a NIR, a name) would reach the log.
        try:
            return await call_next(request)
        except Exception as exc:  # noqa: BLE001 — the type and job id only: messages may carry patient data
            log.error("request failed: %s (job %s)", type(exc).__name__,
                      request.scope.get("path_params", {}).get("job_id", "-"))
            return _error_page(500, "erreur interne, réessayez ou prévenez l'administrateur / internal error")

    @app.exception_handler(SealedWithoutKey)
    async def sealed(request: Request, exc: SealedWithoutKey) -> Response:
        return _error_page(503, str(exc))

    # Fails closed: never served with a route that reaches a draft without ScopedJob.
    if unscoped := unscoped_routes(route for router in routers for route in router.routes):
        raise RuntimeError(f"route(s) reaching a draft without ScopedJob: {', '.join(unscoped)}")
    for router in routers:
        app.include_router(router)
    return app
