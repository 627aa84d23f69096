"""Bad luck: a process killed in the middle of a step leaves nothing stuck, nothing in clear
outside the outbox, and no audit row missing; signing never waits for LibreOffice; what the
pipeline writes is its owner's alone."""

from __future__ import annotations

import os
import re
import signal
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from pipeline import ingest
from pipeline.files import keep_private, remove_dead_partials
from pipeline.job import run_job
from pipeline.review import create_app
from pipeline.review.auth import add_user, set_practitioner
from pipeline.review.db import AuditEvent
from tests.conftest import LOCAL_CLIENT, REPO, REVIEW_PASSWORD, write_tone


def drafted(settings) -> str:
    source = write_tone(settings.inbox / "dictee.wav", seconds=3.0)
    dictation = ingest.claim_dictation(source, work_dir=settings.work_dir, outbox=settings.outbox)
    run_job(dictation, settings)
    return dictation.job_id


def run_python(code: str, *, env: dict | None = None) -> subprocess.Popen:
    """In its own process group: killed with its children (LibreOffice), as a power cut would."""
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(code)], cwd=REPO, env={**os.environ, **(env or {})},
                            start_new_session=True)


def kill_group(process: subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait(timeout=30)


def wait_for(condition, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the condition never came"
        time.sleep(0.05)


def login(client, username: str) -> str:
    client.post("/login", data={"username": username, "password": REVIEW_PASSWORD})
    return re.search(r'name="csrf" value="([^"]+)"', client.get("/").text).group(1)


def test_a_desk_killed_inside_a_transition_leaves_the_draft_free_after_restart(settings, fake_transcriber, tmp_path):
    """The step's mark stayed, and every later submit answered « traité par quelqu'un d'autre »."""
    job_id = drafted(settings)
    inside = tmp_path / "inside"
    killed = run_python(f"""
        import os, time
        from pathlib import Path
        from pipeline.store import Outbox
        outbox = Outbox(Path({str(settings.outbox)!r}))
        with outbox.transition(outbox.job_folder({job_id!r}), expected=frozenset({{"pending_review"}})):
            Path({str(inside)!r}).touch()
            time.sleep(600)  # killed here, mark taken, state not yet changed
    """)
    try:
        wait_for(inside.exists)
    finally:
        kill_group(killed)
    assert (settings.outbox / job_id / ".step-1").exists()
    app = create_app(settings)  # the desk started again
    with app.state.sessions() as session:
        add_user(session, "sophie", REVIEW_PASSWORD, "secretary")
    with TestClient(app, follow_redirects=False, client=LOCAL_CLIENT) as client:
        csrf = login(client, "sophie")
        assert client.post(f"/jobs/{job_id}/approve", data={"csrf": csrf}).status_code == 303
    assert '"to_sign"' in (settings.outbox / job_id / "state.json").read_text()


def test_a_mark_left_by_a_dead_process_is_cleared_at_the_next_attempt_without_a_restart(settings, fake_transcriber):
    job_id = drafted(settings)
    outbox, folder = settings.store(), settings.outbox / job_id
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    (folder / ".step-1").write_text(f"{dead.stdout.strip()} 1")  # that process has ended
    with outbox.transition(folder, expected=frozenset({"pending_review"})):
        outbox.set_state(folder, "to_sign", "sophie")
    assert outbox.read_state(folder)["state"] == "to_sign"


def test_a_mark_held_by_a_living_process_still_wins(settings, fake_transcriber):
    from pipeline.files import process_token
    from pipeline.store import MovedOn

    job_id = drafted(settings)
    outbox, folder = settings.store(), settings.outbox / job_id
    (folder / ".step-1").write_text(process_token())  # this very process, as another thread would
    with pytest.raises(MovedOn):
        with outbox.transition(folder, expected=frozenset({"pending_review"})):
            pass


FAKE_SOFFICE = """#!/bin/sh
# LibreOffice stand-in: waits for the test's go-ahead, then writes a small PDF into --outdir.
out=""
while [ $# -gt 0 ]; do [ "$1" = "--outdir" ] && out="$2"; shift; done
while [ ! -e "{release}" ]; do sleep 0.05; done
mkdir -p "$out" && printf '%%PDF-1.4 stand-in' > "$out/letter.pdf"
"""


@pytest.fixture
def slow_soffice(tmp_path, monkeypatch):
    """A LibreOffice that converts only once `release` exists."""
    bin_dir, release = tmp_path / "bin", tmp_path / "release"
    bin_dir.mkdir()
    script = bin_dir / "soffice"
    script.write_text(FAKE_SOFFICE.format(release=release))
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    yield release
    release.touch()  # whatever the test did, no stand-in is left waiting


def exporting_desk(settings, export_dir: Path):
    """A drafted letter, and the desk with its practitioner (dr_claire), exporting to `export_dir`."""
    exporting = settings.model_copy(update={"export_dir": export_dir})
    job_id = drafted(exporting)
    app = create_app(exporting)
    with app.state.sessions() as session:
        add_user(session, "dr_claire", REVIEW_PASSWORD, "practitioner")
        set_practitioner(session, "dr_claire", ".", known_folders={})
    return exporting, job_id, app


def test_signing_answers_at_once_and_the_export_follows_with_its_state_shown(settings, fake_transcriber, slow_soffice):
    exporting, job_id, app = exporting_desk(settings, settings.outbox.parent / "export")
    with TestClient(app, follow_redirects=False, client=LOCAL_CLIENT) as client:
        csrf = login(client, "dr_claire")
        signed = client.post(f"/jobs/{job_id}/approve", data={"csrf": csrf})
        # Answered while LibreOffice has not even started converting: the export runs apart.
        assert signed.status_code == 303 and not slow_soffice.exists()
        assert (exporting.outbox / "filed" / job_id / "draft.docx").exists()
        with app.state.sessions() as session:
            assert ("dr_claire", "sign") in [(e.username, e.action) for e in session.query(AuditEvent)]
        assert "Export PDF/FHIR : en cours" in client.get(f"/jobs/{job_id}").text
        slow_soffice.touch()
        app.state.exports.wait(timeout=60)
        assert "Export PDF/FHIR : fait" in client.get(f"/jobs/{job_id}").text
    assert (exporting.export_dir / job_id / "letter.pdf").read_bytes().startswith(b"%PDF")


def test_a_failed_export_says_so_and_is_tried_again_from_the_page(settings, fake_transcriber, tmp_path, monkeypatch):
    exporting, job_id, app = exporting_desk(settings, tmp_path / "export")
    monkeypatch.setenv("PATH", str(tmp_path / "nothing"))  # no LibreOffice at all
    with TestClient(app, follow_redirects=False, client=LOCAL_CLIENT) as client:
        csrf = login(client, "dr_claire")
        client.post(f"/jobs/{job_id}/approve", data={"csrf": csrf})
        app.state.exports.wait(timeout=60)
        page = client.get(f"/jobs/{job_id}").text
        assert "Export PDF/FHIR : échec" in page and 'id="export-again"' in page
        assert client.post(f"/jobs/{job_id}/export", data={"csrf": csrf}).status_code == 303


def test_an_export_killed_midway_leaves_nothing_in_clear_outside_the_outbox(settings, fake_transcriber, slow_soffice):
    """The signed letter stayed in clear under /tmp/dictee-export-* after a kill."""
    exporting = settings.model_copy(update={"export_dir": settings.outbox.parent / "export"})
    job_id = drafted(exporting)
    outbox = exporting.store()
    from pipeline.filing import file_job

    file_job(outbox, job_id, username="sophie")
    before = set(Path("/tmp").glob("dictee-export-*"))
    killed = run_python(f"""
        from pathlib import Path
        from pipeline.export import export_filed
        from pipeline.settings import Settings
        from pipeline.store import Outbox
        settings = Settings(outbox=Path({str(exporting.outbox)!r}), export_dir=Path({str(exporting.export_dir)!r}))
        export_filed({job_id!r}, settings, Outbox(settings.outbox))
    """)
    try:
        wait_for(lambda: list(outbox.work_folder().glob(".export-*/letter.docx")))
    finally:
        kill_group(killed)
    assert set(Path("/tmp").glob("dictee-export-*")) == before  # never in /tmp
    assert remove_dead_partials(outbox.work_folder()) >= 1  # what the next start clears
    assert not list(outbox.work_folder().glob(".export-*"))


def test_everything_written_is_owner_only_whatever_the_umask(settings, fake_transcriber):
    previous = os.umask(0o022)
    try:
        keep_private()  # what `dictee` and the desk do first
        job_id = drafted(settings)
    finally:
        os.umask(previous)
    for path in [settings.outbox, *settings.outbox.rglob("*")]:
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode & 0o077 == 0, f"{path.relative_to(settings.outbox.parent)} is {oct(mode)}"
    assert (settings.outbox / job_id / "draft.docx").exists()


def test_the_command_line_writes_owner_only_and_warns_of_an_outbox_others_can_read(settings):
    env = {**os.environ, "DICTEE_OUTBOX": str(settings.outbox), "DICTEE_INBOX": str(settings.inbox)}
    created = subprocess.run(["sh", "-c", f"umask 022; printf '%s\\n' '{REVIEW_PASSWORD}' | "
                              f"{sys.executable} -m pipeline.cli users add sophie --password-stdin"],
                             cwd=settings.outbox.parent, env=env, capture_output=True, text=True, timeout=120)
    assert created.returncode == 0, created.stderr
    for path in [settings.outbox, *settings.outbox.rglob("*")]:
        assert stat.S_IMODE(path.stat().st_mode) & 0o077 == 0, path
    settings.outbox.chmod(0o755)
    warned = subprocess.run([sys.executable, "-m", "pipeline.cli", "batch", str(settings.inbox)], cwd=settings.outbox.parent,
                            env=env, capture_output=True, text=True, timeout=300)
    assert "readable by other accounts" in warned.stderr
