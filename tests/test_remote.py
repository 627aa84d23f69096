"""Télésecrétariat: the desk opened beyond the practice — second factor, idle sessions, HTTPS,
each account confined to the practitioners it serves, and dictations uploaded from a browser."""

from __future__ import annotations

import json
import re
import time

import pyotp
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from pipeline import hints, ingest
from pipeline.job import run_job
from pipeline.review import create_app
from pipeline.review.auth import add_user, set_practitioner, set_served
from pipeline.review.db import AuditEvent
from pipeline.settings import Practitioner
from tests.conftest import LOCAL_CLIENT, REVIEW_PASSWORD, write_tone

REMOTE_CLIENT = ("203.0.113.7", 40000)  # a home office (TEST-NET-3)
PRACTITIONERS = {"dupont": Practitioner(name="Dr Anne Dupont"), "martin": Practitioner(name="Dr Paul Martin")}


def actions(app) -> list[str]:
    with app.state.sessions() as session:
        return [event.action for event in session.scalars(select(AuditEvent).order_by(AuditEvent.id))]


def csrf_of(page: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', page).group(1)


@pytest.fixture
def desk(settings):
    app = create_app(settings)
    with app.state.sessions() as session:
        add_user(session, "lea", REVIEW_PASSWORD, "secretary")
    return app


def remote_login(client, username: str = "lea") -> None:
    response = client.post("/login", data={"username": username, "password": REVIEW_PASSWORD})
    assert response.status_code == 303, response.text
    return response


def test_a_remote_login_enrols_a_second_factor_then_asks_it_every_time(desk):
    with TestClient(desk, follow_redirects=False, client=REMOTE_CLIENT) as client:
        assert remote_login(client).headers["location"] == "/login/enrol"
        assert client.get("/").status_code == 303  # no session before the second factor
        page = client.get("/login/enrol").text
        secret = re.search(r'<code id="secret">([A-Z2-7]+)</code>', page).group(1)
        assert "<svg" in page and "otpauth" not in page.split("<svg")[0]  # the QR code, inline
        assert client.post("/login/enrol", data={"code": "000000"}).status_code == 401
        code = pyotp.TOTP(secret).now()
        done = client.post("/login/enrol", data={"code": code})
        assert done.status_code == 200 and "dictee_session" in done.headers["set-cookie"]
        recovery = re.findall(r"<li><code>([0-9a-f]{6}-[0-9a-f]{6})</code></li>", done.text)
        assert len(recovery) == 10
        assert client.get("/").status_code == 200

    with TestClient(desk, follow_redirects=False, client=REMOTE_CLIENT) as client:
        assert remote_login(client).headers["location"] == "/login/code"
        assert client.post("/login/code", data={"code": code}).status_code == 401  # a code is taken once
        assert client.post("/login/code", data={"code": recovery[0]}).status_code == 303
        assert client.get("/").status_code == 200
    with TestClient(desk, follow_redirects=False, client=LOCAL_CLIENT) as client:
        assert remote_login(client).headers["location"] == "/login/code"  # enrolled: asked even in the practice
        assert client.post("/login/code", data={"code": recovery[0]}).status_code == 401  # used up
        assert client.post("/login/code", data={"code": recovery[1]}).status_code == 303
    assert {"totp_enrol", "totp_failed", "recovery_used"} <= set(actions(desk))
    with desk.state.sessions() as session:  # the secret is not left readable in the audit detail
        assert not any(secret in json.dumps(e.detail) for e in session.scalars(select(AuditEvent)))


def test_the_second_factor_is_throttled_like_the_password(desk):
    with TestClient(desk, follow_redirects=False, client=REMOTE_CLIENT) as client:
        remote_login(client)
        secret = re.search(r'<code id="secret">([A-Z2-7]+)</code>', client.get("/login/enrol").text).group(1)
        client.post("/login/enrol", data={"code": pyotp.TOTP(secret).now()})
    with TestClient(desk, follow_redirects=False, client=REMOTE_CLIENT) as client:
        remote_login(client)
        statuses = [client.post("/login/code", data={"code": "123456"}).status_code for _ in range(5)]
        assert statuses[:3] == [401, 401, 401] and 429 in statuses


def test_an_idle_session_closes_and_says_why(settings):
    app = create_app(settings.model_copy(update={"session_idle_minutes": 0.005}))  # 0.3 s
    with app.state.sessions() as session:
        add_user(session, "lea", REVIEW_PASSWORD, "secretary")
    with TestClient(app, follow_redirects=False, client=LOCAL_CLIENT) as client:
        remote_login(client)
        assert client.get("/").status_code == 200
        time.sleep(0.5)
        expired = client.get("/")
        assert expired.status_code == 303 and expired.headers["location"] == "/login?expired=1"
        assert "inactivité" in client.get("/login?expired=1").text
        assert client.get("/").headers["location"] == "/login"  # the session is gone, not just refused once
    assert "session_expired" in actions(app)


def test_over_https_cookies_are_secure_and_hsts_is_sent(desk):
    with TestClient(desk, follow_redirects=False, client=LOCAL_CLIENT, base_url="https://testserver") as client:
        response = remote_login(client)
        assert "secure" in response.headers["set-cookie"].lower()
        assert client.get("/").headers["strict-transport-security"].startswith("max-age=31536000")
    with TestClient(desk, follow_redirects=False, client=LOCAL_CLIENT) as client:
        assert "strict-transport-security" not in client.get("/login").headers


@pytest.fixture
def practice(settings, fake_transcriber):
    """Two practitioners' drafts; « lea » serves Dr Dupont only, « marc » Dr Martin only."""
    group = settings.model_copy(update={"practitioners": PRACTITIONERS})
    drafts = {}
    for folder, seconds in (("dupont", 3.0), ("martin", 4.0)):
        (group.inbox / folder).mkdir(parents=True)
        source = write_tone(group.inbox / folder / "dictee.wav", seconds=seconds)
        dictation = ingest.claim_dictation(source, work_dir=group.work_dir, outbox=group.outbox, author=folder)
        run_job(dictation, group)
        drafts[folder] = dictation.job_id
    app = create_app(group)
    with app.state.sessions() as session:
        for name, folder in (("lea", "dupont"), ("marc", "martin")):
            add_user(session, name, REVIEW_PASSWORD, "secretary")
            set_served(session, name, [folder], known_folders=PRACTITIONERS)
        add_user(session, "dr_dupont", REVIEW_PASSWORD, "practitioner")
        set_practitioner(session, "dr_dupont", "dupont", known_folders=PRACTITIONERS)
        set_served(session, "dr_dupont", ["dupont"], known_folders=PRACTITIONERS)
        add_user(session, "dr_martin", REVIEW_PASSWORD, "practitioner")
        set_practitioner(session, "dr_martin", "martin", known_folders=PRACTITIONERS)
    return app, group, drafts


def job_routes(app) -> list[tuple[str, str]]:
    """Every route of a draft the desk has (found, not listed by hand: a new route is covered too)."""
    from fastapi.routing import APIRoute

    routes = [route for entry in app.routes
              for route in (entry.original_router.routes if hasattr(entry, "original_router") else [entry])]
    found = [(method, route.path) for route in routes if isinstance(route, APIRoute) and "{job_id}" in route.path
             for method in route.methods]
    assert len(found) >= 11
    return found


def test_an_account_opens_only_the_drafts_of_the_practitioners_it_serves(practice):
    app, group, drafts = practice
    with TestClient(app, follow_redirects=False, client=LOCAL_CLIENT) as client:
        remote_login(client, "lea")
        page = client.get("/").text
        csrf = csrf_of(page)
        assert drafts["dupont"] in page and drafts["martin"] not in page
        assert "Dr Anne Dupont" in page and "Dr Paul Martin" not in page
        for method, path in job_routes(app):
            url = path.replace("{job_id}", drafts["martin"]).replace("{index}", "0")
            response = client.request(method, url, data={"csrf": csrf} if method == "POST" else None)
            assert response.status_code == 404, (method, path, response.status_code)
        # Her own practitioner's draft opens: the audio, the Word file and the preview.
        for suffix in ("", "/audio", "/draft.docx", "/preview"):
            assert client.get(f"/jobs/{drafts['dupont']}{suffix}").status_code == 200, suffix
    with TestClient(app, follow_redirects=False, client=LOCAL_CLIENT) as client:
        remote_login(client, "marc")
        assert client.get(f"/jobs/{drafts['dupont']}/audio").status_code == 404
        assert client.get(f"/jobs/{drafts['martin']}/audio").status_code == 200


def test_the_worklist_groups_by_practitioner_with_backlog_and_turnaround(practice):
    app, group, drafts = practice
    write_tone(group.inbox / "martin" / "waiting.wav", seconds=1.0)
    with app.state.sessions() as session:
        add_user(session, "centre", REVIEW_PASSWORD, "secretary")  # serves everyone
    with TestClient(app, follow_redirects=False, client=LOCAL_CLIENT) as client:
        remote_login(client, "centre")
        table = re.search(r'<table id="practitioners".*?</table>', client.get("/").text, re.DOTALL).group(0)
    rows = {name: cells for name, *cells in (re.findall(r"<td>(?:<a[^>]*>)?([^<]*)", row)
                                             for row in re.findall(r"<tr><td>.*?</tr>", table, re.DOTALL))}
    assert rows["Dr Anne Dupont"][:3] == ["1", "0", "0"] and rows["Dr Paul Martin"][:3] == ["1", "0", "1"]


def dictating(client, username: str) -> str:
    """Logged in as this practitioner, on the « Dicter » page: its CSRF token."""
    remote_login(client, username)
    return csrf_of(client.get("/dicter").text)


def upload(client, csrf: str, data: bytes, *, chunk: int = 1000, **details) -> str:
    started = client.post("/dicter/uploads", json=details, headers={"X-CSRF-Token": csrf})
    assert started.status_code == 200, started.text
    upload_id = started.json()["id"]
    for offset in range(0, len(data), chunk):
        sent = client.put(f"/dicter/uploads/{upload_id}?offset={offset}", content=data[offset:offset + chunk],
                          headers={"X-CSRF-Token": csrf})
        assert sent.status_code == 200 and sent.json()["offset"] == min(offset + chunk, len(data))
    return upload_id


def webm_like(size: int) -> bytes:
    return b"\x1aE\xdf\xa3" + bytes(range(256)) * (size // 256)


def test_a_browser_upload_resumes_where_the_server_stopped_and_lands_whole(practice):
    app, group, _ = practice
    data = webm_like(5000)
    with TestClient(app, follow_redirects=False, client=LOCAL_CLIENT) as client:
        csrf = dictating(client, "dr_dupont")
        assert client.post("/dicter/uploads", json={}).status_code == 403  # no CSRF header
        started = client.post("/dicter/uploads", json={"patient": "ROCHE Inès 13/05/1988", "urgent": True},
                              headers={"X-CSRF-Token": csrf}).json()
        upload_id, headers = started["id"], {"X-CSRF-Token": csrf}
        assert client.put(f"/dicter/uploads/{upload_id}?offset=0", content=data[:2000], headers=headers).json() == {
            "offset": 2000}
        # The connection dropped after the server got the chunk: the phone sends it again.
        again = client.put(f"/dicter/uploads/{upload_id}?offset=0", content=data[:2000], headers=headers)
        assert again.status_code == 409 and again.json()["offset"] == 2000
        assert client.get(f"/dicter/uploads/{upload_id}").json() == {"offset": 2000}
        assert ingest.list_candidates(group.inbox, group.practitioners) == []  # half a recording is never claimed
        early = client.post(f"/dicter/uploads/{upload_id}/finish?size={len(data)}", headers=headers)
        assert early.status_code == 409 and early.json()["offset"] == 2000
        client.put(f"/dicter/uploads/{upload_id}?offset=2000", content=data[2000:], headers=headers)
        done = client.post(f"/dicter/uploads/{upload_id}/finish?size={len(data)}", headers=headers)
        assert done.status_code == 200
        job_id = done.json()["job_id"]
        assert job_id in client.get("/dicter").text and "en cours de transcription" in client.get("/dicter").text
    [landed] = ingest.list_candidates(group.inbox, group.practitioners)
    assert landed.parent == group.inbox / "dupont" / "urgent" and landed.suffix == ".webm"
    assert landed.read_bytes() == data
    assert hints.load_hints(group.store(), job_id)["patient"] == "ROCHE Inès 13/05/1988"
    assert not list((group.outbox / ".work" / "uploads").iterdir())


def test_an_upload_belongs_to_its_practitioner_and_must_be_audio(practice):
    app, group, _ = practice
    with TestClient(app, follow_redirects=False, client=LOCAL_CLIENT) as client:
        csrf = dictating(client, "dr_dupont")
        upload_id = upload(client, csrf, b"not audio at all" * 10)
        refused = client.post(f"/dicter/uploads/{upload_id}/finish?size=160", headers={"X-CSRF-Token": csrf})
        assert refused.status_code == 422 and "not an audio recording" in refused.json()["error"]
    with TestClient(app, follow_redirects=False, client=LOCAL_CLIENT) as client:
        csrf = dictating(client, "dr_martin")
        assert client.get(f"/dicter/uploads/{upload_id}").status_code == 404
        assert client.put(f"/dicter/uploads/{upload_id}?offset=160", content=b"x",
                          headers={"X-CSRF-Token": csrf}).status_code == 404
    with TestClient(app, follow_redirects=False, client=LOCAL_CLIENT) as client:
        remote_login(client, "lea")  # a secretary does not dictate
        assert client.get("/dicter").status_code == 403


def test_a_chunk_over_the_limit_is_refused_while_it_arrives(practice, monkeypatch):
    """A 500 MB body used to be read whole before its size was checked."""
    from pipeline import upload as uploads

    app, _, _ = practice
    monkeypatch.setattr(uploads, "MAX_CHUNK_BYTES", 64 * 1024)

    def body():  # chunked, no Content-Length: counted as it is read
        for _ in range(400):
            yield b"\x00" * 16 * 1024

    with TestClient(app, follow_redirects=False, client=LOCAL_CLIENT) as client:
        csrf = dictating(client, "dr_dupont")
        upload_id = client.post("/dicter/uploads", json={}, headers={"X-CSRF-Token": csrf}).json()["id"]
        refused = client.put(f"/dicter/uploads/{upload_id}?offset=0", content=body(), headers={"X-CSRF-Token": csrf})
        assert refused.status_code == 413 and "too large" in refused.json()["error"]
        declared = client.put(f"/dicter/uploads/{upload_id}?offset=0", content=b"x" * (65 * 1024),
                              headers={"X-CSRF-Token": csrf})
        assert declared.status_code == 413
        assert client.get(f"/dicter/uploads/{upload_id}").json() == {"offset": 0}  # nothing of it kept


def test_open_uploads_are_bounded_per_account(practice):
    from pipeline import upload as uploads

    app, _, _ = practice
    with TestClient(app, follow_redirects=False, client=LOCAL_CLIENT) as client:
        csrf = dictating(client, "dr_dupont")
        for _ in range(uploads.MAX_OPEN_PER_ACCOUNT):
            assert client.post("/dicter/uploads", json={}, headers={"X-CSRF-Token": csrf}).status_code == 200
        refused = client.post("/dicter/uploads", json={}, headers={"X-CSRF-Token": csrf})
        assert refused.status_code == 429 and "trop d'envois" in refused.json()["error"]
    with TestClient(app, follow_redirects=False, client=LOCAL_CLIENT) as client:
        csrf = dictating(client, "dr_martin")  # another account is not held back by the first
        assert client.post("/dicter/uploads", json={}, headers={"X-CSRF-Token": csrf}).status_code == 200


def test_what_the_practitioner_typed_replaces_what_was_heard(settings, fake_transcriber):
    hints.save_hints(settings.store(), "0123456789abcdef", patient="ROCHE Inès 13/05/1988",
                     recipient="Dr Lenoir, pneumologue à Nantes")
    assert hints.load_hints(settings.store(), "0123456789abcdef")["recipient"].startswith("Dr Lenoir")
    source = write_tone(settings.inbox / "dictee.wav", seconds=3.0)
    dictation = ingest.claim_dictation(source, work_dir=settings.work_dir, outbox=settings.outbox)
    hints.save_hints(settings.store(), dictation.job_id, patient="ROCHE Inès 13/05/1988",
                     recipient="Dr Lenoir, pneumologue à Nantes")
    run_job(dictation, settings)
    result = json.loads((settings.outbox / dictation.job_id / "result.json").read_text(encoding="utf-8"))
    assert (result["patient"]["last_name"], result["patient"]["first_name"], result["patient"]["birth_date"]) == (
        "ROCHE", "Inès", "1988-05-13")
    assert (result["recipient"]["last_name"], result["recipient"]["specialty"], result["recipient"]["city"]) == (
        "Lenoir", "pneumologue", "Nantes")
    assert not hints.hints_path(settings.store(), dictation.job_id).exists()  # gone once drafted


def test_a_patient_typed_on_dicter_leaves_no_stale_no_patient_alert(settings, fake_transcriber):
    """The dictation named nobody, the practitioner typed the patient: « aucun patient » stayed."""
    fake_transcriber.text = "Courrier au docteur Martin. Cher confrère, je vous remercie. Bien confraternellement."
    source = write_tone(settings.inbox / "dictee.wav", seconds=3.0)
    dictation = ingest.claim_dictation(source, work_dir=settings.work_dir, outbox=settings.outbox)
    hints.save_hints(settings.store(), dictation.job_id, patient="GIRAUD Lucie 15/02/2017", recipient=None)
    run_job(dictation, settings)
    result = json.loads((settings.outbox / dictation.job_id / "result.json").read_text(encoding="utf-8"))
    assert result["patient"]["last_name"] == "GIRAUD"
    assert not {"no_patient", "incomplete_identity"} & {flag["kind"] for flag in result["flags"]}


def test_the_desk_speaks_tls_with_a_real_handshake(tmp_path):
    import os
    import ssl
    import subprocess
    import sys
    import urllib.request

    from tests.conftest import free_port, self_signed_certificate, stop_process

    self_signed_certificate(tmp_path)
    port = free_port()
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("DICTEE_")},
           "DICTEE_OUTBOX": str(tmp_path / "outbox"), "DICTEE_INBOX": str(tmp_path / "inbox")}
    server = subprocess.Popen([sys.executable, "-m", "pipeline.cli", "review", "--port", str(port),
                               "--tls-cert", str(tmp_path / "cert.pem"), "--tls-key", str(tmp_path / "key.pem")],
                              cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        context = ssl.create_default_context(cafile=str(tmp_path / "cert.pem"))
        deadline = time.time() + 60
        while True:
            try:
                response = urllib.request.urlopen(f"https://127.0.0.1:{port}/login", context=context, timeout=5)
                break
            except (urllib.error.URLError, ConnectionError):
                if time.time() > deadline or server.poll() is not None:
                    raise AssertionError(server.stderr.read() if server.poll() is not None else "no TLS server")
                time.sleep(0.3)
        with response:
            assert response.status == 200 and response.headers["Strict-Transport-Security"].startswith("max-age=")
        with pytest.raises(urllib.error.URLError):  # an untrusted certificate is refused: TLS is real
            urllib.request.urlopen(f"https://127.0.0.1:{port}/login", context=ssl.create_default_context(), timeout=5)
    finally:
        stop_process(server)


def test_uploads_abandoned_for_days_are_removed_when_the_desk_starts(settings):
    import os

    from pipeline.upload import ChunkedUpload, UploadInfo, uploads_dir

    info = UploadInfo(folder="", username="dr", urgent=False, patient=None, recipient=None, started_at="")
    old = ChunkedUpload.start(settings.store(), info)
    old.append(0, b"abc")
    fresh = ChunkedUpload.start(settings.store(), info)
    three_days_ago = time.time() - 3 * 86400
    for path in old.folder.iterdir():
        os.utime(path, (three_days_ago, three_days_ago))
    create_app(settings)
    assert sorted(p.name for p in uploads_dir(settings.store()).iterdir()) == [fresh.upload_id]


def fragmented_mp4_aac(seconds: float) -> bytes:
    """What Safari's MediaRecorder makes: AAC in a fragmented MP4 (no Safari here to record one)."""
    import io

    import av
    import numpy as np

    buffer, rate = io.BytesIO(), 48_000
    with av.open(buffer, mode="w", format="mp4",
                 options={"movflags": "frag_keyframe+empty_moov+default_base_moof"}) as container:
        stream = container.add_stream("aac", rate=rate)
        stream.layout = "mono"
        wave = (0.3 * np.sin(2 * np.pi * 440 * np.arange(int(rate * seconds)) / rate)).astype(np.float32)
        for start in range(0, len(wave), 1024):
            frame = av.AudioFrame.from_ndarray(wave[start:start + 1024][None, :], format="fltp", layout="mono")
            frame.rate = rate
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return buffer.getvalue()


def test_a_safari_recording_aac_in_fragmented_mp4_lands_and_decodes(practice):
    from pipeline import audio

    app, group, _ = practice
    data = fragmented_mp4_aac(3.0)
    with TestClient(app, follow_redirects=False, client=LOCAL_CLIENT) as client:
        csrf = dictating(client, "dr_dupont")
        upload_id = upload(client, csrf, data, chunk=4096)
        assert client.post(f"/dicter/uploads/{upload_id}/finish?size={len(data)}",
                           headers={"X-CSRF-Token": csrf}).status_code == 200
    [landed] = ingest.list_candidates(group.inbox, group.practitioners)
    assert landed.suffix == ".m4a"
    assert abs(len(audio.decode(landed, min_duration_s=0.5, max_duration_s=60)) / audio.SAMPLE_RATE - 3.0) < 0.1


def test_an_admin_sees_who_has_a_second_factor_and_clears_a_lost_one(desk):
    with desk.state.sessions() as session:
        add_user(session, "admin", REVIEW_PASSWORD, "admin")
    with TestClient(desk, follow_redirects=False, client=REMOTE_CLIENT) as client:
        remote_login(client)
        secret = re.search(r'<code id="secret">([A-Z2-7]+)</code>', client.get("/login/enrol").text).group(1)
        client.post("/login/enrol", data={"code": pyotp.TOTP(secret).now()})
    with TestClient(desk, follow_redirects=False, client=LOCAL_CLIENT) as client:
        remote_login(client, "admin")
        page = client.get("/comptes").text
        assert "Réinitialiser (téléphone perdu)" in page and "tout le cabinet" in page
        assert client.post("/comptes/lea", data={"csrf": csrf_of(page), "action": "reset_2fa"}).status_code == 303
        assert "Réinitialiser" not in client.get("/comptes").text
    with TestClient(desk, follow_redirects=False, client=REMOTE_CLIENT) as client:
        assert remote_login(client).headers["location"] == "/login/enrol"  # enrols again
    assert "totp_reset" in actions(desk)


def test_an_account_enrols_from_the_practice_before_working_remotely(desk):
    with TestClient(desk, follow_redirects=False, client=LOCAL_CLIENT) as client:
        remote_login(client)
        page = client.get("/securite").text
        secret = re.search(r'<code id="secret">([A-Z2-7]+)</code>', page).group(1)
        assert client.post("/securite/enrol", data={"code": pyotp.TOTP(secret).now()}).status_code == 403  # no CSRF
        done = client.post("/securite/enrol", data={"csrf": csrf_of(page), "code": pyotp.TOTP(secret).now()})
        assert done.status_code == 200 and len(re.findall(r"<li><code>", done.text)) == 10
        assert 'id="enrolled"' in client.get("/securite").text
    with TestClient(desk, follow_redirects=False, client=REMOTE_CLIENT) as client:
        assert remote_login(client).headers["location"] == "/login/code"  # no enrolment from outside now
        # A stolen password cannot enrol another phone in its place.
        assert client.get("/login/enrol").headers["location"] == "/login/code"
        assert client.post("/login/enrol", data={"code": "123456"}).headers["location"] == "/login/code"
        assert client.get("/").status_code == 303


def test_the_dictate_page_shows_each_dictation_of_the_practitioner_in_its_state(practice):
    app, _, drafts = practice
    with TestClient(app, follow_redirects=False, client=LOCAL_CLIENT) as client:
        remote_login(client, "dr_dupont")
        recent = re.search(r'<table id="recent">.*?</table>', client.get("/dicter").text, re.DOTALL).group(0)
    assert drafts["dupont"] in recent and "à relire" in recent and drafts["martin"] not in recent
