"""The secretary's common path, timed and counted in a real browser at 1366×768: open the next
draft → listen → fix two words → transmit. What it takes is printed (the README gives it), and
what must hold is asserted: no scroll needed, the next draft opening by itself."""

from __future__ import annotations

import time

import pytest

from pipeline import ingest
from pipeline.job import run_job
from tests.conftest import write_tone
from tests.test_review_browser import CHROMIUM, CHROMIUM_ARGS, SCREENSHOTS, _serve, log_in, wait_until

pytestmark = pytest.mark.slow
DRAFTS = 3  # the one `_serve` drafts, and two more
IN_VIEW = """(() => { const ids = ['player', 'body', 'approve'];
  return ids.every((id) => { const r = document.getElementById(id).getBoundingClientRect();
    return r.top >= 0 && r.bottom <= window.innerHeight && r.height > 0; }); })()"""


@pytest.fixture
def two_drafts(settings, fake_transcriber):
    for name in ("a.wav", "b.wav"):
        source = write_tone(settings.inbox / name, seconds=10.0 if name == "a.wav" else 11.0)  # _serve drafts 8 s
        run_job(ingest.claim_dictation(source, work_dir=settings.work_dir, outbox=settings.outbox), settings)
    yield from _serve(settings, fake_transcriber, probability=0.9)


class Counted:
    """Every key press and click the path takes, through one place."""

    def __init__(self, page) -> None:
        self.page, self.keys, self.typed, self.clicks = page, 0, 0, 0

    def press(self, key: str) -> None:
        self.keys += 1
        self.page.keyboard.press(key)

    def type(self, text: str) -> None:
        self.typed += len(text)
        self.page.keyboard.type(text)

    def click(self, selector: str) -> None:
        self.clicks += 1
        self.page.click(selector)


def test_open_listen_fix_two_words_transmit(two_drafts):
    from playwright.sync_api import sync_playwright

    base, _ = two_drafts
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1366, "height": 768})
        log_in(page, base, "sophie")
        counted = Counted(page)
        counted.click("#worklist a[href^='/jobs/']")  # the first draft of the day: one click
        for round_ in range(DRAFTS):
            started = time.perf_counter()
            page.wait_for_url("**/jobs/*")  # loaded: its keys work once the page's script has run
            wait_until(page, "document.getElementById('player').readyState >= 1")
            assert page.evaluate(IN_VIEW), "player, letter and « transmettre » must be in view without scrolling"
            assert page.evaluate("() => window.scrollY") == 0
            counted.press("F9")  # listen
            wait_until(page, "document.getElementById('player').currentTime > 1.0")
            counted.press("F9")
            before = page.input_value("#body")
            counted.click("#body")  # into the letter
            counted.press("Control+Home")
            counted.press("Control+Shift+ArrowRight")  # « Cher »
            counted.type("Chère")
            counted.press("Control+End")
            counted.press("Control+Shift+ArrowLeft")  # « . »
            counted.press("Control+Shift+ArrowLeft")  # « confraternellement. »
            counted.type("amicalement.")
            assert page.input_value("#body") == before.replace("Cher ", "Chère ", 1).replace(
                "confraternellement.", "amicalement.")
            if round_ == 0:
                page.screenshot(path=str(SCREENSHOTS / "desk-path-1366x768.png"))
            here = page.url
            counted.press("Control+Alt+KeyA")  # transmit: the next draft opens by itself
            page.wait_for_url(lambda url: url != here, timeout=15000)
            seconds = time.perf_counter() - started
            print(f"\ndesk path, draft {round_ + 1}: {seconds:.1f} s")
        assert page.url == base + "/"  # every draft transmitted: back to the (empty) list
        assert page.evaluate("() => window.scrollY") == 0
        browser.close()
    per_draft_keys = counted.keys / DRAFTS
    per_draft_clicks = (counted.clicks - 1) / DRAFTS  # the first « Ouvrir » of the day, once
    print(f"desk path per draft: {per_draft_keys:.0f} command keys, {counted.typed / DRAFTS:.0f} characters of correction, "
          f"{per_draft_clicks:.0f} click(s), 0 scrolls; opening the next draft: 0 clicks")
    assert per_draft_keys == 8 and per_draft_clicks == 1
