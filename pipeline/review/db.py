"""Review state in a real database through SQLAlchemy: SQLite by default, PostgreSQL by URL.

Tables: users, sessions, jobs (one row per drafted dictation, its state and timings), and
an append-only audit trail. Patient data stays in the outbox files and the audit detail,
never in the application log; with encryption on, the audit detail is sealed too.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
from typing import Iterator

from sqlalchemy import (
    JSON, DateTime, ForeignKey, Integer, String, Text, create_engine, event, func, inspect, select, text, update,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

from pipeline.vault import PLAIN, Vault

ROLES = ("secretary", "practitioner", "admin")
ROLE_LABELS = {"secretary": "secrétaire", "practitioner": "praticien", "admin": "administrateur"}
# Audit actions as the desk shows them (the trail itself keeps the short English codes).
AUDIT_LABELS = {
    "view": "consulté", "listen": "écouté", "download": "téléchargé", "edit": "modifié",
    "submit": "transmis pour signature", "sign": "signé et classé", "approve": "approuvé et classé",
    "reject": "renvoyé au praticien", "send_back": "renvoyé pour correction", "reopen": "remis à relire", "preview": "aperçu ouvert", "autotext_add": "autotexte ajouté", "autotext_remove": "autotexte retiré",
    "login": "connexion", "logout": "déconnexion", "login_failed": "connexion refusée", "statement": "relevé mensuel",
    "login_throttled": "connexion retardée", "lexicon_remove": "mot retiré du lexique",
    "user_add": "compte créé", "user_disable": "compte désactivé", "user_enable": "compte réactivé",
    "user_reset_password": "mot de passe changé", "user_set_role": "rôle changé",
    "user_set_practitioner": "praticien relié", "identity_choose": "patient choisi dans le registre",
    "correspondent_choose": "correspondant choisi dans le carnet d'adresses",
    "totp_enrol": "double authentification activée", "totp_ok": "second facteur vérifié",
    "totp_failed": "second facteur refusé", "recovery_used": "code de secours utilisé",
    "totp_reset": "double authentification réinitialisée", "session_expired": "session expirée (inactivité)",
    "user_serve": "praticiens servis changés", "dictation_upload": "dictée envoyée depuis le navigateur",
    "practice_grant": "cabinet accordé", "practice_revoke": "cabinet retiré",
}
STATES = ("pending_review", "filed", "rejected")


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(80), unique=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class DisabledUser(Base):
    """An account an admin disabled: it keeps its name in the audit trail but cannot log in.
    A table of its own, so databases made before it need no migration."""

    __tablename__ = "disabled_users"
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class PractitionerAccount(Base):
    """The practitioner a practitioner's account signs for: their inbox folder, "" for the
    practice's main letterhead. A table of its own, so databases made before it need no migration."""

    __tablename__ = "practitioner_accounts"
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)
    folder: Mapped[str] = mapped_column(String(80))


class LoginSession(Base):
    __tablename__ = "sessions"
    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    csrf_token: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime)
    last_seen_at: Mapped[dt.datetime | None] = mapped_column(DateTime)  # for the idle timeout


class ServedFolder(Base):
    """The practitioners (inbox folders, "" the main one) an account serves: it sees, hears, edits
    and exports their letters only. An account with none serves the whole practice."""

    __tablename__ = "served_folders"
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)
    folder: Mapped[str] = mapped_column(String(80), primary_key=True)


class PracticeGrant(Base):
    """A centre's account granted a practice (pipeline/review/centre.py): one row per inbox folder
    of it the account serves ("" the main one), or "*" for all of them. Only in a centre's database."""

    __tablename__ = "practice_grants"
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)
    practice_id: Mapped[str] = mapped_column(String(16), primary_key=True)
    folder: Mapped[str] = mapped_column(String(80), primary_key=True)


class SecondFactor(Base):
    """An account's TOTP secret (sealed when the outbox is), confirmed once a first code matched."""

    __tablename__ = "second_factors"
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)
    secret: Mapped[str] = mapped_column(Text)
    confirmed_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    last_step: Mapped[int | None] = mapped_column(Integer)  # a code is accepted once


class RecoveryCode(Base):
    __tablename__ = "recovery_codes"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    code_hash: Mapped[str] = mapped_column(String(64))
    used_at: Mapped[dt.datetime | None] = mapped_column(DateTime)


