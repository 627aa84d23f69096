"""Named users with argon2-hashed passwords, server-side sessions, and CSRF tokens."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from collections.abc import Collection

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from pipeline.review.db import (
    ROLES, DisabledUser, LoginSession, LoginThrottle, PendingLogin, PractitionerAccount, ServedFolder, User, utcnow,
)
from pipeline.review.passwords import password_problem

SESSION_COOKIE = "dictee_session"
SESSION_HOURS = 10  # a working day
_hasher = PasswordHasher()


class AuthError(Exception):
    pass


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _check_role(role: str) -> None:
    if role not in ROLES:
        raise AuthError(f"rôle inconnu / unknown role: {role} ({', '.join(ROLES)})")


def _check_password(password: str, username: str) -> None:
    if problem := password_problem(password, username=username):
        raise AuthError(problem)


def add_user(session: Session, username: str, password: str, role: str) -> User:
    _check_role(role)
    _check_password(password, username)
    if session.scalar(select(User).where(User.username == username)):
        raise AuthError(f"l'utilisateur existe déjà / user already exists: {username}")
    user = User(username=username, password_hash=_hasher.hash(password), role=role)
    session.add(user)
    session.commit()
    return user


def authenticate(session: Session, username: str, password: str) -> User | None:
    user = session.scalar(select(User).where(User.username == username))
    try:
        if user is None:
            _hasher.hash(password)  # same work either way: no user enumeration by timing
            return None
        _hasher.verify(user.password_hash, password)
        return None if is_disabled(session, user) else user
    except (VerificationError, InvalidHashError):
        return None


def is_disabled(session: Session, user: User) -> bool:
    return session.get(DisabledUser, user.id) is not None


def find_user(session: Session, username: str) -> User:
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        raise AuthError(f"compte inconnu / unknown account: {username}")
    return user


def users(session: Session) -> list[tuple[User, bool]]:
    """Every account, with whether it is disabled."""
    return [(user, is_disabled(session, user)) for user in session.scalars(select(User).order_by(User.username))]


def close_all_sessions(session: Session, user: User) -> None:
    """Its sessions, and its logins half done (password given, code still to come)."""
    for login in session.scalars(select(LoginSession).where(LoginSession.user_id == user.id)):
        session.delete(login)
    for pending in session.scalars(select(PendingLogin).where(PendingLogin.user_id == user.id)):
        session.delete(pending)


def set_disabled(session: Session, username: str, disabled: bool) -> User:
    """Disable (its open sessions end at once) or enable again an account."""
    user = find_user(session, username)
    if disabled and not is_disabled(session, user):
        session.add(DisabledUser(user_id=user.id))
        close_all_sessions(session, user)
    elif not disabled and (mark := session.get(DisabledUser, user.id)) is not None:
        session.delete(mark)
    session.commit()
    return user


def reset_password(session: Session, username: str, password: str) -> User:
    """A new password under the same policy; the account's open sessions end."""
    user = find_user(session, username)
    _check_password(password, username)
    user.password_hash = _hasher.hash(password)
    close_all_sessions(session, user)
    session.commit()
    return user


def set_role(session: Session, username: str, role: str) -> User:
    _check_role(role)
    user = find_user(session, username)
    user.role = role
    close_all_sessions(session, user)  # the next login carries the new rights
    session.commit()
    return user


MAIN_LETTERHEAD = "."  # what the console calls the practice's main practitioner (no inbox folder)


def set_practitioner(session: Session, username: str, folder: str, known_folders: Collection[str]) -> User:
    """Link a practitioner's account to the practitioner it signs for: an inbox folder of the
    settings' `practitioners`, or "." for the practice's main letterhead."""
    user = find_user(session, username)
    if user.role != "practitioner":
        raise AuthError(f"{username} n'a pas le rôle praticien / is not a practitioner (dictee users set-role)")
    stored = "" if folder == MAIN_LETTERHEAD else folder
    if stored and stored not in known_folders:
        choices = ", ".join([MAIN_LETTERHEAD, *sorted(known_folders)])
        raise AuthError(f"praticien inconnu / unknown practitioner: {folder} ({choices})")
    link = session.get(PractitionerAccount, user.id)
    if link is None:
        session.add(PractitionerAccount(user_id=user.id, folder=stored))
    else:
        link.folder = stored
    session.commit()
    return user


def set_served(session: Session, username: str, folders: Collection[str], known_folders: Collection[str]) -> User:
    """The practitioners (inbox folders, "." the main letterhead) an account serves; none: all."""
    user = find_user(session, username)
    stored = {"" if folder == MAIN_LETTERHEAD else folder for folder in folders}
    unknown = sorted(stored - set(known_folders) - {""})
    if unknown:
        choices = ", ".join([MAIN_LETTERHEAD, *sorted(known_folders)])
        raise AuthError(f"praticien inconnu / unknown practitioner: {', '.join(unknown)} ({choices})")
    for row in session.scalars(select(ServedFolder).where(ServedFolder.user_id == user.id)):
        session.delete(row)
    session.flush()
    session.add_all(ServedFolder(user_id=user.id, folder=folder) for folder in stored)
    close_all_sessions(session, user)  # the next login carries the new scope
    session.commit()
    return user


def served_folders(session: Session, user: User) -> frozenset[str] | None:
    """The inbox folders whose letters this account may open ("" the main one); None: all."""
    folders = frozenset(session.scalars(select(ServedFolder.folder).where(ServedFolder.user_id == user.id)))
    return folders or None


def practitioner_folder(session: Session, user: User) -> str | None:
    """The folder this account signs for ("" for the main letterhead), None if it signs for no one."""
    link = session.get(PractitionerAccount, user.id) if user.role == "practitioner" else None
    return None if link is None else link.folder


