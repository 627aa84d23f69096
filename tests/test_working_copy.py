"""Nothing typed is lost: the autosaved working copy, restored after an expiry or a closed tab;
a conflicting save shown field by field; who else has the draft open."""

from __future__ import annotations

import json
import re
from contextlib import ExitStack

import pytest
from fastapi.testclient import TestClient

from pipeline import ingest
from pipeline.job import run_job
from pipeline.review import create_app
from pipeline.review.auth import add_user
from pipeline.review.working import working_file
from tests.conftest import LOCAL_CLIENT, REVIEW_PASSWORD, write_tone


@pytest.fixture
def desk(settings, fake_transcriber):
    source = write_tone(settings.inbox / "dictee.wav", seconds=4.0)
    dictation = ingest.claim_dictation(source, work_dir=settings.work_dir, outbox=settings.outbox)
    run_job(dictation, settings)
    app = create_app(settings)
    with app.state.sessions() as session:
        for name in ("sophie", "paul"):
            add_user(session, name, REVIEW_PASSWORD, "secretary")
    with ExitStack() as stack:
        def client_for(name):
            client = stack.enter_context(TestClient(app, follow_redirects=False, client=LOCAL_CLIENT))
            client.post("/login", data={"username": name, "password": REVIEW_PASSWORD})
            client.csrf = re.search(r'name="csrf" value="([^"]+)"', client.get("/").text).group(1)
            return client

        client_for.app, client_for.job_id, client_for.settings = app, dictation.job_id, settings
        yield client_for


def autosave(client, job_id, fields, version=0):
    return client.post(f"/jobs/{job_id}/working-copy", json={"fields": fields, "version": version},
                       headers={"X-CSRF-Token": client.csrf})


def saved_body(settings, job_id) -> str:
    return json.loads((settings.outbox / job_id / "result.json").read_text(encoding="utf-8"))["body"]


def test_the_working_copy_is_kept_apart_and_the_draft_opens_on_it(desk):
    sophie, job_id, settings = desk("sophie"), desk.job_id, desk.settings
    before = saved_body(settings, job_id)
    typed = before + "\nUn long paragraphe tapé puis perdu par une expiration de session."
    answer = autosave(sophie, job_id, {"body": typed + "\x0b"})
    assert answer.status_code == 200 and re.fullmatch(r"\d\d:\d\d", answer.json()["saved_at"])
    assert saved_body(settings, job_id) == before  # never mistaken for the saved version
    page = sophie.get(f"/jobs/{job_id}").text
    assert 'id="restored"' in page and "Brouillon de travail restauré" in page
    assert "Un long paragraphe tapé" in page and "\x0b" not in page
    assert 'data-unsaved="true"' in page  # leaving asks first
    assert "Un long paragraphe" not in desk("paul").get(f"/jobs/{job_id}").text  # hers, not paul's


def test_saving_keeps_it_and_discarding_drops_it(desk):
    sophie, job_id, settings = desk("sophie"), desk.job_id, desk.settings
    autosave(sophie, job_id, {"body": "Texte gardé."})
    assert sophie.post(f"/jobs/{job_id}/edit", data={"csrf": sophie.csrf, "version": "0", "body": "Texte gardé."}).status_code == 303
    assert saved_body(settings, job_id) == "Texte gardé."
    assert not working_file(settings.store(), job_id, "sophie").exists()
    autosave(sophie, job_id, {"body": "Autre essai."}, version=1)
    assert 'id="restored"' in sophie.get(f"/jobs/{job_id}").text
    assert sophie.post(f"/jobs/{job_id}/working-copy/discard", data={"csrf": sophie.csrf}).status_code == 303
    assert 'id="restored"' not in sophie.get(f"/jobs/{job_id}").text


def test_the_working_copy_is_sealed_with_the_drafts(settings, fake_transcriber, tmp_path):
    from pipeline.vault import create_key_file, is_sealed

    create_key_file(tmp_path / "keys" / "k.key", guarded=[])
    sealed = settings.model_copy(update={"encryption_key_file": tmp_path / "keys" / "k.key"})
    source = write_tone(sealed.inbox / "dictee.wav", seconds=4.0)
    dictation = ingest.claim_dictation(source, work_dir=sealed.work_dir, outbox=sealed.outbox)
    run_job(dictation, sealed)
    app = create_app(sealed)
    with app.state.sessions() as session:
        add_user(session, "sophie", REVIEW_PASSWORD, "secretary")
    with TestClient(app, follow_redirects=False, client=LOCAL_CLIENT) as client:
        client.post("/login", data={"username": "sophie", "password": REVIEW_PASSWORD})
        client.csrf = re.search(r'name="csrf" value="([^"]+)"', client.get("/").text).group(1)
        assert autosave(client, dictation.job_id, {"patient.last_name": "DUPONT-MARTIN"}).status_code == 200
    assert is_sealed(working_file(sealed.store(), dictation.job_id, "sophie").read_bytes())


def test_hostile_autosaves_are_refused_or_bounded(desk):
    sophie, paul, job_id, settings = desk("sophie"), desk("paul"), desk.job_id, desk.settings
    assert sophie.post(f"/jobs/{job_id}/working-copy", json={"fields": {"body": "x"}, "version": 0}).status_code == 403
    assert autosave(sophie, "0123456789abcdef", {"body": "x"}).status_code == 404  # not a draft
    assert autosave(sophie, "../../etc", {"body": "x"}).status_code == 404
    assert autosave(sophie, job_id, {"body": "x" * 1_000_000}).status_code == 200
    assert len(settings.store().read_json(working_file(settings.store(), job_id, "sophie"))["fields"]["body"]) == 200_000
    assert sophie.post(f"/jobs/{job_id}/working-copy", json={"fields": "nope", "version": 0},
                       headers={"X-CSRF-Token": sophie.csrf}).status_code == 422
    assert autosave(paul, job_id, {"body": "paul"}).status_code == 200
    assert settings.store().read_json(working_file(settings.store(), job_id, "sophie"))["fields"]["body"] != "paul"


