"""`dictee watch` through Prefect, for real: a local `dictee server`, each dictation a flow run
named by its job id, nothing about the patient in the server's database; and the drafts still
appear when the server is down."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request

import pytest

from tests.conftest import FLEURS, REPO, free_port, require
from tests.test_prefect_server import wait_for_health

pytestmark = pytest.mark.slow
DUMMY_NAME = "Zebulon"


def environment(tmp_path, **extra) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DICTEE_", "PREFECT_"))}
    env.update(DICTEE_MODELS_DIR=str(REPO / "models"), DICTEE_LETTER_TEMPLATES=str(REPO / "letter_templates"),
               DICTEE_STABLE_SECONDS="1", PREFECT_HOME=str(tmp_path / "prefect-client"), **extra)
    return env


def start_watch(tmp_path, env) -> subprocess.Popen:
    (tmp_path / "inbox").mkdir(exist_ok=True)
    return subprocess.Popen([sys.executable, "-m", "pipeline.cli", "watch", "inbox", "--outbox", "outbox",
                             "--max-seconds", "400"], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)


def drop_and_wait(tmp_path, clips) -> list[str]:
    """Drop the clips one by one (patient-like names), each once the previous one is drafted."""
    for count, clip in enumerate(clips, start=1):
        shutil.copyfile(clip, tmp_path / "inbox" / f"{DUMMY_NAME} {count}.ogg")
        deadline = time.time() + 240
        while len(list((tmp_path / "outbox").glob("*/result.json"))) < count:
            assert time.time() < deadline, "no draft appeared"
            time.sleep(1)
    return sorted(path.parent.name for path in (tmp_path / "outbox").glob("*/result.json"))


def wait_for_completed_dictation_runs(port: int, count: int) -> None:
    """A draft is published just before its run reports Completed: stopping the watcher in
    between would cut that report short, so wait for the server to have it."""
    deadline = time.time() + 60
    while sum(run["name"].startswith("dictation-") and run["state_type"] == "COMPLETED"
              for run in flow_runs(port)) < count:
        assert time.time() < deadline, "the dictation runs never reported Completed"
        time.sleep(0.5)


def stop(process: subprocess.Popen) -> str:
    process.terminate()
    _, stderr = process.communicate(timeout=90)
    return stderr


def test_each_dictation_the_watcher_takes_is_a_flow_run_named_by_its_job_id(tmp_path):
    clips = sorted(require(FLEURS).glob("*.ogg"))[:3]
    port = free_port()
    server_home = tmp_path / "prefect-server"
    server = subprocess.Popen([sys.executable, "-m", "pipeline.cli", "server", "--port", str(port)], cwd=tmp_path,
                              env={**environment(tmp_path), "PREFECT_HOME": str(server_home)},
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        wait_for_health(f"http://127.0.0.1:{port}/api/health", server)
        watcher = start_watch(tmp_path, environment(tmp_path, PREFECT_API_URL=f"http://127.0.0.1:{port}/api"))
        try:
            job_ids = drop_and_wait(tmp_path, clips)
            wait_for_completed_dictation_runs(port, len(clips))
        finally:
            stderr = stop(watcher)
        assert "Traceback" not in stderr and "Prefect unavailable" not in stderr, stderr[-4000:]
        runs = flow_runs(port)
    finally:
        server.terminate()
        server.wait(timeout=60)
    [day] = [run for run in runs if run["name"].startswith("watch-inbox-")]  # the watcher's own long run
    dictations = [run for run in runs if run is not day]
    assert sorted(run["name"] for run in dictations) == sorted(f"dictation-{job_id}" for job_id in job_ids)
    assert {run["state_type"] for run in runs} == {"COMPLETED"}  # stopped between dictations: Completed
    assert all(run["parent_task_run_id"] for run in dictations)  # shown inside the day's run
    database = b"".join(path.read_bytes() for path in server_home.rglob("*.db*"))
    assert DUMMY_NAME.encode() not in database and b".ogg" not in database
    assert not (tmp_path / "prefect-client" / "prefect.db").exists()  # no ephemeral server fell back


def flow_runs(port: int) -> list[dict]:
    request = urllib.request.Request(f"http://127.0.0.1:{port}/api/flow_runs/filter", data=b"{}",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def test_a_watcher_killed_mid_dictation_resumes_it_once_and_its_stale_run_is_marked_crashed(tmp_path):
    [clip] = sorted(require(FLEURS).glob("*.ogg"))[:1]
    port = free_port()
    server_home = tmp_path / "prefect-server"
    server = subprocess.Popen([sys.executable, "-m", "pipeline.cli", "server", "--port", str(port)], cwd=tmp_path,
                              env={**environment(tmp_path), "PREFECT_HOME": str(server_home)},
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    env = environment(tmp_path, PREFECT_API_URL=f"http://127.0.0.1:{port}/api")
    try:
        wait_for_health(f"http://127.0.0.1:{port}/api/health", server)
        watcher = start_watch(tmp_path, env)
        shutil.copyfile(clip, tmp_path / "inbox" / f"{DUMMY_NAME}.ogg")
        deadline = time.time() + 240
        while not list((tmp_path / "outbox" / ".work").glob("*.claim.json")):
            assert time.time() < deadline and watcher.poll() is None, "the dictation was never taken"
            time.sleep(0.1)
        time.sleep(0.5)
        os.killpg(watcher.pid, signal.SIGKILL)  # mid-dictation, as a power cut would
        watcher.communicate(timeout=30)
        assert not list((tmp_path / "outbox").glob("*/result.json"))

        watcher = start_watch(tmp_path, env)
        try:
            deadline = time.time() + 240
            while not list((tmp_path / "outbox").glob("*/result.json")):
                assert time.time() < deadline, "the claim was not resumed"
                time.sleep(1)
            wait_for_completed_dictation_runs(port, 1)
        finally:
            stderr = stop(watcher)
        assert "Traceback" not in stderr, stderr[-4000:]
        runs = flow_runs(port)
    finally:
        server.terminate()
        server.wait(timeout=60)
    [draft] = list((tmp_path / "outbox").glob("*/result.json"))
    job_id = draft.parent.name
    dictation_runs = sorted(run["state_type"] for run in runs if run["name"] == f"dictation-{job_id}")
    assert dictation_runs == ["COMPLETED", "CRASHED"]  # the killed one marked, the resumed one done
    assert not list((tmp_path / "outbox" / ".work").glob(f"{job_id}*"))


def test_with_the_prefect_server_down_the_watcher_still_drafts_and_says_so_once(tmp_path):
    clips = sorted(require(FLEURS).glob("*.ogg"))[:2]
    watcher = start_watch(tmp_path, environment(tmp_path, PREFECT_API_URL=f"http://127.0.0.1:{free_port()}/api"))
    try:
        job_ids = drop_and_wait(tmp_path, clips)
    finally:
        stderr = stop(watcher)
    assert len(job_ids) == 2
    assert stderr.count("Prefect unavailable") == 1 and "Traceback" not in stderr
