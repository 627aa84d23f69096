"""Télésecrétariat in a real browser (Debian's Chromium through Playwright): TOTP enrolment and
login, a session closing when idle, and a dictation recorded with Chromium's fake microphone
(fed from a real FLEURS clip), uploaded across a dropped connection, drafted by the real
recognizer, and shown to the secretary of that practitioner only."""

from __future__ import annotations

import re
import threading
import time
from pathlib import Path

import pyotp
import pytest

from pipeline import audio, ingest, upload
from pipeline.job import run_job
from pipeline.review import create_app
from pipeline.review.auth import add_user, set_practitioner, set_served
from pipeline.settings import Practitioner
from tests.conftest import REPO, REVIEW_PASSWORD, free_port, require
from tests.test_review_browser import CHROMIUM, CHROMIUM_ARGS, SCREENSHOTS, wait_until

pytestmark = pytest.mark.slow
FLEURS = REPO.parent / "shared" / "eval" / "audio-fleurs-fr"
PRACTITIONERS = {"dupont": Practitioner(name="Dr Anne Dupont"), "martin": Practitioner(name="Dr Paul Martin")}


def serve(app):
    import uvicorn

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.time() + 30
    while not server.started and time.time() < deadline:
        time.sleep(0.1)
    return f"http://127.0.0.1:{port}", server, thread


@pytest.fixture
def remote_desk(settings, monkeypatch):
    if not Path(CHROMIUM).exists():
        pytest.skip("Chromium is not installed (apt-get install chromium); scripts/test.sh installs it when run as root")
    # No network counts as the practice's: every login here is « from outside », as at home.
    group = settings.model_copy(update={"practitioners": PRACTITIONERS, "review_local_networks": []})
    for folder in PRACTITIONERS:
        (group.inbox / folder).mkdir(parents=True)
    monkeypatch.setattr(upload, "BROWSER_CHUNK_BYTES", 8 * 1024)  # several chunks from a short recording
    app = create_app(group)
    with app.state.sessions() as session:
        add_user(session, "dr_dupont", REVIEW_PASSWORD, "practitioner")
        set_practitioner(session, "dr_dupont", "dupont", known_folders=PRACTITIONERS)
        for name, folder in (("lea", "dupont"), ("marc", "martin")):
            add_user(session, name, REVIEW_PASSWORD, "secretary")
            set_served(session, name, [folder], known_folders=PRACTITIONERS)
    base, server, thread = serve(app)
    yield base, group
    server.should_exit = True
    thread.join(timeout=10)


def sign_in_with_totp(page, base: str, username: str, *, shot: str | None = None) -> None:
    page.goto(base + "/login")
    page.fill("#username", username)
    page.fill("#password", REVIEW_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(base + "/login/enrol")
    assert page.locator("#qr svg").count() == 1
    secret = page.inner_text("#secret")
    if shot:
        page.screenshot(path=str(SCREENSHOTS / shot), full_page=True)
    page.fill("#code", pyotp.TOTP(secret).now())
    page.click("#confirm")
    assert page.locator("#recovery-codes li").count() == 10
    page.click("#continue")


def fake_microphone(tmp_path: Path) -> Path:
    """A FLEURS clip as the WAV Chromium plays into its fake microphone."""
    clip = require(FLEURS / "fleurs-fr-001.ogg")
    samples = audio.decode(clip, min_duration_s=0.5, max_duration_s=120)
    return audio.write_wav(tmp_path / "microphone.wav", samples)


def test_a_practitioner_dictates_from_the_browser_across_a_dropped_connection(remote_desk, tmp_path):
    from playwright.sync_api import sync_playwright

    base, group = remote_desk
    SCREENSHOTS.mkdir(exist_ok=True)
    microphone = fake_microphone(tmp_path)
    args = [*CHROMIUM_ARGS, "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
            f"--use-file-for-fake-audio-capture={microphone}"]
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=args)
        phone = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
        page = phone.new_page()
        sign_in_with_totp(page, base, "dr_dupont", shot="remote-totp-enrol.png")
        page.goto(base + "/dicter")

        # The network drops once mid-upload, after the server has taken the chunk: the page must ask
        # where to resume and not send it twice.
        dropped = []

        def flaky(route):
            if "offset=0" not in route.request.url and not dropped:
                route.fetch()  # the chunk reaches the server…
                dropped.append(route.request.url)
                route.abort("connectionreset")  # …but its answer is lost
            else:
                route.continue_()

        page.route(re.compile(r".*/dicter/uploads/[0-9a-f]+\?offset=.*"), flaky)
        page.fill("#patient", "ROCHE Inès 13/05/1988")
        page.click("#record")
        wait_until(page, "document.getElementById('clock').textContent === '0:06'", timeout_s=20)
        page.click("#pause")
        page.click("#listen")
        wait_until(page, "!document.getElementById('playback').paused || document.getElementById('playback').ended")
        page.click("#resume")  # and go on recording
        wait_until(page, "document.getElementById('clock').textContent === '0:12'", timeout_s=20)
        page.screenshot(path=str(SCREENSHOTS / "remote-dictate-phone.png"), full_page=True)
        page.click("#send")
        wait_until(page, "document.getElementById('recorder').dataset.sent !== undefined", timeout_s=60)
        job_id = page.get_attribute("#recorder", "data-sent")
        assert dropped, "the connection was never dropped"
        assert job_id in page.inner_text("#recent")
        browser.close()

    [landed] = ingest.list_candidates(group.inbox, group.practitioners)
    assert landed.parent == group.inbox / "dupont" and landed.suffix == ".webm"
    dictation = ingest.claim_dictation(landed, work_dir=group.work_dir, outbox=group.outbox, author="dupont")
    assert dictation.job_id == job_id
    outcome = run_job(dictation, group)  # the bundled Whisper model, for real
    assert outcome.status == "drafted", outcome
    import json

    result = json.loads((group.outbox / job_id / "result.json").read_text(encoding="utf-8"))
    heard = result["transcript"]["raw"].lower()
    assert 9 <= result["source"]["duration_s"] <= 16
    assert sum(word in heard for word in ("accord", "déclaration", "olympique", "athlètes")) >= 2, heard
    assert result["patient"]["last_name"] == "ROCHE"  # typed on the phone

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page()
        sign_in_with_totp(page, base, "lea")
        assert page.locator(f"a[href='/jobs/{job_id}']").count() == 1
        page.screenshot(path=str(SCREENSHOTS / "remote-worklist-lea.png"), full_page=True)
        other = browser.new_context().new_page()
        sign_in_with_totp(other, base, "marc")
        assert other.locator(f"a[href='/jobs/{job_id}']").count() == 0
        response = other.goto(f"{base}/jobs/{job_id}")
        assert response.status == 404
        browser.close()


