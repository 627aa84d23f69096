"""The review app's state in a real PostgreSQL (a throwaway cluster), selected by URL alone."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
BINARIES = sorted(glob.glob("/usr/lib/postgresql/*/bin"))


def run_as_postgres(*command: str) -> None:
    prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    subprocess.run([*prefix, *command], check=True, capture_output=True, timeout=120)


@pytest.fixture
def postgres_url():
    if not BINARIES or (os.geteuid() == 0 and shutil.which("runuser") is None):
        pytest.skip("PostgreSQL is not installed (apt-get install postgresql); scripts/test.sh installs it when run as root")
    pytest.importorskip("psycopg")
    # Directly under /tmp: pytest's own temporary root is closed to other users.
    data, socket_dir = Path(tempfile.mkdtemp(prefix="dictee-pg-")), Path(tempfile.mkdtemp(prefix="dictee-pgsock-"))
    if os.geteuid() == 0:
        shutil.chown(data, "postgres")
        shutil.chown(socket_dir, "postgres")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    bin_dir = BINARIES[-1]
    run_as_postgres(f"{bin_dir}/initdb", "-D", str(data), "-A", "trust", "-U", "postgres")
    # -l: the server must not inherit our pipes, or waiting for pg_ctl never ends.
    run_as_postgres(f"{bin_dir}/pg_ctl", "-D", str(data), "-l", str(data / "server.log"), "-w",
                    "-o", f"-p {port} -k {socket_dir} -c listen_addresses=''", "start")
    try:
        yield f"postgresql+psycopg://postgres@/postgres?host={socket_dir}&port={port}"
    finally:
        run_as_postgres(f"{bin_dir}/pg_ctl", "-D", str(data), "-m", "fast", "stop")
        shutil.rmtree(data, ignore_errors=True)
        shutil.rmtree(socket_dir, ignore_errors=True)


def test_review_state_and_audit_live_in_postgresql(postgres_url, settings, fake_transcriber):
    from fastapi.testclient import TestClient
    from sqlalchemy import create_engine, text

    from pipeline import ingest
    from pipeline.job import run_job
    from pipeline.review import create_app
    from pipeline.review.auth import add_user
    from tests.conftest import write_tone

    source = write_tone(settings.inbox / "a.wav", seconds=3.0)
    dictation = ingest.claim_dictation(source, work_dir=settings.work_dir, outbox=settings.outbox)
    run_job(dictation, settings)
    app = create_app(settings.model_copy(update={"database_url": postgres_url}))
    with app.state.sessions() as session:
        add_user(session, "sophie", "correct horse battery", "secretary")
    with TestClient(app, follow_redirects=False) as client:
        client.post("/login", data={"username": "sophie", "password": "correct horse battery"})
        page = client.get(f"/jobs/{dictation.job_id}").text
        csrf = page.split('name="csrf" value="', 1)[1].split('"', 1)[0]
        assert client.post(f"/jobs/{dictation.job_id}/approve", data={"csrf": csrf}).status_code == 303

    engine = create_engine(postgres_url)
    try:
        with engine.connect() as connection:
            assert connection.execute(text("select state from jobs")).scalar_one() == "filed"
            actions = connection.execute(text("select action from audit order by id")).scalars().all()
    finally:
        engine.dispose()
    assert actions == ["login", "view", "approve"]
    assert not (settings.outbox / "dictee.db").exists()  # nothing fell back to SQLite
