"""The review app in a real browser (Debian's Chromium through Playwright): log in, open a
draft, click a word to play it, edit a field, approve, and find the filed letter on disk —
with the outbox in clear and encrypted at rest (then the audio is served from memory)."""

from __future__ import annotations

import shutil
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

from pipeline import ingest
from pipeline.job import run_job
from pipeline.review import create_app
from pipeline.review.auth import add_user, set_practitioner
from pipeline.vault import create_key_file, is_sealed
from tests.conftest import REPO, free_port, write_tone

pytestmark = pytest.mark.slow
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SCREENSHOTS = REPO / "test-output"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--autoplay-policy=no-user-gesture-required"]


def wait_until(page, expression: str, *, timeout_s: float = 15.0) -> None:
    """Poll a function in the page (our CSP forbids the eval behind wait_for_function)."""
    deadline = time.time() + timeout_s
    while not page.evaluate(f"() => {expression}"):
        if time.time() > deadline:
            raise AssertionError(f"timed out waiting for {expression}")
        time.sleep(0.1)


@pytest.fixture(params=["clear", "encrypted"])
def review_settings(request, settings, tmp_path):
    if request.param == "clear":
        return settings
    create_key_file(tmp_path / "keys" / "dictee.key", guarded=[settings.inbox, settings.outbox])
    return settings.model_copy(update={"encryption_key_file": tmp_path / "keys" / "dictee.key"})


@pytest.fixture
def server(request, review_settings, fake_transcriber):
    """The desk with one draft, a secretary (sophie) and the practitioner (dr_claire, main
    letterhead). The secretary files directly here (`signing = "secretary"`), as these tests are
    about her desk; `signature_server` serves the default signature workflow."""
    yield from _serve(review_settings.model_copy(update={"signing": "secretary"}), fake_transcriber,
                      probability=getattr(request, "param", fake_transcriber.probability))  # unsure words on request


@pytest.fixture
def signature_server(review_settings, fake_transcriber):
    yield from _serve(review_settings, fake_transcriber, probability=fake_transcriber.probability)


def _serve(settings, fake_transcriber, *, probability: float):
    import uvicorn

    fake_transcriber.probability = probability
    if not Path(CHROMIUM).exists():
        pytest.skip("Chromium is not installed (apt-get install chromium); scripts/test.sh installs it when run as root")
    source = write_tone(settings.inbox / "dictee.wav", seconds=8.0)
    dictation = ingest.claim_dictation(source, work_dir=settings.work_dir, outbox=settings.outbox)
    run_job(dictation, settings)
    app = create_app(settings)
    with app.state.sessions() as session:
        add_user(session, "sophie", "correct horse battery", "secretary")
        add_user(session, "dr_claire", "correct horse battery", "practitioner")
        set_practitioner(session, "dr_claire", ".", known_folders=settings.practitioners)
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
    uvicorn_server = uvicorn.Server(config)
    thread = threading.Thread(target=uvicorn_server.run, daemon=True)
    thread.start()
    deadline = time.time() + 30
    while not uvicorn_server.started and time.time() < deadline:
        time.sleep(0.1)
    yield f"http://127.0.0.1:{port}", dictation.job_id
    uvicorn_server.should_exit = True
    thread.join(timeout=10)


