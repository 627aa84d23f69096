"""Named users with argon2-hashed passwords, server-side sessions, and CSRF tokens."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from pipeline.review.db import ROLES, LoginSession, User, utcnow

SESSION_COOKIE = "dictee_session"
SESSION_HOURS = 10  # a working day
_hasher = PasswordHasher()


class AuthError(Exception):
    pass


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def add_user(session: Session, username: str, password: str, role: str) -> User:
    if role not in ROLES:
        raise AuthError(f"rôle inconnu / unknown role: {role} ({', '.join(ROLES)})")
    if len(password) < 10:
        raise AuthError("mot de passe trop court (10 caractères minimum) / password too short (10 characters minimum)")
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
        return user
    except (VerificationError, InvalidHashError):
        return None


def open_session(session: Session, user: User) -> tuple[str, str]:
    """(cookie token, csrf token). Only the token's hash is stored."""
    token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    session.add(LoginSession(token_hash=_digest(token), user_id=user.id, csrf_token=csrf,
                             expires_at=utcnow() + dt.timedelta(hours=SESSION_HOURS)))
    session.commit()
    return token, csrf


def user_for_token(session: Session, token: str | None) -> tuple[User, LoginSession] | None:
    if not token:
        return None
    login = session.get(LoginSession, _digest(token))
    if login is None or login.expires_at < utcnow():
        return None
    return session.get(User, login.user_id), login


def close_session(session: Session, token: str | None) -> None:
    if token and (login := session.get(LoginSession, _digest(token))):
        session.delete(login)
        session.commit()


def csrf_matches(login: LoginSession, submitted: str | None) -> bool:
    return bool(submitted) and secrets.compare_digest(login.csrf_token, submitted)
