"""The review app's state in a real PostgreSQL (a throwaway cluster), selected by URL alone."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.slow
@pytest.fixture
def postgres_url(postgres):
    pytest.importorskip("psycopg")
    return postgres.url("postgresql+psycopg")


def test_review_state_and_audit_live_in_postgresql(postgres_url, settings, fake_transcriber):
    from fastapi.testclient import TestClient
    from sqlalchemy import create_engine, text

    from pipeline import ingest
    from pipeline.job import run_job
    from pipeline.review import create_app
    from pipeline.review.auth import add_user, set_practitioner
    from tests.conftest import LOCAL_CLIENT, write_tone

    source = write_tone(settings.inbox / "a.wav", seconds=3.0)
    dictation = ingest.claim_dictation(source, work_dir=settings.work_dir, outbox=settings.outbox)
    run_job(dictation, settings)
    app = create_app(settings.model_copy(update={"database_url": postgres_url}))
    with app.state.sessions() as session:
        add_user(session, "sophie", "correct horse battery", "secretary")
        add_user(session, "dr_claire", "correct horse battery", "practitioner")
        set_practitioner(session, "dr_claire", ".", known_folders=settings.practitioners)
    for username in ("sophie", "dr_claire"):  # she submits it for signature, the practitioner signs
        with TestClient(app, follow_redirects=False, client=LOCAL_CLIENT) as client:
            client.post("/login", data={"username": username, "password": "correct horse battery"})
            page = client.get(f"/jobs/{dictation.job_id}").text
            csrf = page.split('name="csrf" value="', 1)[1].split('"', 1)[0]
            assert client.post(f"/jobs/{dictation.job_id}/approve", data={"csrf": csrf}).status_code == 303

    engine = create_engine(postgres_url)
    try:
        with engine.connect() as connection:
            assert connection.execute(text("select state from jobs")).scalar_one() == "filed"
            actions = connection.execute(text("select action from audit order by id")).scalars().all()
        from sqlalchemy.exc import DBAPIError

        with pytest.raises(DBAPIError, match="append-only"), engine.begin() as connection:
            connection.execute(text("update audit set username = 'mallory'"))  # refused by the database itself
        from pipeline.review.db import verify_audit

        with app.state.sessions() as session:
            assert verify_audit(session).broken_at is None
    finally:
        engine.dispose()
        app.state.sessions.kw["bind"].dispose()
    assert actions == ["login", "view", "submit", "login", "view", "sign"]
    assert not (settings.outbox / "dictee.db").exists()  # nothing fell back to SQLite


def test_concurrent_writers_never_fork_the_audit_chain_in_postgresql(postgres_url, settings):
    from pipeline.review.app import audit_anchor
    from pipeline.review.db import make_sessionmaker
    from tests.test_audit_trail import assert_concurrent_writers_never_fork

    anchor = audit_anchor(settings)
    sessions = make_sessionmaker(postgres_url, anchor=anchor)
    try:
        assert_concurrent_writers_never_fork(sessions, anchor)
    finally:
        sessions.kw["bind"].dispose()