def test_a_secretary_reviews_corrects_and_files_a_letter(server, review_settings):
    from playwright.sync_api import sync_playwright

    base, job_id = server
    SCREENSHOTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page()
        page.goto(base + "/")
        assert page.url.endswith("/login")
        page.fill("#username", "sophie")
        page.fill("#password", "correct horse battery")
        page.click("button[type=submit]")
        page.click(f"a[href='/jobs/{job_id}']")
        page.wait_for_url(f"**/jobs/{job_id}")  # loaded: a word plays on a click once the script has run
        wait_until(page, "document.getElementById('player').readyState >= 1")

        word = page.locator("#words span").nth(5)
        start = float(word.get_attribute("data-start"))
        word.click()
        wait_until(page, f"Math.abs(document.getElementById('player').currentTime - {start}) < 0.5")
        assert "playing" in word.get_attribute("class")

        page.click("#fold-patient summary")  # identity complete: folded beside the letter until she opens it
        page.fill("[id='patient.first_name']", "Jacques")
        page.click("#save")
        page.wait_for_load_state()
        assert page.input_value("[id='patient.first_name']") == "Jacques"
        suffix = "-encrypted" if review_settings.encryption_key_file else ""
        page.screenshot(path=str(SCREENSHOTS / f"review-draft{suffix}.png"), full_page=True)

        page.click("#approve")
        page.wait_for_url(base + "/")
        page.screenshot(path=str(SCREENSHOTS / f"review-worklist{suffix}.png"), full_page=True)
        browser.close()

    from pipeline.review.app import database_url
    from pipeline.review.db import AuditEvent, make_sessionmaker

    with make_sessionmaker(database_url(review_settings))() as session:
        actions = [event.action for event in session.query(AuditEvent) if event.job_id == job_id]
    # Played once (the word clicked); loading the page twice and seeking are not listening.
    assert actions.count("listen") == 1 and actions.count("view") == 2

    filed = review_settings.outbox / "filed" / job_id
    vault = review_settings.vault()
    result = vault.read_json(filed / "result.json")
    assert result["patient"]["first_name"] == "Jacques"
    assert vault.read_json(filed / "state.json")["history"][-1]["by"] == "sophie"
    assert is_sealed((filed / "draft.docx").read_bytes()) == bool(review_settings.encryption_key_file)


def test_unsaved_edits_are_never_lost_leaving_asks_first_and_approve_files_what_is_on_screen(server, review_settings):
    from playwright.sync_api import sync_playwright

    base, job_id = server
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page()
        page.goto(base + "/login")
        page.fill("#username", "sophie")
        page.fill("#password", "correct horse battery")
        page.click("button[type=submit]")
        page.goto(f"{base}/jobs/{job_id}")
        page.click("#body")
        page.fill("#body", "Texte corrigé à la main, pas encore enregistré.")
        asked = []

        def on_dialog(dialog):
            asked.append(dialog.type)
            dialog.dismiss()  # she chooses to stay

        page.on("dialog", on_dialog)
        page.click("text=← Liste")
        wait_until(page, "true", timeout_s=1)
        assert asked == ["beforeunload"] and page.url.endswith(f"/jobs/{job_id}")
        page.click("#approve")
        page.wait_for_url(base + "/")
        browser.close()
    filed = review_settings.vault().read_json(review_settings.outbox / "filed" / job_id / "result.json")
    assert filed["body"] == "Texte corrigé à la main, pas encore enregistré."


