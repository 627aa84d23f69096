"""Autotext: the practice's and each practitioner's phrases, managed by the admin, audited, and
expanded as she types in the letter (the browser part in test_review_browser.py)."""

from __future__ import annotations

import html
import json
import re

import pytest

from pipeline import autotext
from pipeline.review.db import AuditEvent
from tests.test_signing import DUPONT, MARTIN, desk, draft, practice  # noqa: F401 — fixtures


@pytest.fixture
def admin(desk, practice):  # noqa: F811
    from pipeline.review.auth import add_user
    from tests.conftest import REVIEW_PASSWORD

    with desk.app.state.sessions() as session:
        add_user(session, "chef", REVIEW_PASSWORD, "admin")
    return desk("chef")


def add(client, abbreviation, text, folder=""):
    return client.post("/autotexte", data={"csrf": client.csrf, "abbreviation": abbreviation, "text": text,
                                           "folder": folder})


def test_the_admin_keeps_the_phrases_and_each_change_is_audited(admin, desk, practice):  # noqa: F811
    assert add(admin, ".cdt", "Je vous prie de croire, cher confrère, à mes sentiments les meilleurs.").status_code == 303
    assert add(admin, "cdt", "Bien confraternellement, Dr Anne Dupont.", folder="dupont").status_code == 303
    page = admin.get("/autotexte").text
    assert "Bien confraternellement, Dr Anne Dupont." in page and "Tout le cabinet" in page
    assert {(p.abbreviation, p.folder) for p in autotext.load(practice.store())} == {(".cdt", ""), (".cdt", "dupont")}
    assert admin.post("/autotexte/remove", data={"csrf": admin.csrf, "abbreviation": ".cdt", "folder": ""}).status_code == 303
    with desk.app.state.sessions() as session:
        assert [e.action for e in session.query(AuditEvent) if e.action.startswith("autotext")] == [
            "autotext_add", "autotext_add", "autotext_remove"]


@pytest.mark.parametrize("abbreviation, text, folder", [
    (".", "x", ""), (".a b", "x", ""), (".toolongabbreviation", "x", ""), (".ok", "", ""),
    (".ok", "x" * 5000, ""), (".ok", "x", "inconnu"), ("<script>", "x", ""),
])
def test_bad_phrases_are_refused_with_what_was_typed_kept(admin, abbreviation, text, folder):
    refused = add(admin, abbreviation, text, folder)
    assert refused.status_code == 422 and 'id="error"' in refused.text
    assert "<script>" not in refused.text


def test_only_the_admin_manages_the_phrases(desk):  # noqa: F811
    secretary = desk("sophie")
    assert secretary.get("/autotexte").status_code == 403
    assert add(secretary, ".x", "y").status_code == 403


def test_a_letter_carries_the_practice_s_phrases_and_its_author_s_own_over_them(admin, desk, practice):  # noqa: F811
    add(admin, ".cdt", "Confraternellement.")
    add(admin, ".cdt", "Bien à vous, Dr Dupont.", folder="dupont")
    add(admin, ".ecg", "ECG : rythme sinusal, pas de trouble de la repolarisation.")
    theirs, mine = draft(practice, "m.wav", author="martin"), draft(practice, "d.wav", author="dupont", seconds=5.0)

    def phrases(job_id):
        page = desk("sophie").get(f"/jobs/{job_id}").text
        return json.loads(html.unescape(re.search(r'data-autotext="([^"]*)"', page).group(1)))

    assert phrases(theirs)[".cdt"] == "Confraternellement." and ".ecg" in phrases(theirs)
    assert phrases(mine)[".cdt"] == "Bien à vous, Dr Dupont."
