"""Several machines' set-up, on one: `dictee batch` against a self-hosted Prefect server whose
database is a real PostgreSQL, as README's "Several machines" describes. The run is recorded
there, and nothing about the patient is."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request

import pytest

from tests.conftest import FLEURS, REPO, free_port, require, stop_process

pytestmark = pytest.mark.slow
DUMMY_NAME = "Zebulon"  # a patient-like name in the file name: must not reach Prefect's database


def wait_for_health(url: str, server: subprocess.Popen, *, timeout_s: float = 120) -> None:
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        if server.poll() is not None:
            raise AssertionError(f"Prefect server exited with {server.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise AssertionError("Prefect server did not become healthy")


@pytest.fixture
def prefect_server(postgres, tmp_path):
    pytest.importorskip("asyncpg")
    port = free_port()
    env = {**os.environ, "PREFECT_HOME": str(tmp_path / "prefect-server"), "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
           "PREFECT_API_DATABASE_CONNECTION_URL": postgres.url("postgresql+asyncpg")}
    log = (tmp_path / "prefect-server.log").open("w")
    server = subprocess.Popen([sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1", "--port", str(port)],
                              env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_for_health(f"http://127.0.0.1:{port}/api/health", server)
        yield f"http://127.0.0.1:{port}/api"
    finally:
        stop_process(server)
        log.close()


@pytest.fixture
def client_env(prefect_server, tmp_path) -> dict:
    """An inbox with two real clips, one under a patient-like name, and the environment of a
    machine pointed at the server."""
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    clips = sorted(require(FLEURS).glob("*.ogg"))[:2]
    shutil.copyfile(clips[0], inbox / f"{DUMMY_NAME} Jean 12-03-1956.ogg")
    shutil.copyfile(clips[1], inbox / "b.ogg")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DICTEE_", "PREFECT_"))}
    env.update(PREFECT_API_URL=prefect_server, PREFECT_HOME=str(tmp_path / "prefect-client"),
               DICTEE_MODELS_DIR=str(REPO / "models"), DICTEE_LETTER_TEMPLATES=str(REPO / "letter_templates"))
    return env


def test_batch_runs_on_a_self_hosted_prefect_server_backed_by_postgresql(client_env, postgres, tmp_path):
    env = client_env
    done = subprocess.run([sys.executable, "-m", "pipeline.cli", "batch", "inbox", "--outbox", "outbox"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-2000:]
    assert len(list((tmp_path / "outbox").glob("*/draft.docx"))) == 2

    database = postgres.dump()
    assert "process-backlog" in database and "transcribe-" in database  # the runs are on the server
    assert DUMMY_NAME not in database and "12-03-1956" not in database
    assert not (tmp_path / "prefect-client" / "prefect.db").exists()  # no local ephemeral server fell back


def test_deployed_backlog_runs_on_a_prefect_worker(client_env, postgres, tmp_path):
    """`dictee deploy` registers the backlog; a process worker (as on each transcription machine)
    picks up the run from the PostgreSQL-backed server and drafts the inbox."""
    env, inbox = client_env, tmp_path / "inbox"

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", *args], cwd=tmp_path, env=env, capture_output=True, text=True,
                              timeout=900)

    deployed = run("pipeline.cli", "deploy", "--pool", "cabinet", "--name", "soir", "--cron", "0 19 * * 1-5",
                   "--adapt-cron", "0 2 * * *", "inbox", "--outbox", "outbox")
    assert deployed.returncode == 0, deployed.stderr[-2000:]
    assert "dictee-backlog/soir" in deployed.stdout and "dictee-adaptation/nightly" in deployed.stdout
    assert not list((tmp_path / "outbox").glob("*/draft.docx"))  # registering runs nothing

    log = (tmp_path / "worker.log").open("w")
    worker = subprocess.Popen([sys.executable, "-m", "prefect", "worker", "start", "--pool", "cabinet", "--limit", "1"],
                              cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        started = run("prefect", "deployment", "run", "dictee-backlog/soir", "--watch", "--watch-timeout", "800")
        assert started.returncode == 0, (started.stdout + started.stderr)[-2000:] + (tmp_path / "worker.log").read_text()[-3000:]
        assert "Completed" in started.stdout
        # The nightly adaptation runs on the same worker; with no reviewed letter yet it has nothing to learn.
        nightly = run("prefect", "deployment", "run", "dictee-adaptation/nightly", "--watch", "--watch-timeout", "300")
        assert nightly.returncode == 0 and "Completed" in nightly.stdout, (nightly.stdout + nightly.stderr)[-2000:]
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:  # a worker's graceful shutdown can outlast the test's patience
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait()
        log.close()
    assert len(list((tmp_path / "outbox").glob("*/draft.docx"))) == 2
    assert not list(inbox.iterdir())

    database = postgres.dump()
    assert "dictee-backlog" in database and "transcribe-" in database  # the worker's run reported to the server
    assert DUMMY_NAME not in database and "12-03-1956" not in database

