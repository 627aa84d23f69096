"""Review state in a real database through SQLAlchemy: SQLite by default, PostgreSQL by URL.

Tables: users, sessions, jobs (one row per drafted dictation, its state and timings), and
an append-only audit trail. Patient data stays in the outbox files and the audit detail,
never in the application log; with encryption on, the audit detail is sealed too.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Iterator

from sqlalchemy import JSON, DateTime, ForeignKey, Integer, String, Text, create_engine, event
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

from pipeline.vault import PLAIN, Vault

ROLES = ("secretary", "practitioner", "admin")
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


class LoginSession(Base):
    __tablename__ = "sessions"
    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    csrf_token: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime)


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


class AuditEvent(Base):
    __tablename__ = "audit"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    username: Mapped[str] = mapped_column(String(80))
    action: Mapped[str] = mapped_column(String(40))
    job_id: Mapped[str | None] = mapped_column(String(32))
    detail: Mapped[dict] = mapped_column(JSON, default=dict)


class AppendOnlyViolation(RuntimeError):
    pass


@event.listens_for(Session, "before_flush")
def _audit_is_append_only(session: Session, flush_context, instances) -> None:
    for item in (*session.dirty, *session.deleted):
        if isinstance(item, AuditEvent):
            raise AppendOnlyViolation("the audit trail is append-only")


def make_sessionmaker(url: str) -> sessionmaker[Session]:
    options = {"connect_args": {"check_same_thread": False}} if url.startswith("sqlite") else {}
    engine = create_engine(url, **options)
    Base.metadata.create_all(engine)
    return sessionmaker(engine, expire_on_commit=False)


def session_scope(factory: sessionmaker[Session]) -> Iterator[Session]:
    with factory() as session:
        yield session


def audit(session: Session, *, username: str, action: str, job_id: str | None = None, vault: Vault = PLAIN,
          **detail) -> None:
    """Record an event; its details (edited values, comments: patient data) are sealed when the outbox is."""
    if detail and vault.enabled:
        detail = {"sealed": vault.seal(json.dumps(detail, ensure_ascii=False).encode("utf-8")).decode("ascii")}
    session.add(AuditEvent(username=username, action=action, job_id=job_id, detail=detail))