@pytest.mark.parametrize("server", [0.3], indirect=True)
def test_transcription_controls_from_the_keyboard(server, review_settings):
    """Play/pause with auto-rewind, skip, speed with the pitch kept, the heard word highlighted,
    the next alert, and approval, all from the keyboard, as with a dictaphone desk's pedal."""
    from playwright.sync_api import sync_playwright

    base, job_id = server
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1366, "height": 768})
        page.goto(base + "/login")
        page.fill("#username", "sophie")
        page.fill("#password", "correct horse battery")
        page.click("button[type=submit]")
        page.goto(f"{base}/jobs/{job_id}")
        wait_until(page, "document.getElementById('player').readyState >= 1")
        player = "document.getElementById('player')"

        page.keyboard.press("Control+Space")
        wait_until(page, f"!{player}.paused && {player}.currentTime > 0.9")
        assert page.evaluate("() => document.querySelectorAll('#words span.playing').length") == 1
        page.keyboard.press("F9")  # pause
        wait_until(page, f"{player}.paused")
        page.evaluate(f"() => {{ {player}.currentTime = 5.0; }}")
        page.keyboard.press("F9")  # resume 2 s back
        wait_until(page, f"!{player}.paused")
        assert 2.8 <= page.evaluate(f"() => {player}.currentTime") <= 3.6
        page.keyboard.press("F9")

        page.keyboard.press("Control+ArrowUp")
        assert page.evaluate(f"() => {player}.playbackRate") == 1.25 and page.inner_text("#rate") == "1.25×"
        for _ in range(4):
            page.keyboard.press("Control+ArrowDown")
        assert page.evaluate(f"() => {player}.playbackRate") == 0.5  # never slower than half speed
        assert page.evaluate(f"() => {player}.preservesPitch") is True

        page.evaluate(f"() => {{ {player}.currentTime = 1.0; }}")
        page.keyboard.press("F2")  # next alert: the first unsure word after the current time
        unsure = sorted(float(start) for start in page.locator("#words .low").evaluate_all(
            "spans => spans.map(span => span.dataset.start)"))
        following = next(start for start in unsure if start > 1.05)
        wait_until(page, f"Math.abs({player}.currentTime - {following}) < 0.3")
        assert page.evaluate("() => getComputedStyle(document.getElementById('desk')).position") == "sticky"
        page.screenshot(path=str(SCREENSHOTS / "review-desk-1366x768.png"))

        page.keyboard.press("Control+Alt+KeyA")  # approve from the keyboard
        page.wait_for_url(base + "/")
        browser.close()
    assert (review_settings.outbox / "filed" / job_id / "draft.docx").is_file()


def log_in(page, base: str, username: str) -> None:
    page.goto(base + "/login")
    page.fill("#username", username)
    page.fill("#password", "correct horse battery")
    page.click("button[type=submit]")
    page.wait_for_url(base + "/")


