"""One desk for a télésecrétariat centre: its own accounts, and each practice's desk under
/p/<practice>/ (pipeline/practices.py).

Each practice's desk is the practice desk itself (`create_app`) with its own outbox, key,
review database and audit trail; only who is asking comes from the centre: the centre's
accounts, sessions and second factors live in the centre's own database, and an account reaches
a practice it is granted (`dictee practices grant`), inside it only the practitioners the grant
names. Any other practice answers 404 on every route, as if it did not exist. The centre's
first page is one worklist across the practices granted: urgent first, then oldest.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, FastAPI, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from starlette.concurrency import run_in_threadpool
from starlette.routing import Mount
from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from pipeline import store
from pipeline.errors import DicteeError
from pipeline.practices import CENTRE_DESK, Centre, Practice
from pipeline.review import auth
from pipeline.review.db import DisabledUser, Job, PracticeGrant, User, audit
from pipeline.review.deps import (CheckedReviewer, CurrentReviewer, LoginRequired, Reviewer, require_admin,
                                  signed_in_account)
from pipeline.settings import Settings

log = logging.getLogger("dictee.review")
PREFIX = "/p"
NO_PRACTICE = "introuvable / not found"
CENTRE_PASSWORD = "!centre"  # what a practice's copy of a centre account holds: never a password
ALL = "*"  # a grant without folders: every practitioner of the practice
REGISTER_CHECK_S = 5.0  # how often the running desk looks for practices added, enabled or disabled


class GrantError(DicteeError):
    pass


def desk_settings(installation: Settings, centre: Centre) -> Settings:
    """The centre's own desk: its accounts and their sign-in trail, kept in the centre folder
    (or the installation's database_url), never in a practice's."""
    return installation.model_copy(update={"outbox": centre.folder / CENTRE_DESK})


# --- grants -----------------------------------------------------------------------------------

def grants_of(session: Session, user: User) -> dict[str, frozenset[str] | None]:
    """practice id → the inbox folders granted there ("" the main one), None for all of them."""
    granted: dict[str, set[str] | None] = {}
    for row in session.scalars(select(PracticeGrant).where(PracticeGrant.user_id == user.id)):
        if row.folder == ALL:
            granted[row.practice_id] = None
        elif granted.get(row.practice_id, set()) is not None:
            granted.setdefault(row.practice_id, set()).add(row.folder)
    return {practice: None if folders is None else frozenset(folders) for practice, folders in granted.items()}


def described_grants(session: Session, user: User, names: dict[str, str]) -> str:
    """« cab-a, cab-b (dupont, .) »: the practices an account is granted, by name, with the
    practitioners where not all of them."""
    return ", ".join(sorted(names.get(practice_id, practice_id) + ("" if folders is None else " (" + ", ".join(
        sorted(folder or auth.MAIN_LETTERHEAD for folder in folders)) + ")")
        for practice_id, folders in grants_of(session, user).items())) or "aucun cabinet / none"


def grant(session: Session, username: str, practice: Practice, folders: list[str], *,
          known_folders: dict) -> None:
    """`username` reaches `practice`: its practitioners `folders` ("." the main one), none for all.
    A practitioner belongs to one practice and is granted the one practitioner he signs as."""
    user = auth.find_user(session, username)
    granted = grants_of(session, user)
    if user.role == "practitioner":
        if any(practice_id != practice.id for practice_id in granted):
            raise GrantError("un praticien appartient à un seul cabinet / a practitioner belongs to one practice only")
        if len(folders) != 1:
            raise GrantError("un praticien : le dossier de celui qu'il signe (ou .) / a practitioner: the one folder "
                             "he signs as (or .)")
    named = ["" if folder == auth.MAIN_LETTERHEAD else folder for folder in folders]
    unknown = sorted(folder for folder in named if folder and folder not in known_folders)
    if unknown:
        raise GrantError(f"praticien(s) inconnu(s) de {practice.name} / unknown practitioner folder(s): "
                         f"{', '.join(name[:64] for name in unknown)}")
    if user.role == "practitioner":
        auth.set_practitioner(session, username, folders[0], known_folders=known_folders)
    session.execute(delete(PracticeGrant).where(PracticeGrant.user_id == user.id,
                                                PracticeGrant.practice_id == practice.id))
    for folder in sorted(set(named)) or [ALL]:
        session.add(PracticeGrant(user_id=user.id, practice_id=practice.id, folder=folder))
    auth.close_all_sessions(session, user)  # the next sign-in carries the new scope


def revoke(session: Session, username: str, practice: Practice) -> bool:
    user = auth.find_user(session, username)
    gone = session.execute(delete(PracticeGrant).where(PracticeGrant.user_id == user.id,
                                                       PracticeGrant.practice_id == practice.id))
    auth.close_all_sessions(session, user)
    return bool(gone.rowcount)


# --- who is asking, inside a practice's desk ---------------------------------------------------

@dataclass(frozen=True)
class CentreLink:
    """What a practice's desk mounted in a centre asks the centre: who is signed in, and
    whether this practice is theirs."""

    accounts: sessionmaker[Session]
    practice: Practice
    idle: dt.timedelta  # the centre's session_idle_minutes: the session is the centre's

    def signed_in(self, request: Request) -> tuple[User, object, frozenset[str] | None, str | None]:
        """The centre's account asking, its session, the folders of this practice it is granted
        and whom it signs as; LoginRequired, or 404 for a practice that is not its own."""
        with self.accounts() as accounts:
            account, login = signed_in_account(accounts, request, self.idle)
            folders = grants_of(accounts, account)
            if self.practice.id not in folders:
                raise HTTPException(status_code=404, detail=NO_PRACTICE)  # not said to exist
            return account, login, folders[self.practice.id], auth.practitioner_folder(accounts, account)

    def reviewer(self, request: Request) -> Reviewer:
        account, login, folders, signs_for = self.signed_in(request)
        if key_gone(request.app.state.settings):  # taken away while the desk runs: closed at once
            raise HTTPException(status_code=503, detail=key_missing(self.practice))
        with request.app.state.sessions() as session:
            local = practice_copy(session, account)
        return Reviewer(local, login, folders, signs_for)


def key_gone(settings: Settings) -> bool:
    """The practice's key file is no longer there (a practice leaving the centre, a mistake)."""
    return settings.encryption_key_file is not None and not settings.encryption_key_file.expanduser().is_file()


def key_missing(practice: Practice) -> str:
    return (f"la clé de chiffrement du cabinet {practice.name} est introuvable ou illisible : ses courriers ne "
            f"peuvent pas être ouverts ; l'administrateur du centre doit la remettre en place / the practice's "
            f"encryption key is missing or unreadable")


def copy_name(account: User) -> str:
    """How a centre account is named in a practice's database and trail: never one of the
    practice's own accounts (the centre's id makes it unique, whatever the practice has)."""
    return f"{account.username[:60]} (centre #{account.id})"


def practice_copy(session: Session, account: User) -> User:
    """The practice's own row for a centre account, so that what its database records about her
    (her dictations, her drafts' history) refers to a row of its own; it holds no password and is
    disabled, so it never signs in to the practice's desk served alone; its role is the centre's."""
    name = copy_name(account)
    local = session.scalar(select(User).where(User.username == name))
    if local is None:
        local = User(username=name, password_hash=CENTRE_PASSWORD, role=account.role)
        session.add(local)
        session.flush()
        session.add(DisabledUser(user_id=local.id))
        session.commit()
    elif local.password_hash != CENTRE_PASSWORD:  # a practice account by that very name: never taken for hers
        raise HTTPException(status_code=409, detail="un compte du cabinet porte ce nom / a practice account has this name")
    elif local.role != account.role:
        local.role = account.role  # changed at the centre
        session.commit()
    return local


# --- the centre's pages -------------------------------------------------------------------------

centre_router = APIRouter()


@dataclass(frozen=True)
class Served:
    """A practice as the centre serves it: its desk, or why it cannot be opened."""

    practice: Practice
    desk: FastAPI | None
    problem: str | None = None


@dataclass(frozen=True)
class CentreItem:
    practice: Practice
    item: object  # worklist.WorkItem

    @property
    def url(self) -> str:
        return f"{PREFIX}/{self.practice.name}/jobs/{self.item.job.job_id}"


@dataclass(frozen=True)
class PracticeFigures:
    practice: Practice
    to_review: int
    to_sign: int
    waiting: int
    turnaround_h: float | None
    problem: str | None = None


def _served_to(request: Request, reviewer: Reviewer) -> tuple[list[Served], dict[str, frozenset[str] | None]]:
    with request.app.state.sessions() as session:
        folders = grants_of(session, reviewer.account)
    return [served for served in request.app.state.practices if served.practice.id in folders], folders


def combined_worklist(request: Request, reviewer: Reviewer, *, state: str, practice_name: str = ""
                      ) -> tuple[list[CentreItem], list[PracticeFigures]]:
    """Her practices' drafts together, urgent first then oldest, each with its practice; and
    each practice's figures apart."""
    from pipeline.review import worklist

    items, figures = [], []
    served, folders = _served_to(request, reviewer)
    for one in served:
        if one.desk is None or key_gone(one.desk.state.settings):
            figures.append(PracticeFigures(one.practice, 0, 0, 0, None, one.problem or "illisible / unreadable"))
            continue
        outbox, settings = one.desk.state.outbox, one.desk.state.settings
        granted = folders[one.practice.id]
        with one.desk.state.sessions() as session:
            worklist.sync_jobs(session, outbox)
            if not practice_name or practice_name == one.practice.name:
                items += [CentreItem(one.practice, item) for item in worklist.worklist(
                    session, outbox, state=state, folders=granted,
                    first_folder=reviewer.signs_for if reviewer.role == "practitioner" else None)]
            jobs = [job for job in session.scalars(select(Job))
                    if granted is None or job.folder in granted]
        waiting = worklist.waiting_in_inbox(settings)
        figures.append(PracticeFigures(
            one.practice, *worklist.load_of_jobs(jobs),
            sum(1 for _, folder in waiting if granted is None or folder in granted),
            worklist.filed_turnaround_h(jobs)))
    never = dt.datetime.max
    items.sort(key=lambda entry: (-entry.item.job.priority, entry.item.job.received_at or never))
    return items, figures


@centre_router.get("/", response_class=HTMLResponse)
def centre_worklist(request: Request, reviewer: CurrentReviewer, state: str = "", cabinet: str = ""):
    from pipeline.review.routes import render

    state = state if state in (store.STATE_PENDING, store.TO_SIGN) else \
        (store.TO_SIGN if reviewer.role == "practitioner" else store.STATE_PENDING)
    items, figures = combined_worklist(request, reviewer, state=state, practice_name=cabinet[:40])
    own = [figure.practice.name for figure in figures] if reviewer.role == "practitioner" else []
    extra = {"dictate_at": f"{PREFIX}/{own[0]}/dicter"} if own else {}
    return render(request, "centre.html", user=reviewer.account, csrf=reviewer.csrf, items=items, figures=figures,
                  state=state, cabinet=cabinet[:40], centre_page=True, **extra)


@centre_router.get("/suivant")
def centre_next(request: Request, reviewer: CurrentReviewer, cabinet: str = ""):
    """« Suivant » across practices: the first draft of her combined worklist, in its order."""
    state = store.TO_SIGN if reviewer.role == "practitioner" else store.STATE_PENDING
    items, _ = combined_worklist(request, reviewer, state=state, practice_name=cabinet[:40])
    return RedirectResponse(items[0].url if items else "/", status_code=303)


MAX_GRANTED_FOLDERS = 64  # practitioners named in one grant from the desk: more is no form of ours


@dataclass(frozen=True)
class GrantChoice:
    """A practice on the accounts page: the practitioners a grant there may name."""

    practice: Practice
    practitioners: list[tuple[str, str]]  # (folder, « . » the main one; who he is)


def grant_choices(request: Request) -> list[GrantChoice]:
    """Each practice the centre serves, with its practitioners as its settings name them now."""
    choices = []
    for served in request.app.state.practices:
        known = _known_practitioners(request.app.state.register, served.practice)
        choices.append(GrantChoice(served.practice, [(auth.MAIN_LETTERHEAD, "praticien principal")] + sorted(
            (folder, practitioner.name) for folder, practitioner in (known or {}).items())))
    return choices


def _known_practitioners(centre: Centre, practice: Practice) -> dict | None:
    try:
        return centre.settings(practice).practitioners
    except DicteeError:  # its settings unreadable: only the whole practice or its main practitioner
        return None


@centre_router.post("/comptes/{username}/cabinets/{practice_name}")
def account_practice(request: Request, reviewer: CheckedReviewer, username: str, practice_name: str,
                     action: Annotated[str, Form()], folders: Annotated[list[str], Form()] = []):
    """The admin grants an account a practice (its practitioners ticked, none for all) or takes
    it away, as `dictee practices grant|revoke` does at the console; in the centre's trail."""
    require_admin(reviewer)
    if username == reviewer.username:
        raise HTTPException(status_code=409, detail="pas sur votre propre compte / not on your own account")
    practice = next((served.practice for served in request.app.state.practices
                     if served.practice.name == practice_name), None)
    if practice is None:
        raise HTTPException(status_code=404, detail="cabinet inconnu / unknown practice")
    if len(folders) > MAX_GRANTED_FOLDERS or any(len(folder) > 64 for folder in folders):
        raise HTTPException(status_code=422, detail="praticiens refusés / practitioners refused")
    with request.app.state.sessions() as session:
        try:
            auth.find_user(session, username)
        except auth.AuthError:
            raise HTTPException(status_code=404, detail="compte inconnu / unknown account") from None
        try:
            if action == "grant":
                known = _known_practitioners(request.app.state.register, practice) or {}
                grant(session, username, practice, sorted(set(folders)), known_folders=known)
                detail = {"folders": sorted(set(folders))}
            elif action == "revoke":
                revoke(session, username, practice)
                detail = {}
            else:
                raise HTTPException(status_code=422, detail="action inconnue / unknown action")
        except (GrantError, auth.AuthError) as error:
            raise HTTPException(status_code=422, detail=str(error)) from None
        audit(session, username=reviewer.username, action=f"practice_{action}", account=username,
              practice=practice.id, **detail)
        session.commit()
    return RedirectResponse("/comptes", status_code=303)


def unavailable_desk(practice: Practice, problem: DicteeError, link: CentreLink) -> FastAPI:
    """A practice whose desk cannot be opened (its key gone): to those it is granted, every route
    says so in both languages; to others it does not exist; the other practices work on."""
    from pipeline.review.app import _error_page
    from pipeline.vault import KeyProblem

    said = key_missing(practice) if isinstance(problem, KeyProblem) else \
        (f"les réglages du cabinet {practice.name} ne peuvent pas être lus / the practice's settings cannot be read")
    desk = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)

    @desk.api_route("/{anything:path}", methods=["GET", "POST", "PUT"])
    def closed(request: Request, anything: str):
        try:
            link.signed_in(request)
        except LoginRequired:
            return RedirectResponse("/login", status_code=303)
        except HTTPException as refused:
            return _error_page(refused.status_code, str(refused.detail))
        return _error_page(503, said)

    return desk