class PendingLogin(Base):
    """A password checked, the second factor (or its enrolment) still to come."""

    __tablename__ = "pending_logins"
    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime)


class BrowserDictation(Base):
    """A recording sent from the « Dicter » page, so its practitioner follows it before it is drafted."""

    __tablename__ = "browser_dictations"
    job_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    uploaded_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class LoginThrottle(Base):
    """Failed logins per account and per address: each failure past a few doubles the wait."""

    __tablename__ = "login_throttle"
    key: Mapped[str] = mapped_column(String(200), primary_key=True)  # "user:<sha256>" or "addr:<ip>"
    failures: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[dt.datetime | None] = mapped_column(DateTime)


class Job(Base):
    __tablename__ = "jobs"
    job_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    state: Mapped[str] = mapped_column(String(20), default="pending_review")
    priority: Mapped[int] = mapped_column(Integer, default=0)  # higher first
    received_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    drafted_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    decided_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    decided_by: Mapped[str | None] = mapped_column(String(80))
    comment: Mapped[str | None] = mapped_column(Text)
    folder: Mapped[str | None] = mapped_column(String(80))  # its practitioner's inbox folder, "" the main one


class AuditEvent(Base):
    __tablename__ = "audit"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    username: Mapped[str] = mapped_column(String(80))
    action: Mapped[str] = mapped_column(String(40))
    job_id: Mapped[str | None] = mapped_column(String(32))
    detail: Mapped[dict] = mapped_column(JSON, default=dict)
    # Each row is chained to the one before by a hash: an edited or deleted row breaks the chain.
    prev_hash: Mapped[str | None] = mapped_column(String(64))
    row_hash: Mapped[str | None] = mapped_column(String(64))
    # The row hash under the audit key the database does not hold (pipeline/review/audit.py).
    mac: Mapped[str | None] = mapped_column(String(64))

    def content_hash(self, prev_hash: str) -> str:
        content = json.dumps([prev_hash, self.at.isoformat(timespec="microseconds"), self.username, self.action,
                              self.job_id, self.detail], ensure_ascii=False, sort_keys=True, default=str)
        return hashlib.sha256(content.encode("utf-8")).hexdigest()


class AuditHead(Base):
    """The chain's head, one row, updated in the transaction that appends: writing it first
    holds every other appender until this one commits (no two rows after the same one)."""

    __tablename__ = "audit_head"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    rows: Mapped[int] = mapped_column(Integer, default=0)
    last_hash: Mapped[str] = mapped_column(String(64))


GENESIS = "0" * 64
HEAD_ID = 1


class AppendOnlyViolation(RuntimeError):
    pass


@event.listens_for(Session, "before_flush")
def _audit_is_append_only(session: Session, flush_context, instances) -> None:
    for item in (*session.dirty, *session.deleted):
        if isinstance(item, AuditEvent):
            raise AppendOnlyViolation("the audit trail is append-only")
    new_events = [item for item in session.new if isinstance(item, AuditEvent)]
    if not new_events:
        return
    # Written before it is read: the write holds the head until this transaction ends.
    session.execute(update(AuditHead).where(AuditHead.id == HEAD_ID).values(rows=AuditHead.rows + len(new_events)))
    rows, previous = session.execute(select(AuditHead.rows, AuditHead.last_hash).where(AuditHead.id == HEAD_ID)).one()
    anchor = session.info.get("audit_anchor")
    for item in new_events:
        item.at = item.at or utcnow()
        item.detail = item.detail or {}
        item.prev_hash = previous
        item.row_hash = previous = item.content_hash(previous)
        item.mac = anchor.mac(item.row_hash) if anchor else None
    session.execute(update(AuditHead).where(AuditHead.id == HEAD_ID).values(last_hash=previous))
    session.info["audit_head"] = (rows, new_events[-1])


@event.listens_for(Session, "after_commit")
def _record_head(session: Session) -> None:
    """The head, once committed, goes to the file outside the database."""
    pending, anchor = session.info.pop("audit_head", None), session.info.get("audit_anchor")
    if pending and anchor:
        rows, last = pending
        anchor.record_head(rows, last.id, last.row_hash)