@contextmanager
def desk_page(base: str, job_id: str | None = None, username: str = "sophie"):
    """Chromium at 1366×768, signed in as `username`, on the draft `job_id` (or the worklist)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1366, "height": 768})
        log_in(page, base, username)
        if job_id:
            page.goto(f"{base}/jobs/{job_id}")
        try:
            yield page
        finally:
            browser.close()


def test_the_secretary_submits_the_practitioner_signs_and_the_letter_follows_the_voice(signature_server, review_settings):
    """Secretary → « à signer » → practitioner signs; on the way, the letter follows the word
    being played without moving her caret, and the print preview shows the signed letter."""
    from playwright.sync_api import sync_playwright

    base, job_id = signature_server
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        secretary = browser.new_context(viewport={"width": 1366, "height": 768}).new_page()
        log_in(secretary, base, "sophie")
        secretary.goto(f"{base}/jobs/{job_id}")
        wait_until(secretary, "document.getElementById('player').readyState >= 1")

        # The letter follows the voice without touching the caret: play from « adresse » with the
        # caret at the end of the letter, type during playback — the keystroke lands at the end.
        # (Before, the followed word was selected and the keystroke replaced it.)
        target = secretary.locator("#words span", has_text="adresse").first
        start = float(target.get_attribute("data-start"))
        letter = secretary.input_value("#body")
        secretary.focus("#body")
        secretary.evaluate("() => { const b = document.getElementById('body'); b.setSelectionRange(b.value.length, b.value.length); }")
        secretary.evaluate(f"() => {{ const p = document.getElementById('player'); p.currentTime = {start}; p.playbackRate = 0.5; }}")
        secretary.keyboard.press("F9")
        wait_until(secretary, "document.getElementById('body').dataset.following !== undefined"
                              " && document.getElementById('heard-now').textContent !== ''")
        time.sleep(2.5)  # playback goes on while she types
        secretary.keyboard.type("X")
        assert secretary.input_value("#body") == letter + "X"
        # Inside the letter, Ctrl+Shift+← is the editor's (select a word), not « rewind ».
        secretary.keyboard.press("F9")
        wait_until(secretary, "document.getElementById('player').paused")
        paused_at = secretary.evaluate("() => document.getElementById('player').currentTime")
        secretary.keyboard.press("Control+Shift+ArrowLeft")
        assert secretary.evaluate("() => { const b = document.getElementById('body'); return b.value.slice(b.selectionStart, b.selectionEnd); }").strip() != ""
        assert secretary.evaluate("() => document.getElementById('player').currentTime") == paused_at
        secretary.fill("#body", letter)

        assert secretary.inner_text("#approve") == "Enregistrer et transmettre pour signature"
        secretary.click("#approve")
        secretary.wait_for_url(base + "/")
        secretary.screenshot(path=str(SCREENSHOTS / "review-worklist-secretary-1366x768.png"))

        practitioner = browser.new_context(viewport={"width": 1366, "height": 768}).new_page()
        log_in(practitioner, base, "dr_claire")
        assert practitioner.locator(f"a[href='/jobs/{job_id}']").count() == 1  # opens on « à signer »
        practitioner.screenshot(path=str(SCREENSHOTS / "review-worklist-to-sign-1366x768.png"))
        practitioner.click(f"a[href='/jobs/{job_id}']")
        # Its keys work once the page's script has run, and a click does not wait for that: on a
        # busy machine the keystroke came before the handler, and nothing happened.
        practitioner.wait_for_url(f"**/jobs/{job_id}")
        assert practitioner.inner_text("#approve") == "Enregistrer, signer et classer"
        practitioner.keyboard.press("Control+Alt+KeyA")  # signs from the keyboard
        practitioner.wait_for_url(base + "/")
        practitioner.goto(f"{base}/jobs/{job_id}/preview")
        assert "Signé électroniquement par Dr Claire Exemple" in practitioner.inner_text("#signature")
        practitioner.screenshot(path=str(SCREENSHOTS / "review-preview-signed.png"), full_page=True)
        browser.close()
    vault = review_settings.vault()
    history = vault.read_json(review_settings.outbox / "filed" / job_id / "state.json")["history"]
    assert [(step["state"], step["by"]) for step in history] == [
        ("pending_review", "pipeline"), ("to_sign", "sophie"), ("filed", "dr_claire")]


def test_the_keyboard_decides_on_typed_notes_too(server, review_settings):
    """Ctrl+Alt+A did nothing on a draft without audio (the keys lived with the player)."""
    from playwright.sync_api import sync_playwright

    base, _ = server
    notes = ingest.claim_bytes("Courrier au docteur Martin. Je vous adresse Monsieur Jean Dupont, né le "
                               "12/03/1956. Bien confraternellement.".encode(), name="notes.txt",
                               work_dir=review_settings.work_dir, outbox=review_settings.outbox)
    assert run_job(notes, review_settings).status == "drafted"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1366, "height": 768})
        log_in(page, base, "sophie")
        page.goto(f"{base}/jobs/{notes.job_id}")
        assert page.locator("#typed").count() == 1 and page.locator("#player").count() == 0
        page.keyboard.press("Control+Alt+KeyR")  # no comment yet: the comment field opens, nothing is sent
        assert page.evaluate("() => document.activeElement.id") == "comment"
        page.locator("#body").click()
        page.keyboard.press("Control+Alt+KeyA")
        page.wait_for_url(lambda url: not url.endswith(notes.job_id))  # filed: the next draft opens
        browser.close()
    assert (review_settings.outbox / "filed" / notes.job_id / "draft.docx").is_file()


def test_autotext_expands_as_she_types_in_the_letter(server, review_settings):
    from pipeline import autotext

    base, job_id = server
    autotext.add(review_settings.store(), ".cdt", "Je vous prie de croire, cher confrère, à mes sentiments les meilleurs.",
                 folder="", known_folders={})
    with desk_page(base, job_id) as page:
        page.click("#body")
        page.keyboard.press("Control+End")
        page.keyboard.press("Enter")
        page.keyboard.type(".cdt ")
        assert page.input_value("#body").endswith("\nJe vous prie de croire, cher confrère, à mes sentiments les meilleurs. ")
        page.keyboard.type("Merci .x ")  # not an abbreviation: left as typed
        assert page.input_value("#body").endswith("meilleurs. Merci .x ")


@pytest.fixture
def short_session_server(settings, fake_transcriber):
    """The desk with sessions closing after 6 s idle (DICTEE_SESSION_IDLE_MINUTES=0.1)."""
    yield from _serve(settings.model_copy(update={"session_idle_minutes": 0.1}), fake_transcriber, probability=0.9)


def test_text_typed_before_a_session_expiry_is_found_again_on_the_draft(short_session_server):
    """She typed, the session expired, « Enregistrer » sent her to the login, and after it the
    worklist: her text was gone."""
    from playwright.sync_api import sync_playwright

    base, job_id = short_session_server
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1366, "height": 768})
        log_in(page, base, "sophie")
        page.goto(f"{base}/jobs/{job_id}")
        page.click("#body")
        page.keyboard.press("Control+End")
        page.keyboard.type(" Paragraphe tapé longuement avant une pause.")
        page.click("#words")  # leaving the letter autosaves at once
        wait_until(page, "document.getElementById('autosave').textContent.includes('Copie de travail enregistrée')")
        time.sleep(8)  # idle past the session's 6 s
        page.click("#save")
        page.wait_for_url(base + "/login?expired=1")
        page.fill("#username", "sophie")
        page.fill("#password", "correct horse battery")
        page.click("button[type=submit]")
        page.wait_for_url(f"{base}/jobs/{job_id}")  # back on the draft, not the worklist
        assert page.locator("#restored").count() == 1
        assert page.input_value("#body").endswith("Paragraphe tapé longuement avant une pause.")
        browser.close()


def test_with_the_server_unreachable_the_browser_keeps_her_copy_and_offers_it_back(server):
    base, job_id = server
    with desk_page(base, job_id) as page:
        page.route("**/working-copy", lambda route: route.abort("connectionrefused"))  # the server is down
        page.click("#body")
        page.keyboard.press("Control+End")
        page.keyboard.type(" Tapé pendant la coupure.")
        page.click("#words")
        wait_until(page, "document.getElementById('autosave').textContent.includes('gardée dans ce navigateur')")
        page.unroute("**/working-copy")
        page.evaluate("() => { window.onbeforeunload = null; }")
        page.on("dialog", lambda dialog: dialog.accept())
        page.goto(f"{base}/jobs/{job_id}")  # the tab reopened once the server is back
        assert page.locator("#local-copy").is_visible()
        assert not page.input_value("#body").endswith("Tapé pendant la coupure.")
        page.click("#restore-local")
        assert page.input_value("#body").endswith("Tapé pendant la coupure.")


@pytest.mark.parametrize("server", [0.3], indirect=True)  # every word unsure
def test_the_letter_marks_unsure_words_and_numbers_as_she_edits_it(server):
    base, job_id = server
    with desk_page(base, job_id) as page:
        marked = page.locator("#letter-marks mark")
        assert page.locator("#letter-marks mark.low", has_text="amlodipine").count() == 1
        assert page.locator("#letter-marks mark.num", has_text="1956").count() == 1
        before = marked.count()
        page.click("#body")
        page.keyboard.press("Control+End")
        page.keyboard.type(" Revoir dans 3 mois.")
        assert page.locator("#letter-marks mark.num", has_text="3").count() >= 1 and marked.count() > before
        assert page.input_value("#body").endswith("Revoir dans 3 mois.")  # the marks never touch the text
        page.screenshot(path=str(SCREENSHOTS / "review-letter-marks-1366x768.png"))