def test_a_conflicting_save_shows_both_versions_field_by_field(desk):
    """The refused save showed only her entries; saving again erased the colleague's text."""
    sophie, paul, job_id, settings = desk("sophie"), desk("paul"), desk.job_id, desk.settings
    sophie.get(f"/jobs/{job_id}")  # both opened version 0
    assert paul.post(f"/jobs/{job_id}/edit", data={"csrf": paul.csrf, "version": "0",
                                                   "body": "Texte de Paul, à garder."}).status_code == 303
    refused = sophie.post(f"/jobs/{job_id}/edit", data={"csrf": sophie.csrf, "version": "0",
                                                        "body": "Texte de Sophie."})
    assert refused.status_code == 409
    assert 'id="conflicts"' in refused.text and "Modifié entre-temps par paul" in refused.text
    assert "Texte de Paul, à garder." in refused.text and "Texte de Sophie." in refused.text
    assert 'class="take-saved" data-field="body"' in refused.text
    assert saved_body(settings, job_id) == "Texte de Paul, à garder."


def test_who_has_the_draft_open_is_said_on_the_page_and_in_the_worklist(desk):
    sophie, paul, job_id = desk("sophie"), desk("paul"), desk.job_id
    sophie.get(f"/jobs/{job_id}")
    page = paul.get(f"/jobs/{job_id}").text
    assert re.search(r"En cours par sophie depuis \d\d:\d\d", page)
    beat = paul.post(f"/jobs/{job_id}/presence", headers={"X-CSRF-Token": paul.csrf}).json()
    assert [other["username"] for other in beat["others"]] == ["sophie"]
    assert re.search(r"en cours par sophie", paul.get("/").text)


def test_after_an_expiry_she_signs_in_and_lands_back_on_her_draft(settings, fake_transcriber, monkeypatch):
    from pipeline.review import auth

    source = write_tone(settings.inbox / "dictee.wav", seconds=4.0)
    dictation = ingest.claim_dictation(source, work_dir=settings.work_dir, outbox=settings.outbox)
    run_job(dictation, settings)
    app = create_app(settings.model_copy(update={"session_idle_minutes": 1}))
    with app.state.sessions() as session:
        add_user(session, "sophie", REVIEW_PASSWORD, "secretary")
    with TestClient(app, follow_redirects=False, client=LOCAL_CLIENT) as client:
        client.post("/login", data={"username": "sophie", "password": REVIEW_PASSWORD})
        client.csrf = re.search(r'name="csrf" value="([^"]+)"', client.get("/").text).group(1)
        autosave(client, dictation.job_id, {"body": "Tapé juste avant la fin de session."})
        later = auth.utcnow() + __import__("datetime").timedelta(minutes=2)
        monkeypatch.setattr(auth, "utcnow", lambda: later)
        expired = client.post(f"/jobs/{dictation.job_id}/edit", data={"csrf": client.csrf, "body": "perdu ?"})
        assert expired.headers["location"] == "/login?expired=1"
        back = client.post("/login", data={"username": "sophie", "password": REVIEW_PASSWORD})
        assert back.headers["location"] == f"/jobs/{dictation.job_id}"
        assert "Tapé juste avant la fin de session." in client.get(back.headers["location"]).text


def test_a_refused_form_becomes_her_working_copy(desk):
    sophie, job_id = desk("sophie"), desk.job_id
    refused = sophie.post(f"/jobs/{job_id}/edit", data={"csrf": sophie.csrf, "version": "0",
                                                        "patient.nir": "1 85 03 75 112 045 79", "body": "Mon texte long."})
    assert refused.status_code == 422
    reloaded = sophie.get(f"/jobs/{job_id}").text  # a reload after the refusal: nothing typed is lost
    assert 'id="restored"' in reloaded and "Mon texte long." in reloaded


def test_after_transmitting_the_next_draft_of_her_worklist_opens(desk, fake_transcriber):
    sophie, first, settings = desk("sophie"), desk.job_id, desk.settings
    source = write_tone(settings.inbox / "autre.wav", seconds=5.0)
    second = ingest.claim_dictation(source, work_dir=settings.work_dir, outbox=settings.outbox)
    run_job(second, settings)
    sophie.get("/")  # her worklist picks the new draft up
    answer = sophie.post(f"/jobs/{first}/approve", data={"csrf": sophie.csrf, "then": "next"})
    assert answer.status_code == 303 and answer.headers["location"] == f"/jobs/{second.job_id}"
    last = sophie.post(f"/jobs/{second.job_id}/approve", data={"csrf": sophie.csrf, "then": "next"})
    assert last.headers["location"] == "/"  # nothing left to review


def test_her_choice_of_the_list_is_honoured(desk, fake_transcriber):
    sophie, first, settings = desk("sophie"), desk.job_id, desk.settings
    source = write_tone(settings.inbox / "autre.wav", seconds=5.0)
    run_job(ingest.claim_dictation(source, work_dir=settings.work_dir, outbox=settings.outbox), settings)
    sophie.get("/")
    assert sophie.post(f"/jobs/{first}/approve", data={"csrf": sophie.csrf, "then": "list"}).headers["location"] == "/"