@event.listens_for(Session, "after_rollback")
def _forget_head(session: Session) -> None:
    session.info.pop("audit_head", None)


def verify_audit(session: Session, anchor=None):
    """Walk the audit trail: every link, and with the anchor every MAC and the head file
    (pipeline/review/audit.py). Returns an audit.TrailCheck."""
    from pipeline.review.audit import verify_trail

    return verify_trail(session, anchor)


# Append-only in the database itself, for whoever bypasses the application.
SQLITE_GUARDS = (
    "CREATE TRIGGER IF NOT EXISTS audit_no_update BEFORE UPDATE ON audit "
    "BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END",
    "CREATE TRIGGER IF NOT EXISTS audit_no_delete BEFORE DELETE ON audit "
    "BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END",
)
POSTGRES_GUARDS = (
    "CREATE OR REPLACE FUNCTION dictee_audit_append_only() RETURNS trigger AS $$ "
    "BEGIN RAISE EXCEPTION 'the audit trail is append-only'; END $$ LANGUAGE plpgsql",
    "DROP TRIGGER IF EXISTS audit_append_only ON audit",
    "CREATE TRIGGER audit_append_only BEFORE UPDATE OR DELETE ON audit "
    "FOR EACH ROW EXECUTE FUNCTION dictee_audit_append_only()",
)


# Columns added since the first release, for databases made before them.
ADDED_COLUMNS = (("audit", "prev_hash", "VARCHAR(64)"), ("audit", "row_hash", "VARCHAR(64)"), ("audit", "mac", "VARCHAR(64)"),
                 ("sessions", "last_seen_at", "TIMESTAMP"), ("jobs", "folder", "VARCHAR(80)"))


def _prepare(engine) -> None:
    """Tables, the chain's columns on a database made by an earlier version, the guards, and an
    owner-only SQLite file."""
    Base.metadata.create_all(engine)
    with engine.begin() as connection:
        for table, name, kind in ADDED_COLUMNS:
            if name not in {column["name"] for column in inspect(connection).get_columns(table)}:
                connection.execute(text(f"ALTER TABLE {table} ADD COLUMN {name} {kind}"))
        for statement in SQLITE_GUARDS if engine.dialect.name == "sqlite" else POSTGRES_GUARDS \
                if engine.dialect.name == "postgresql" else ():
            connection.execute(text(statement))
        if connection.execute(select(AuditHead.id).where(AuditHead.id == HEAD_ID)).first() is None:
            # A trail from before the head existed: its head is its last chained row.
            rows = connection.execute(select(func.count()).select_from(AuditEvent)).scalar_one()
            last = connection.execute(select(AuditEvent.row_hash).where(AuditEvent.row_hash.is_not(None))
                                      .order_by(AuditEvent.id.desc()).limit(1)).scalar()
            connection.execute(AuditHead.__table__.insert().values(id=HEAD_ID, rows=rows, last_hash=last or GENESIS))
    if engine.dialect.name == "sqlite" and engine.url.database and engine.url.database != ":memory:":
        os.chmod(engine.url.database, 0o600)


def make_sessionmaker(url: str, *, anchor=None) -> sessionmaker[Session]:
    """`anchor` (audit.AuditAnchor): the key that MACs the audit chain and the head file kept
    outside the database; without it the chain is kept, unanchored."""
    # SQLite writers queue for the audit head: wait for each other rather than fail at 5 s.
    options = {"connect_args": {"check_same_thread": False, "timeout": 30}} if url.startswith("sqlite") else {}
    engine = create_engine(url, **options)
    _prepare(engine)
    return sessionmaker(engine, expire_on_commit=False, info={"audit_anchor": anchor})


def session_scope(factory: sessionmaker[Session]) -> Iterator[Session]:
    with factory() as session:
        yield session


def audit(session: Session, *, username: str, action: str, job_id: str | None = None, vault: Vault = PLAIN,
          **detail) -> None:
    """Record an event; its details (edited values, comments: patient data) are sealed when the outbox is."""
    if detail and vault.enabled:
        detail = {"sealed": vault.seal(json.dumps(detail, ensure_ascii=False).encode("utf-8")).decode("ascii")}
    session.add(AuditEvent(username=username, action=action, job_id=job_id, detail=detail))
