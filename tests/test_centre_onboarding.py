"""The README's « A centre serving several practices » sequence, as an administrator types it:
from nothing to the first signed letter, with the real recognizer, the drafter for every practice
and the centre's desk over HTTPS."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time

import httpx
import pytest

from tests.conftest import FLEURS, REPO, REVIEW_PASSWORD, free_port, require, self_signed_certificate, stop_process

pytestmark = pytest.mark.slow


def dictee(*args: str, cwd, env, stdin: str | None = None) -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable, "-m", "pipeline.cli", *args], cwd=cwd, env=env, input=stdin,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, (args, done.stdout + done.stderr)
    assert "Traceback" not in done.stderr
    return done


def test_from_nothing_to_the_first_signed_letter(tmp_path):
    env = {key: value for key, value in os.environ.items() if not key.startswith(("DICTEE_", "PREFECT_"))}
    env.update(PYTHONPATH=str(REPO), PREFECT_HOME=str(tmp_path / "prefect"), XDG_STATE_HOME=str(tmp_path / "state"),
               DICTEE_STABLE_SECONDS="1")
    (tmp_path / "dictee.toml").write_text(f'models_dir = "{REPO / "models"}"\n'
                                          f'letter_templates = "{REPO / "letter_templates"}"\n')
    keys, outbox = tmp_path / "etc" / "keys", tmp_path / "srv" / "dupont" / "outbox"
    dictee("key", "create", str(keys / "dupont.key"), cwd=tmp_path, env=env)
    dictee("practices", "add", "cabinet-dupont", "--outbox", str(outbox), "--key", str(keys / "dupont.key"),
           cwd=tmp_path, env=env)
    with (tmp_path / "practices" / "cabinet-dupont" / "dictee.toml").open("a") as own:
        own.write('practitioner_name = "Dr Anne Dupont"\n')
    for username, role in (("sophie", "secretary"), ("dr_dupont", "practitioner")):
        dictee("--centre", "users", "add", username, "--role", role, "--password-stdin", cwd=tmp_path, env=env,
               stdin=REVIEW_PASSWORD + "\n")
    dictee("practices", "grant", "sophie", "cabinet-dupont", cwd=tmp_path, env=env)
    dictee("practices", "grant", "dr_dupont", "cabinet-dupont", ".", cwd=tmp_path, env=env)

    cert, key = self_signed_certificate(tmp_path)
    port = free_port()
    started = [subprocess.Popen([sys.executable, "-m", "pipeline.cli", *args], cwd=tmp_path, env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True)
               for args in (["watch", "--all-practices", "--max-seconds", "400"],
                            ["--centre", "review", "--port", str(port), "--tls-cert", str(cert), "--tls-key", str(key)])]
    try:
        dictation = tmp_path / "dictation.ogg"
        shutil.copyfile(require(FLEURS / "fleurs-fr-001.ogg"), dictation)
        deadline = time.time() + 120
        while True:  # the desk may still be starting
            sent = subprocess.run([sys.executable, "-m", "pipeline.cli", "send", str(dictation), "--to",
                                   f"https://127.0.0.1:{port}", "--user", "dr_dupont", "--practice", "cabinet-dupont",
                                   "--patient", "DUPONT Jean 12/03/1956", "--ca", str(cert)], cwd=tmp_path, env={**env, "DICTEE_PASSWORD": REVIEW_PASSWORD},
                                  capture_output=True, text=True, timeout=120)
            if sent.returncode == 0 or "unreachable" not in sent.stdout + sent.stderr or time.time() > deadline:
                break
            time.sleep(0.5)
        assert sent.returncode == 0, sent.stdout + sent.stderr
        job_id = re.search(r"→ ([0-9a-f]{16})", sent.stdout).group(1)
        deadline = time.time() + 300
        while not (outbox / job_id / "draft.docx").exists():
            assert time.time() < deadline and started[0].poll() is None, "never drafted"
            time.sleep(1)

        with httpx.Client(base_url=f"https://127.0.0.1:{port}", verify=str(cert), follow_redirects=False) as desk:
            assert desk.post("/login", data={"username": "dr_dupont", "password": REVIEW_PASSWORD}).status_code == 303
            worklist = desk.get("/", params={"state": "pending_review"}).text
            assert f"/p/cabinet-dupont/jobs/{job_id}" in worklist
            page = desk.get(f"/p/cabinet-dupont/jobs/{job_id}").text
            csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
            signed = desk.post(f"/p/cabinet-dupont/jobs/{job_id}/approve", data={"csrf": csrf})
            assert signed.status_code == 303, re.findall(r"class=\"error\"[^>]*>([^<]*)", signed.text)
        assert (outbox / "filed" / job_id / "draft.docx").exists()  # the first signed letter, filed
        assert not (outbox / "filed" / job_id / "draft.docx").read_bytes().startswith(b"PK")  # sealed with its key
        verified = dictee("--practice", "cabinet-dupont", "audit", "verify", cwd=tmp_path, env=env)
        assert "intact" in verified.stderr
    finally:
        for process in started:
            stop_process(process)