def open_session(session: Session, user: User) -> tuple[str, str]:
    """(cookie token, csrf token). Only the token's hash is stored."""
    token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    now = utcnow()
    session.add(LoginSession(token_hash=_digest(token), user_id=user.id, csrf_token=csrf,
                             expires_at=now + dt.timedelta(hours=SESSION_HOURS), last_seen_at=now))
    session.commit()
    return token, csrf


SEEN_EVERY_S = 15  # how often a busy session's last activity is written


class IdleExpired(Exception):
    """The session was left idle too long: closed, the person logs in again."""

    def __init__(self, username: str) -> None:
        self.username = username


def user_for_token(session: Session, token: str | None, *, idle: dt.timedelta | None = None
                   ) -> tuple[User, LoginSession] | None:
    """The session's account; with `idle`, a session unused that long is closed (IdleExpired)."""
    if not token:
        return None
    login = session.get(LoginSession, _digest(token))
    now = utcnow()
    if login is None or login.expires_at < now:
        return None
    user = session.get(User, login.user_id)
    if user is None or is_disabled(session, user):  # checked at every request, not only at login
        session.delete(login)
        session.commit()
        return None
    if idle is not None and login.last_seen_at is not None and now - login.last_seen_at > idle:
        session.delete(login)
        session.commit()
        raise IdleExpired(user.username)
    if login.last_seen_at is None or (now - login.last_seen_at).total_seconds() > SEEN_EVERY_S:
        login.last_seen_at = now
        session.commit()
    return user, login


PENDING_MINUTES = 5  # between the password and the second factor


def open_pending(session: Session, user: User) -> str:
    """The password is right; the second factor (or its enrolment) is still to come."""
    token = secrets.token_urlsafe(32)
    session.add(PendingLogin(token_hash=_digest(token), user_id=user.id,
                             expires_at=utcnow() + dt.timedelta(minutes=PENDING_MINUTES)))
    session.commit()
    return token


def pending_user(session: Session, token: str | None) -> User | None:
    pending = session.get(PendingLogin, _digest(token)) if token else None
    if pending is None or pending.expires_at < utcnow():
        return None
    user = session.get(User, pending.user_id)
    return None if user is None or is_disabled(session, user) else user


def close_pending(session: Session, token: str | None) -> None:
    if token and (pending := session.get(PendingLogin, _digest(token))):
        session.delete(pending)
        session.commit()


def close_session(session: Session, token: str | None) -> None:
    if token and (login := session.get(LoginSession, _digest(token))):
        session.delete(login)
        session.commit()


def csrf_matches(login: LoginSession, submitted: str | None) -> bool:
    return bool(submitted) and secrets.compare_digest(login.csrf_token, submitted)


# Throttling (CNIL: slow down repeated failures, then lock for a while): the first FREE_FAILURES
# failures cost nothing, then each one doubles the wait, up to MAX_WAIT_S. An attempt is counted
# before it is checked, atomically, so a burst of simultaneous tries is counted whole.
FREE_FAILURES = 3
FIRST_WAIT_S = 2
MAX_WAIT_S = 15 * 60
# Wrong second-factor codes since the last right one, counted apart from passwords (a right
# password must not reset them); past this, only a recovery code or an admin opens the account.
MAX_CODE_FAILURES = 10


def throttle_keys(session: Session, username: str, address: str | None) -> tuple[str, ...]:
    """Per account (hashed: the typed name may be a patient's or a password). Per address only
    for names that are no account: an office behind one address is not locked out because
    someone there, or an attacker, mistyped another account's password."""
    name = username.strip().lower()
    keys = [f"user:{_digest(name)}"]
    known = session.scalar(select(User.id).where(func.lower(User.username) == name)) is not None
    if address and not known:
        keys.append(f"addr:{address}")
    return tuple(keys)


def code_keys(user: User) -> tuple[str, ...]:
    return (f"code:{user.id}",)


def _wait_for(failures: int) -> int:
    extra = failures - FREE_FAILURES
    return min(FIRST_WAIT_S * 2 ** (extra - 1), MAX_WAIT_S) if extra > 0 else 0


def take_attempt(session: Session, keys: tuple[str, ...]) -> int:
    """Count one attempt against each key, then say whether it may be checked: 0 if so, else
    the seconds to wait. Counted first and atomically (the row is written before it is read,
    which holds the row for this transaction), so 30 simultaneous tries are 30 counted, not 15.
    The count stands until `clear_failures` (a success)."""
    now, longest = utcnow(), 0
    for key in keys:
        updated = session.execute(update(LoginThrottle).where(LoginThrottle.key == key)
                                  .values(failures=LoginThrottle.failures + 1))
        if updated.rowcount == 0:
            try:
                with session.begin_nested():
                    session.add(LoginThrottle(key=key, failures=1))
            except IntegrityError:  # another attempt made the row first: count on it
                session.execute(update(LoginThrottle).where(LoginThrottle.key == key)
                                .values(failures=LoginThrottle.failures + 1))
        row = session.execute(select(LoginThrottle).where(LoginThrottle.key == key)
                              .execution_options(populate_existing=True)).scalar_one()
        if row.locked_until and row.locked_until > now:
            longest = max(longest, int((row.locked_until - now).total_seconds()) + 1)
            continue
        if wait := _wait_for(row.failures):
            row.locked_until = now + dt.timedelta(seconds=wait)  # the next attempt waits this long
    session.commit()
    return longest


def failures_of(session: Session, keys: tuple[str, ...]) -> int:
    return max((row.failures for key in keys if (row := session.get(LoginThrottle, key))), default=0)


def clear_failures(session: Session, keys: tuple[str, ...]) -> None:
    for key in keys:
        if (row := session.get(LoginThrottle, key)) is not None:
            session.delete(row)
