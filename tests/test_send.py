"""`dictee send`: a recording sent to a remote desk with the practitioner's account — landed
whole in his folder, resumed after a killed run or a lost answer, and refused (in French and
English, before the password is asked) when the address, the file or the account is wrong."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time

import httpx
import pyotp
import pytest
from fastapi.testclient import TestClient

from pipeline import hints, send, upload
from pipeline.review import create_app
from pipeline.review.auth import add_user, set_practitioner
from pipeline.send import Desk, SendError, checked_hint, checked_recording, desk_url
from pipeline.settings import Practitioner
from tests.conftest import LOCAL_CLIENT, REVIEW_PASSWORD, free_port, self_signed_certificate, stop_process, write_tone

REMOTE_CLIENT = ("203.0.113.7", 40000)
PRACTITIONERS = {"dupont": Practitioner(name="Dr Anne Dupont"), "martin": Practitioner(name="Dr Paul Martin")}


@pytest.fixture
def group(settings, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))  # the resume files, kept apart per test
    monkeypatch.setattr(send, "CHUNK_BYTES", 16 * 1024)  # several chunks from a short recording
    monkeypatch.setattr(send.time, "sleep", lambda seconds: None)
    group = settings.model_copy(update={"practitioners": PRACTITIONERS})
    app = create_app(group)
    with app.state.sessions() as session:
        for name, folder in (("dr_dupont", "dupont"), ("dr_martin", "martin")):
            add_user(session, name, REVIEW_PASSWORD, "practitioner")
            set_practitioner(session, name, folder, known_folders=PRACTITIONERS)
        add_user(session, "lea", REVIEW_PASSWORD, "secretary")
    return app, group


def signed_in(app, username: str = "dr_dupont", *, client=LOCAL_CLIENT, code=lambda: "") -> Desk:
    desk = Desk(TestClient(app, follow_redirects=False, client=client), username)
    desk.sign_in(REVIEW_PASSWORD, code)
    return desk


def landed(group, folder: str = "dupont"):
    files = [p for p in (group.inbox / folder).rglob("*") if p.is_file()]
    assert len(files) == 1, files
    return files[0]


def test_a_recording_lands_whole_in_his_folder_with_what_was_typed(group, tmp_path):
    app, settings = group
    recording = write_tone(tmp_path / "Mme Roche.wav", seconds=3.0)
    progress = []
    sent = signed_in(app).send(recording, urgent=True, patient="ROCHE Inès 13/05/1988",
                               on_progress=lambda done, total: progress.append(done))
    arrived = landed(settings)
    assert arrived.parent == settings.inbox / "dupont" / "urgent" and arrived.suffix == ".wav"
    assert arrived.read_bytes() == recording.read_bytes() and "Roche" not in arrived.name
    assert sent.resumed_at == 0 and progress[-1] == sent.size and len(progress) > 3
    assert hints.load_hints(settings.store(), sent.job_id)["patient"] == "ROCHE Inès 13/05/1988"
    assert not list(send.state_dir().glob("*.json"))  # nothing left to resume


class Killed(Exception):
    pass


def test_a_run_killed_midway_is_resumed_by_the_same_command_without_sending_twice(group, tmp_path):
    app, settings = group
    recording = write_tone(tmp_path / "dictee.wav", seconds=4.0)

    def killed_after_two_chunks(done, total):
        if done >= 2 * send.CHUNK_BYTES:
            raise Killed

    with pytest.raises(Killed):
        signed_in(app).send(recording, on_progress=killed_after_two_chunks)
    assert not (settings.inbox / "dupont").exists() or not any((settings.inbox / "dupont").iterdir())
    (state,) = send.state_dir().glob("*.json")
    assert "dictee" not in state.read_text() and oct(state.parent.stat().st_mode)[-3:] == "700"
    again = signed_in(app).send(recording)
    assert again.resumed_at == 2 * send.CHUNK_BYTES
    assert landed(settings).read_bytes() == recording.read_bytes()


def test_a_chunk_the_desk_got_before_its_answer_was_lost_is_not_sent_twice(group, tmp_path):
    app, settings = group
    recording = write_tone(tmp_path / "dictee.wav", seconds=3.0)
    desk = signed_in(app)
    real_put, drops = desk.http.put, []

    def answer_lost(*args, **kwargs):
        answer = real_put(*args, **kwargs)
        if len(drops) < 2:
            drops.append(kwargs["params"]["offset"])
            raise httpx.ReadTimeout("the answer never came")
        return answer

    desk.http.put = answer_lost
    desk.send(recording)
    assert drops == [0, send.CHUNK_BYTES]
    assert landed(settings).read_bytes() == recording.read_bytes()


def test_a_desk_that_stays_down_is_said_and_the_next_run_resumes(group, tmp_path):
    app, settings = group
    recording = write_tone(tmp_path / "dictee.wav", seconds=3.0)
    desk = signed_in(app)
    real_put = desk.http.put
    desk.http.put = lambda *args, **kwargs: (_ for _ in ()).throw(httpx.ConnectError("network down"))
    with pytest.raises(SendError, match="run the same command again to resume"):
        desk.send(recording)
    desk.http.put = real_put
    assert desk.send(recording).resumed_at == 0 and landed(settings).read_bytes() == recording.read_bytes()


@pytest.mark.parametrize("state", [b"", b"\x00\xff garbage", b'{"upload_id": "../../etc"}', b'{"upload_id": 7}', b"[]"])
def test_a_damaged_resume_file_starts_the_upload_again(group, tmp_path, state):
    app, settings = group
    recording = write_tone(tmp_path / "dictee.wav", seconds=2.0)
    with pytest.raises(Killed):
        signed_in(app).send(recording, on_progress=lambda done, total: (_ for _ in ()).throw(Killed) if done else None)
    (file,) = send.state_dir().glob("*.json")
    file.write_bytes(state)
    assert signed_in(app).send(recording).resumed_at == 0
    assert landed(settings).read_bytes() == recording.read_bytes()


def test_another_account_s_upload_is_never_resumed_into(group, tmp_path):
    app, settings = group
    recording = write_tone(tmp_path / "dictee.wav", seconds=2.0)
    with pytest.raises(Killed):
        signed_in(app).send(recording, on_progress=lambda done, total: (_ for _ in ()).throw(Killed) if done else None)
    (dupont_state,) = send.state_dir().glob("*.json")
    martin = signed_in(app, "dr_martin")
    # Dr Martin's resume file made to hold Dr Dupont's upload: the desk says it does not exist.
    target = send._state_file(str(martin.http.base_url), "dr_martin", send._file_sha256(recording))
    target.write_bytes(dupont_state.read_bytes())
    assert martin.send(recording).resumed_at == 0
    assert landed(settings, "martin").read_bytes() == recording.read_bytes()


@pytest.mark.parametrize("url, said", [
    ("http://bureau.example.fr", "never sent in clear"),
    ("http://192.168.1.20:8000", "never sent in clear"),
    ("ftp://bureau.example.fr", "invalid desk address"),
    ("bureau.example.fr", "invalid desk address"),
    ("https://user:pw@bureau.example.fr", "no credentials"),
    ("https://bureau.example.fr/?next=x", "no credentials"),
    ("", "invalid desk address"),
    ("https://\x00", "invalid desk address"),
    ("https://bureau.example.fr:99999", "invalid desk address"),
    ("https://bureau .example.fr", "invalid desk address"),
    ("https://[::1", "invalid desk address"),
])
def test_an_address_that_would_carry_the_password_in_clear_or_is_not_one_is_refused(url, said):
    with pytest.raises(SendError, match=said):
        desk_url(url)


def test_a_local_or_https_address_is_taken():
    assert desk_url("https://bureau.example.fr:8443/") == "https://bureau.example.fr:8443"
    assert desk_url("http://127.0.0.1:8000") == "http://127.0.0.1:8000"
    assert desk_url("http://localhost:8000") == "http://localhost:8000"
    assert desk_url("http://[::1]:8000") == "http://[::1]:8000"


def test_a_file_that_is_not_a_recording_is_refused_before_anything_is_sent(tmp_path, monkeypatch):
    empty = tmp_path / "vide.wav"
    empty.write_bytes(b"")
    text = tmp_path / "notes.wav"
    text.write_bytes(b"Patient vu ce jour." * 100)
    playlist = tmp_path / "live.m3u8"
    playlist.write_bytes(b"#EXTM3U\n#EXT-X-TARGETDURATION:10\nhttp://x/a.ts\n")
    for path, said in ((tmp_path / "absent.wav", "file not found"), (tmp_path, "file not found"), (empty, "empty file"),
                       (text, "not a readable audio recording"), (playlist, "not a readable audio recording")):
        with pytest.raises(SendError, match=said):
            checked_recording(path)
    big = write_tone(tmp_path / "long.wav", seconds=2.0)
    monkeypatch.setattr(upload, "MAX_RECORDING_BYTES", 1000)
    with pytest.raises(SendError, match="recording too large"):
        checked_recording(big)


@pytest.mark.parametrize("typed", ["x" * 201, "ROCHE\x00Inès", "ROCHE\x1b[31m", "a\x85b"])
def test_what_is_typed_for_the_page_is_checked_as_the_page_does(typed):
    with pytest.raises(SendError, match="no control character"):
        checked_hint(typed, ("patient", "patient"))
    assert checked_hint("  ROCHE Inès  ", ("patient", "patient")) == "ROCHE Inès" and checked_hint(" ", ("p", "p")) is None


def test_wrong_password_a_secretary_and_an_account_without_second_factor_are_said(group):
    app, _ = group
    with pytest.raises(SendError, match="wrong credentials"):
        Desk(TestClient(app, follow_redirects=False, client=LOCAL_CLIENT), "dr_dupont").sign_in("wrong", lambda: "")
    with pytest.raises(SendError, match="this account does not dictate"):
        signed_in(app, "lea")
    with pytest.raises(SendError, match="enrol a second factor in a browser"):
        signed_in(app, client=REMOTE_CLIENT)


def test_from_outside_the_second_factor_is_asked_and_a_wrong_code_refused(group):
    app, _ = group
    with TestClient(app, follow_redirects=False, client=REMOTE_CLIENT) as browser:  # enrolled once, in a browser
        browser.post("/login", data={"username": "dr_dupont", "password": REVIEW_PASSWORD})
        secret = re.search(r'<code id="secret">([A-Z2-7]+)</code>', browser.get("/login/enrol").text).group(1)
        assert browser.post("/login/enrol", data={"code": pyotp.TOTP(secret).now()}).status_code == 200
    with pytest.raises(SendError, match="wrong code"):
        signed_in(app, client=REMOTE_CLIENT, code=lambda: "000000")
    asked = []
    desk = signed_in(app, client=REMOTE_CLIENT, code=lambda: asked.append(1) or pyotp.TOTP(secret).at(time.time() + 30))
    assert asked == [1] and desk.csrf


def test_an_unreachable_desk_is_a_message_not_a_traceback():
    desk = send.open_desk(f"http://127.0.0.1:{free_port()}", "dr_dupont")
    with pytest.raises(SendError, match="desk unreachable"):
        desk.sign_in("x", lambda: "")


@pytest.mark.slow
def test_dictee_send_over_tls_to_a_real_desk_lands_in_his_folder(settings, tmp_path):
    """The command as a practitioner runs it: a real desk over HTTPS with its own certificate."""
    cert, key = self_signed_certificate(tmp_path)
    (tmp_path / "dictee.toml").write_text('[practitioners.dupont]\nname = "Dr Anne Dupont"\n', encoding="utf-8")
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("DICTEE_")},
           "DICTEE_OUTBOX": str(settings.outbox), "DICTEE_INBOX": str(settings.inbox),
           "XDG_STATE_HOME": str(tmp_path / "state")}
    group = settings.model_copy(update={"practitioners": {"dupont": PRACTITIONERS["dupont"]}})
    app = create_app(group)
    with app.state.sessions() as session:
        add_user(session, "dr_dupont", REVIEW_PASSWORD, "practitioner")
        set_practitioner(session, "dr_dupont", "dupont", known_folders=group.practitioners)
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "pipeline.cli", "review", "--port", str(port),
                               "--tls-cert", str(cert), "--tls-key", str(key)],
                              cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    recording = write_tone(tmp_path / "Mme Roche.wav", seconds=30.0)  # about 1 MB: several chunks
    command = [sys.executable, "-m", "pipeline.cli", "send", str(recording), "--to", f"https://127.0.0.1:{port}",
               "--user", "dr_dupont", "--ca", str(cert)]
    try:
        deadline = time.time() + 90
        while True:
            done = subprocess.run(command, cwd=tmp_path, env={**env, "DICTEE_PASSWORD": REVIEW_PASSWORD},
                                  capture_output=True, text=True, timeout=120)
            if done.returncode == 0 or "desk unreachable" not in done.stdout + done.stderr or time.time() > deadline:
                break
            time.sleep(0.5)  # the desk is still starting
        assert done.returncode == 0, done.stdout + done.stderr
        job_id = re.search(r"→ ([0-9a-f]{16})", done.stdout).group(1)
        assert landed(settings).read_bytes() == recording.read_bytes() and job_id
        untrusted = subprocess.run(command[:-2], cwd=tmp_path, env={**env, "DICTEE_PASSWORD": REVIEW_PASSWORD},
                                   capture_output=True, text=True, timeout=120)
        assert untrusted.returncode == 2 and "desk unreachable" in untrusted.stdout + untrusted.stderr
        assert "Traceback" not in untrusted.stdout + untrusted.stderr
    finally:
        stop_process(server)
