"""A télésecrétariat centre in a real browser (Debian's Chromium through Playwright): the
secretary granted two practices sees one worklist and filters it; the one granted only A gets
404s for B; the practitioner of B dictates from B's « Dicter » with Chromium's fake microphone
(a real FLEURS clip), the real recognizer drafts it with B's letterhead and key; the admin
downloads B's statement (CSV and PDF) and grants Anne B
from « Comptes »."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from pipeline import ingest
from pipeline.job import run_job
from tests.conftest import REVIEW_PASSWORD
from tests.test_remote_browser import fake_microphone, serve
from tests.test_review_browser import CHROMIUM, CHROMIUM_ARGS, SCREENSHOTS, wait_until

pytestmark = pytest.mark.slow


def sign_in(page, base: str, username: str) -> None:
    page.goto(base + "/login")
    page.fill("#username", username)
    page.fill("#password", REVIEW_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(base + "/")


def test_the_centre_in_a_browser(two_practices, tmp_path):
    from docx import Document
    from playwright.sync_api import sync_playwright

    from pipeline.review.centre import create_centre_app

    if not Path(CHROMIUM).exists():
        pytest.skip("Chromium is not installed (apt-get install chromium)")
    from pipeline.directory.patients import PatientRegister, read_csv

    installation, centre, first = two_practices
    settings_b = centre.settings(centre.find("cab-b"))
    # The same patient in both practices' registers, under each practice's own number.
    for name, ipp in (("cab-a", "A-0001"), ("cab-b", "B-0042")):
        export = f"nom_naissance;prenoms;date_naissance;sexe;ipp\nBÉCU;Paul;01/02/1950;M;{ipp}\n".encode()
        PatientRegister(read_csv(export)[0]).save(centre.settings(centre.find(name)).store())
    base, server, thread = serve(create_centre_app(installation, centre))
    SCREENSHOTS.mkdir(exist_ok=True)
    args = [*CHROMIUM_ARGS, "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
            f"--use-file-for-fake-audio-capture={fake_microphone(tmp_path)}"]
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=args)

            # The practitioner of B dictates into B, from the centre's page.
            page = browser.new_context().new_page()
            sign_in(page, base, "dr_b")
            page.click("#dictate-link")
            page.wait_for_url(base + "/p/cab-b/dicter")
            page.fill("#patient", "BÉCU Paul 01/02/1950")
            page.click("#record")
            wait_until(page, "document.getElementById('clock').textContent === '0:06'", timeout_s=20)
            page.click("#pause")
            page.click("#send")
            wait_until(page, "document.getElementById('recorder').dataset.sent !== undefined", timeout_s=60)
            dictated = page.get_attribute("#recorder", "data-sent")
            [landed] = ingest.list_candidates(settings_b.inbox, settings_b.practitioners)
            dictation = ingest.claim_dictation(landed, work_dir=settings_b.work_dir, outbox=settings_b.outbox)
            assert dictation.job_id == dictated
            from pipeline import transcribe

            transcribe.get_transcriber.cache_clear()  # the fixture's fake recognizer steps aside: the real one
            with pytest.MonkeyPatch.context() as patch:
                patch.setitem(transcribe.ENGINES, "faster-whisper", transcribe.Transcriber)
                assert run_job(dictation, settings_b).status == "drafted"
            result = json.loads(settings_b.vault().read_bytes(settings_b.outbox / dictated / "result.json"))
            assert result["patient"]["last_name"] == "BÉCU" and result["transcript"]["raw"].strip()
            assert result["patient"]["ipp"] == "B-0042"  # B's register, not A's
            letter = Document(io.BytesIO(settings_b.vault().read_bytes(settings_b.outbox / dictated / "draft.docx")))
            assert "Bruno Bécu" in "\n".join(paragraph.text for paragraph in letter.paragraphs)

            # Sophie: one worklist of A and B, filtered to B, the new dictation opened from it.
            page = browser.new_context().new_page()
            sign_in(page, base, "sophie")
            practices = page.locator("#worklist td.practice").all_inner_texts()
            assert sorted(practices) == ["cab-a", "cab-b", "cab-b"]
            page.screenshot(path=str(SCREENSHOTS / "centre-worklist.png"), full_page=True)
            page.select_option("#cabinet", "cab-b")
            page.click("form.panel button")
            wait_until(page, "location.search.includes('cabinet=cab-b')")
            assert set(page.locator("#worklist td.practice").all_inner_texts()) == {"cab-b"}
            page.click(f"a[href='/p/cab-b/jobs/{dictated}']")
            page.wait_for_url(f"{base}/p/cab-b/jobs/{dictated}")
            assert page.locator("#player").count() == 1
            wait_until(page, "document.getElementById('player').readyState >= 1")  # B's audio, through B's key
            page.fill("#body", "Courrier revu au centre.")
            page.click("#save")
            page.wait_for_url(f"{base}/p/cab-b/jobs/{dictated}")
            assert page.input_value("#body") == "Courrier revu au centre."
            page.click("#back")
            page.wait_for_url(base + "/")

            # Anne, granted A only: B does not exist for her.
            page = browser.new_context().new_page()
            sign_in(page, base, "anne")
            assert page.locator("#worklist td.practice").all_inner_texts() == ["cab-a"]
            assert page.goto(f"{base}/p/cab-b/jobs/{dictated}").status == 404
            assert page.goto(f"{base}/p/cab-b/").status == 404

            # The admin: B's statement from the accounts page.
            page = browser.new_context().new_page()
            sign_in(page, base, "chef")
            page.goto(base + "/comptes")
            answer = page.request.get(f"{base}/p/cab-b/releve.csv?month=2026-11")
            assert answer.status == 200 and "Praticien" in answer.text().splitlines()[0]
            assert page.locator("form.statement").count() == 2
            with page.expect_download() as download:  # the PDF/A for the invoice, from its button
                page.locator("form.statement").nth(1).locator("input[name=month]").fill("2026-11")
                page.locator("form.statement").nth(1).locator("button", has_text="PDF").click()
            assert download.value.suggested_filename == "releve-2026-11.pdf"
            assert Path(download.value.path()).read_bytes().startswith(b"%PDF")

            # The admin grants Anne practice B from the same page: B's drafts are hers at her next sign-in.
            page.locator("details.grants", has_text="anne").locator("summary").click()
            page.locator("form[action='/comptes/anne/cabinets/cab-b'] button[value=grant]").click()
            page.wait_for_url(base + "/comptes")
            assert "cab-a, cab-b" in page.locator("details.grants", has_text="anne").inner_text()
            page = browser.new_context().new_page()
            sign_in(page, base, "anne")
            assert sorted(set(page.locator("#worklist td.practice").all_inner_texts())) == ["cab-a", "cab-b"]
            assert page.goto(f"{base}/p/cab-b/jobs/{dictated}").status == 200
            browser.close()
    finally:
        server.should_exit = True
        thread.join(timeout=10)
