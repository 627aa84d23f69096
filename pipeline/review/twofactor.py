"""Second factor: TOTP codes (RFC 6238, any authenticator app) with one-time recovery codes.

Mandatory for an account that logs in from outside the practice's networks (`review_local_networks`);
once enrolled, asked at every login. The secret is sealed in the database when the outbox is.
"""

from __future__ import annotations

import hashlib
import ipaddress
import secrets
import time

import pyotp
from sqlalchemy import select
from sqlalchemy.orm import Session

from pipeline.review.auth import clear_failures, code_keys
from pipeline.review.db import RecoveryCode, SecondFactor, User, utcnow
from pipeline.vault import Vault

ISSUER = "Dictée"
RECOVERY_CODES = 10
STEP_S = 30


def is_local(address: str | None, networks: list[str]) -> bool:
    """Whether a client address is inside the practice (loopback by default)."""
    if not address:
        return False
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False  # « testclient » and other names are not addresses
    return any(ip in ipaddress.ip_network(network, strict=False) for network in networks)


def _seal(secret: str, vault: Vault) -> str:
    return vault.seal(secret.encode()).decode("ascii")  # passes through without a key, as every file does


def _open(stored: str, vault: Vault) -> str:
    return vault.open(stored.encode("ascii")).decode()


def _digest(code: str) -> str:
    return hashlib.sha256(code.replace("-", "").strip().lower().encode()).hexdigest()


def enrolled(session: Session, user: User) -> bool:
    factor = session.get(SecondFactor, user.id)
    return factor is not None and factor.confirmed_at is not None


def start_enrolment(session: Session, user: User, vault: Vault) -> str:
    """A new secret, kept unconfirmed until a first code matches; the same one while enrolment is open."""
    factor = session.get(SecondFactor, user.id)
    if factor is not None and factor.confirmed_at is None:
        return _open(factor.secret, vault)
    if factor is not None:
        raise ValueError("double authentification déjà active / second factor already enrolled")
    secret = pyotp.random_base32()
    session.add(SecondFactor(user_id=user.id, secret=_seal(secret, vault)))
    session.commit()
    return secret


def provisioning_uri(secret: str, username: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=username, issuer_name=ISSUER)


def qr_svg(uri: str) -> str:
    """The enrolment QR code as inline SVG (no script, no external image: the CSP stays strict)."""
    import segno

    return segno.make(uri, error="m").svg_inline(scale=5, title="QR code TOTP")


def _matching_step(secret: str, code: str, at: float) -> int | None:
    """The time step `code` is valid for (this one, or one either side for clock drift)."""
    code = code.replace(" ", "").strip()
    if not (code.isdigit() and len(code) == 6):
        return None
    totp, now_step = pyotp.TOTP(secret), int(at // STEP_S)
    for step in (now_step, now_step - 1, now_step + 1):
        if secrets.compare_digest(totp.at(step * STEP_S), code):
            return step
    return None


def confirm_enrolment(session: Session, user: User, code: str, vault: Vault) -> list[str] | None:
    """The first code proves the app holds the secret: enrolment done, recovery codes returned
    (shown once; only their hashes are kept). None when the code does not match."""
    factor = session.get(SecondFactor, user.id)
    if factor is None or factor.confirmed_at is not None:
        return None
    step = _matching_step(_open(factor.secret, vault), code, time.time())
    if step is None:
        return None
    factor.confirmed_at, factor.last_step = utcnow(), step
    codes = [f"{secrets.token_hex(3)}-{secrets.token_hex(3)}" for _ in range(RECOVERY_CODES)]
    for stale in session.scalars(select(RecoveryCode).where(RecoveryCode.user_id == user.id)):
        session.delete(stale)
    session.add_all(RecoveryCode(user_id=user.id, code_hash=_digest(code_)) for code_ in codes)
    session.commit()
    return codes


def verify(session: Session, user: User, code: str, vault: Vault, *, totp: bool = True) -> str | None:
    """« totp » or « recovery » when `code` is a valid second factor (a TOTP code is taken once,
    a recovery code once ever), None otherwise. `totp=False`: recovery codes only (an account
    whose codes were guessed at too often)."""
    factor = session.get(SecondFactor, user.id)
    if factor is None or factor.confirmed_at is None:
        return None
    step = _matching_step(_open(factor.secret, vault), code, time.time()) if totp else None
    if step is not None and (factor.last_step is None or step > factor.last_step):
        factor.last_step = step
        session.commit()
        return "totp"
    digest = _digest(code)
    for recovery in session.scalars(select(RecoveryCode).where(RecoveryCode.user_id == user.id,
                                                                RecoveryCode.used_at.is_(None))):
        if secrets.compare_digest(recovery.code_hash, digest):
            recovery.used_at = utcnow()
            session.commit()
            return "recovery"
    return None


def reset(session: Session, user: User) -> None:
    """An admin clears a lost second factor: the account enrols again at its next login from
    outside; its count of wrong codes goes with it."""
    if (factor := session.get(SecondFactor, user.id)) is not None:
        session.delete(factor)
    clear_failures(session, code_keys(user))
    for recovery in session.scalars(select(RecoveryCode).where(RecoveryCode.user_id == user.id)):
        session.delete(recovery)
    session.commit()