def test_an_idle_session_sends_the_browser_back_to_the_login(settings):
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.skip("Chromium is not installed")
    app = create_app(settings.model_copy(update={"session_idle_minutes": 0.03}))  # about 2 s
    with app.state.sessions() as session:
        add_user(session, "lea", REVIEW_PASSWORD, "secretary")
    base, server, thread = serve(app)
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page()
            page.goto(base + "/login")
            page.fill("#username", "lea")
            page.fill("#password", REVIEW_PASSWORD)
            page.click("button[type=submit]")
            page.wait_for_url(base + "/")
            time.sleep(3)
            page.reload()
            assert page.url.endswith("/login?expired=1")
            assert "inactivité" in page.inner_text("#notice")
            browser.close()
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def test_dicter_clears_the_patient_recipient_and_urgency_after_each_send(remote_desk, tmp_path):
    """The second dictation was linked to the first one's patient, and marked urgent."""
    from playwright.sync_api import sync_playwright

    from pipeline import hints

    base, group = remote_desk
    args = [*CHROMIUM_ARGS, "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
            f"--use-file-for-fake-audio-capture={fake_microphone(tmp_path)}"]
    sent = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=args)
        page = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True).new_page()
        sign_in_with_totp(page, base, "dr_dupont")
        page.goto(base + "/dicter")
        page.fill("#patient", "GIRAUD Lucie 15/02/2017")
        page.fill("#recipient", "Dr Martin, cardiologue à Lyon")
        page.check("#urgent")
        for seconds in ("0:02", "0:03"):  # two recordings of different lengths: two dictations
            page.click("#record")
            wait_until(page, f"document.getElementById('clock').textContent === '{seconds}'", timeout_s=20)
            page.click("#send")
            wait_until(page, f"document.getElementById('recorder').dataset.sent !== undefined && "
                             f"!{sent!r}.includes(document.getElementById('recorder').dataset.sent)", timeout_s=60)
            sent.append(page.get_attribute("#recorder", "data-sent"))
            if len(sent) == 1:
                assert "GIRAUD Lucie 15/02/2017" in page.inner_text("#last-sent")
                assert page.input_value("#patient") == "" and page.input_value("#recipient") == ""
                assert not page.is_checked("#urgent")
        assert "sans patient" in page.inner_text("#last-sent")
        browser.close()
    first, second = sent
    assert hints.load_hints(group.store(), first)["patient"] == "GIRAUD Lucie 15/02/2017"
    assert not (hints.load_hints(group.store(), second) or {}).get("patient")
    landed = {path.parent.name for path in ingest.list_candidates(group.inbox, group.practitioners)}
    assert landed == {"urgent", "dupont"}  # the first urgent, the second not