def create_centre_app(installation: Settings, centre: Centre) -> FastAPI:
    """The centre's desk: sign-in, accounts and the combined worklist at the root, each active
    practice's desk under /p/<name>/ (or a page saying why it cannot be opened). A practice added
    or enabled while it runs is served within seconds, one disabled is no longer served: no restart."""
    from pipeline.review.accounts import accounts_router
    from pipeline.review.app import create_app
    from pipeline.review.login import login_router

    app = create_app(desk_settings(installation, centre), routers=(login_router, accounts_router, centre_router))
    app.state.practices, app.state.register = [], centre
    app.state.register_lock, app.state.register_checked = threading.Lock(), time.monotonic()
    for practice in centre.active():
        _serve(app, centre, practice)

    @app.middleware("http")
    async def follow_the_register(request: Request, call_next):
        if time.monotonic() - app.state.register_checked >= REGISTER_CHECK_S:
            await run_in_threadpool(follow_register, app, centre)  # a file read, and a new desk's opening
        return await call_next(request)

    return app


def follow_register(app: FastAPI, centre: Centre) -> None:
    """Serve what the register says now: practices added or enabled since are mounted, those
    disabled or removed since are taken down (their drafts stay on disk)."""
    with app.state.register_lock:
        if time.monotonic() - app.state.register_checked < REGISTER_CHECK_S:
            return  # another request did it meanwhile
        try:
            active = {practice.id: practice for practice in centre.active()}
        except DicteeError as error:  # the register being rewritten, or damaged: keep serving as is
            log.error("practice register unreadable: %s", type(error).__name__)
            return
        finally:
            app.state.register_checked = time.monotonic()
        for served in list(app.state.practices):
            if served.practice.id not in active:
                mount_path = f"{PREFIX}/{served.practice.name}"
                # A new list: a request being routed meanwhile goes on through the old one.
                app.router.routes = [route for route in app.router.routes
                                     if not (isinstance(route, Mount) and route.path == mount_path)]
                app.state.practices.remove(served)
                log.info("practice %s no longer served", served.practice.id)
        served_ids = {served.practice.id for served in app.state.practices}
        for practice in active.values():
            if practice.id not in served_ids:
                _serve(app, centre, practice)
                log.info("practice %s served", practice.id)


def _serve(app: FastAPI, centre: Centre, practice: Practice) -> None:
    from pipeline.review.app import create_app

    link = CentreLink(app.state.sessions, practice, dt.timedelta(minutes=app.state.settings.session_idle_minutes))
    try:
        desk = create_app(centre.checked_settings(practice), centre=link)
        served = Served(practice, desk)
        app.state.on_close += desk.state.on_close  # a mounted app's own shutdown never runs
    except DicteeError as error:
        log.error("practice %s cannot be served: %s", practice.id, type(error).__name__)
        desk = unavailable_desk(practice, error, link)
        served = Served(practice, None, "illisible / unreadable")
    app.mount(f"{PREFIX}/{practice.name}", desk)
    app.state.practices.append(served)
