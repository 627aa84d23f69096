"""The audit trail cannot lose its last rows, be rewritten, or fork under load without
`dictee audit verify` saying which check failed."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import threading

import pytest
from sqlalchemy import select

from pipeline.review.app import audit_anchor, review_sessions
from pipeline.review.db import AuditEvent, audit, verify_audit


def write_rows(sessions, count: int, username: str = "sophie") -> None:
    for n in range(count):
        with sessions() as session:
            audit(session, username=username, action="view", job_id=f"{n:016x}")
            session.commit()


def dictee_audit_verify(settings):
    return subprocess.run([sys.executable, "-m", "pipeline.cli", "audit", "verify"], cwd=settings.outbox.parent,
                          capture_output=True, text=True, timeout=120)


@pytest.fixture
def trail(settings):
    sessions = review_sessions(settings)
    write_rows(sessions, 8)
    database = settings.outbox / "dictee.db"
    connection = sqlite3.connect(database)
    for trigger in ("audit_no_update", "audit_no_delete"):  # whoever holds the file drops the guards
        connection.execute(f"DROP TRIGGER {trigger}")
    connection.commit()
    yield sessions, connection
    connection.close()


def test_an_untouched_trail_verifies_and_shows_its_head(settings, trail):
    answer = dictee_audit_verify(settings)
    assert answer.returncode == 0 and "intact" in answer.stderr and "8 lignes / rows" in answer.stderr


@pytest.mark.parametrize("deleted", ["DELETE FROM audit WHERE id = (SELECT max(id) FROM audit)", "DELETE FROM audit"],
                         ids=["the-last-row", "every-row"])
def test_deleted_rows_are_seen_through_the_head_kept_outside(settings, trail, deleted):
    _, connection = trail
    connection.execute(deleted)
    connection.commit()
    answer = dictee_audit_verify(settings)
    assert answer.returncode == 1 and "rows deleted" in answer.stderr


def test_a_row_rewritten_with_every_later_hash_recomputed_is_seen_by_its_mac(settings, trail):
    sessions, connection = trail
    with sessions() as session:
        rows = list(session.scalars(select(AuditEvent).order_by(AuditEvent.id)))
    previous = rows[3].row_hash
    for row in rows[4:]:  # row 5 edited, the chain recomputed after it (sha256 needs no key)
        if row.id == rows[4].id:
            row.username = "mallory"
        row.prev_hash, row.row_hash = previous, row.content_hash(previous)
        connection.execute("UPDATE audit SET username = ?, prev_hash = ?, row_hash = ? WHERE id = ?",
                           (row.username, row.prev_hash, row.row_hash, row.id))
        previous = row.row_hash
    connection.execute("UPDATE audit_head SET last_hash = ?", (previous,))
    connection.commit()
    with sessions() as session:
        assert verify_audit(session).intact  # the unkeyed chain alone is fooled...
        check = verify_audit(session, audit_anchor(settings))
    assert not check.intact and check.broken_at == rows[4].id  # ...the MAC is not
    answer = dictee_audit_verify(settings)
    assert answer.returncode == 1 and f"altered at row {rows[4].id}" in answer.stderr and "MAC" in answer.stderr


def test_a_tampered_head_file_is_seen(settings, trail):
    head = audit_anchor(settings).head_file
    head.write_text(head.read_text().replace('"rows": 8', '"rows": 3'))
    answer = dictee_audit_verify(settings)
    assert answer.returncode == 1 and "head file altered" in answer.stderr


def assert_concurrent_writers_never_fork(sessions, anchor) -> None:
    """Four secretaries viewing 20 pages each at once: 80 rows, each after its own predecessor."""
    errors: list[BaseException] = []

    def secretary(name):
        try:
            write_rows(sessions, 20, username=name)
        except BaseException as error:  # noqa: BLE001 — reported below
            errors.append(error)

    threads = [threading.Thread(target=secretary, args=(name,)) for name in ("sophie", "paul", "lea", "marc")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    with sessions() as session:
        rows = list(session.scalars(select(AuditEvent)))
        check = verify_audit(session, anchor)
    assert len(rows) == 80 and len({row.prev_hash for row in rows}) == 80  # one row after each
    assert check.intact, check.failure


def test_concurrent_writers_never_fork_the_chain(settings):
    """40 page views by two secretaries forked the chain (two rows after the same one)."""
    assert_concurrent_writers_never_fork(review_sessions(settings), audit_anchor(settings))
