"""The secretary review app, in process: auth, CSRF, worklist, edits, approval, rejection, audit."""

from __future__ import annotations

import html
import json
import re
import stat

import pytest
from docx import Document
from fastapi.testclient import TestClient

from pipeline import ingest
from pipeline.job import run_job
from pipeline.review import create_app
from pipeline.review.auth import SESSION_COOKIE, add_user
from pipeline.review.db import AppendOnlyViolation, AuditEvent
from tests.conftest import LOCAL_CLIENT, write_tone

PASSWORD = "correct horse battery"


@pytest.fixture
def drafted(settings, fake_transcriber):
    source = write_tone(settings.inbox / "dictee.wav", seconds=4.0)
    dictation = ingest.claim_dictation(source, work_dir=settings.work_dir, outbox=settings.outbox)
    run_job(dictation, settings)
    return dictation.job_id


@pytest.fixture
def app(settings, drafted):
    # These tests are about the desk and filing itself, so the secretary files directly (a
    # practice that signs on paper); the signature workflow, the default, is in test_signing.py.
    application = create_app(settings.model_copy(update={"signing": "secretary"}))
    with application.state.sessions() as session:
        add_user(session, "sophie", PASSWORD, "secretary")
    return application


@pytest.fixture
def client(app):
    with TestClient(app, follow_redirects=False, client=LOCAL_CLIENT) as test_client:
        yield test_client


def login(client) -> str:
    response = client.post("/login", data={"username": "sophie", "password": PASSWORD})
    assert response.status_code == 303
    page = client.get("/").text
    return re.search(r'name="csrf" value="([^"]+)"', page).group(1)


def audit_actions(app, job_id=None):
    with app.state.sessions() as session:
        return [(e.username, e.action) for e in session.query(AuditEvent).order_by(AuditEvent.id) if job_id in (None, e.job_id)]


def timed_words(*rows):
    """Transcript words as result.json holds them, from (start, end, word, probability) rows."""
    return [dict(zip(("start", "end", "word", "probability"), row)) for row in rows]


def result_of(settings, job_id):
    return json.loads((settings.outbox / job_id / "result.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize("path", ["/", "/jobs/abc", "/jobs/abc/audio", "/jobs/abc/draft.docx", "/static/review.js"])
def test_every_page_needs_a_login(client, path):
    response = client.get(path)
    assert response.status_code == 303 and response.headers["location"] == "/login"


@pytest.mark.parametrize("path", ["/jobs/abc/edit", "/jobs/abc/approve", "/jobs/abc/reject", "/logout"])
def test_every_change_needs_a_login(client, path):
    assert client.post(path, data={"csrf": "x"}).status_code == 303


def test_wrong_password_is_refused_and_audited_with_the_typed_name_in_the_detail(client, app):
    response = client.post("/login", data={"username": "sophie", "password": "wrong password!"})
    assert response.status_code == 401 and "Identifiants incorrects" in response.text
    assert audit_actions(app) == [("(saisi / typed)", "login_failed")]
    with app.state.sessions() as session:
        assert session.query(AuditEvent).one().detail["typed"] == "sophie"


def test_repeated_failures_slow_down_then_lock_per_account_and_a_success_resets(client, app, monkeypatch):
    from pipeline.review import auth

    for attempt in range(auth.FREE_FAILURES):
        assert client.post("/login", data={"username": "sophie", "password": "wrong"}).status_code == 401
    assert client.post("/login", data={"username": "sophie", "password": "wrong"}).status_code == 401  # now 2 s
    locked = client.post("/login", data={"username": "sophie", "password": PASSWORD})  # even the right one waits
    assert locked.status_code == 429 and "réessayez dans" in locked.text and "try again" not in locked.text
    assert ("(saisi / typed)", "login_throttled") in audit_actions(app)
    later = auth.utcnow() + __import__("datetime").timedelta(seconds=3)
    monkeypatch.setattr(auth, "utcnow", lambda: later)
    assert client.post("/login", data={"username": "sophie", "password": PASSWORD}).status_code == 303
    with app.state.sessions() as session:
        assert session.query(auth.LoginThrottle).filter(auth.LoginThrottle.key.like("user:%")).count() == 0
    # The wait doubles with each failure, up to a 15-minute lock.
    assert [auth._wait_for(n) for n in range(1, 7)] == [0, 0, 0, 2, 4, 8] and auth._wait_for(15) == auth.MAX_WAIT_S


def test_logout_is_audited(client, app):
    csrf = login(client)
    client.post("/logout", data={"csrf": csrf})
    assert audit_actions(app)[-1] == ("sophie", "logout")


def test_session_cookie_is_httponly_and_samesite(client):
    response = client.post("/login", data={"username": "sophie", "password": PASSWORD})
    cookie = response.headers["set-cookie"]
    assert cookie.startswith(SESSION_COOKIE) and "HttpOnly" in cookie and "SameSite=strict" in cookie


def test_worklist_lists_the_pending_draft_with_its_figures(client, drafted):
    login(client)
    page = client.get("/").text
    assert "Jean DUPONT" in page and "<td>Courrier</td>" in page and f"/jobs/{drafted}" in page
    assert re.search(r"<td>\d+ h \d+ min</td>", page)  # how long it has waited
    assert "Aucun brouillon" in client.get("/?document_type=certificat").text
    assert client.get("/").headers["content-security-policy"].startswith("default-src 'self'")


def test_the_waiting_time_reads_in_hours_and_minutes():
    import datetime as dt

    from pipeline.review.routes import waiting_time

    assert waiting_time(dt.timedelta(hours=26, minutes=5, seconds=59)) == "26 h 5 min"
    assert waiting_time(dt.timedelta(seconds=59)) == "0 h 0 min"


def test_the_draft_page_shows_playable_highlighted_words_and_is_audited(client, app, settings, drafted):
    result = result_of(settings, drafted)
    result["transcript"]["words"] = timed_words(
        (0.0, 0.4, " amlodipine", 0.95), (0.4, 0.6, " 5", 0.9), (0.6, 0.9, " mg", 0.3), (0.9, 1.2, " droite", 0.9))
    result["flags"].append({"kind": "vocabulary_correction", "text": "« un L'Odi-Pin » → « amlodipine »", "start": 0.0})
    (settings.outbox / drafted / "result.json").write_text(json.dumps(result), encoding="utf-8")
    login(client)
    page = client.get(f"/jobs/{drafted}").text
    assert '<span data-start="0.0" class="fix">amlodipine</span>' in page
    assert '<span data-start="0.4" class="num">5</span>' in page
    assert '<span data-start="0.6" class="low">mg</span>' in page
    assert '<span data-start="0.9" class="lat">droite</span>' in page
    assert '<span data-start="0.4" class="num">5</span> <span data-start="0.6" class="low">mg</span>' in page
    assert ("sophie", "view") in audit_actions(app, drafted)
    assert client.get(f"/jobs/{drafted}/audio").status_code == 200
    assert ("sophie", "listen") not in audit_actions(app, drafted)  # loading or seeking is not listening


def test_listening_is_audited_when_the_audio_is_played_and_never_for_an_unknown_id(client, app, drafted):
    csrf = login(client)
    assert client.post(f"/jobs/{drafted}/listened", data={"csrf": "wrong"}).status_code == 403
    assert client.post(f"/jobs/{drafted}/listened", data={"csrf": csrf}).status_code == 204
    assert audit_actions(app, drafted).count(("sophie", "listen")) == 1
    assert client.post(f"/jobs/{'0' * 16}/listened", data={"csrf": csrf}).status_code == 404
    assert audit_actions(app, "0" * 16) == []


def test_an_edit_without_the_csrf_token_is_refused(client, settings, drafted):
    login(client)
    response = client.post(f"/jobs/{drafted}/edit", data={"patient.first_name": "Jacques"})
    assert response.status_code == 403
    assert result_of(settings, drafted)["patient"]["first_name"] == "Jean"


def test_an_edit_updates_the_result_regenerates_the_letter_and_is_audited(client, app, settings, drafted):
    csrf = login(client)
    response = client.post(f"/jobs/{drafted}/edit", data={"csrf": csrf, "patient.first_name": "Jacques", "patient.nir": ""})
    assert response.status_code == 303
    assert result_of(settings, drafted)["patient"]["first_name"] == "Jacques"
    letter = "\n".join(p.text for p in Document(str(settings.outbox / drafted / "draft.docx")).paragraphs)
    assert "Monsieur Jacques DUPONT" in letter
    with app.state.sessions() as session:
        event = session.query(AuditEvent).filter_by(action="edit").one()
    assert event.detail == {"changes": {"patient.first_name": ["Jean", "Jacques"]}}


def test_an_invalid_birth_date_is_explained_and_everything_typed_is_kept(client, settings, drafted):
    csrf = login(client)
    response = client.post(f"/jobs/{drafted}/edit", data={"csrf": csrf, "patient.birth_date": "31/02/1956",
                                                           "patient.first_name": "Jacques", "body": "Texte retapé."})
    assert response.status_code == 422 and "JJ/MM/AAAA" in response.text
    assert 'value="31/02/1956"' in response.text and 'value="Jacques"' in response.text and "Texte retapé." in response.text
    assert 'data-unsaved="true"' in response.text  # leaving the page now asks first
    saved = result_of(settings, drafted)
    assert saved["patient"]["birth_date"] == "1956-03-12" and saved["patient"]["first_name"] == "Jean"


def test_a_french_date_is_accepted(client, settings, drafted):
    csrf = login(client)
    client.post(f"/jobs/{drafted}/edit", data={"csrf": csrf, "patient.birth_date": "13/05/1988"})
    assert result_of(settings, drafted)["patient"]["birth_date"] == "1988-05-13"


def test_a_stale_save_is_refused_with_who_changed_it_and_the_entries_kept(client, app, settings, drafted):
    csrf = login(client)
    page = client.get(f"/jobs/{drafted}").text
    version = re.search(r'name="version" value="(\d+)"', page).group(1)
    client.post(f"/jobs/{drafted}/edit", data={"csrf": csrf, "version": version, "patient.last_name": "Durand"})
    stale = client.post(f"/jobs/{drafted}/edit", data={"csrf": csrf, "version": version, "patient.first_name": "Paul"})
    assert stale.status_code == 409 and "sophie" in stale.text and 'value="Paul"' in stale.text
    saved = result_of(settings, drafted)
    assert saved["patient"]["last_name"] == "Durand" and saved["patient"]["first_name"] == "Jean"
    newer = re.search(r'name="version" value="(\d+)"', stale.text).group(1)
    assert client.post(f"/jobs/{drafted}/edit", data={"csrf": csrf, "version": newer,
                                                      "patient.first_name": "Paul"}).status_code == 303
    assert result_of(settings, drafted)["patient"] | {} == saved["patient"] | {"first_name": "Paul"}


def test_approve_saves_what_is_on_screen_then_files_it(client, settings, drafted):
    csrf = login(client)
    response = client.post(f"/jobs/{drafted}/approve", data={"csrf": csrf, "body": "Texte final, jamais enregistré."})
    assert response.status_code == 303
    filed = json.loads((settings.outbox / "filed" / drafted / "result.json").read_text(encoding="utf-8"))
    assert filed["body"] == "Texte final, jamais enregistré."


def test_an_unknown_type_stays_to_be_chosen(client, settings, fake_transcriber):
    fake_transcriber.text = "Monsieur Jean Dupont, né le 12 mars 1956, revu ce jour."
    source = write_tone(settings.inbox / "untyped.wav", seconds=3.0)
    dictation = ingest.claim_dictation(source, work_dir=settings.work_dir, outbox=settings.outbox)
    run_job(dictation, settings)
    csrf = login(client)
    page = client.get(f"/jobs/{dictation.job_id}").text
    assert re.search(r'<option value="" selected>— à choisir —</option>', page)
    client.post(f"/jobs/{dictation.job_id}/edit", data={"csrf": csrf, "document_type": "", "body": "Revu ce jour."})
    assert result_of(settings, dictation.job_id)["document_type"] is None


def test_an_incomplete_identity_cannot_be_approved(client, settings, drafted):
    csrf = login(client)
    client.post(f"/jobs/{drafted}/edit", data={"csrf": csrf, "patient.birth_date": ""})
    response = client.post(f"/jobs/{drafted}/approve", data={"csrf": csrf})
    assert response.status_code == 422 and "identité du patient incomplète" in response.text
    assert not (settings.outbox / "filed" / drafted).exists()


def test_approval_files_a_read_only_copy_and_closes_the_draft(client, app, settings, drafted):
    csrf = login(client)
    assert client.post(f"/jobs/{drafted}/approve", data={"csrf": csrf}).status_code == 303
    filed = settings.outbox / "filed" / drafted
    assert sorted(p.name for p in filed.iterdir()) == ["draft.docx", "result.json", "state.json"]
    assert not filed.stat().st_mode & stat.S_IWUSR and not (filed / "draft.docx").stat().st_mode & stat.S_IWUSR
    assert json.loads((filed / "state.json").read_text())["state"] == "filed"
    assert ("sophie", "approve") in audit_actions(app, drafted)
    assert client.post(f"/jobs/{drafted}/approve", data={"csrf": csrf}).status_code == 409
    assert "Jean DUPONT" in client.get("/?state=filed").text


def test_rejection_needs_a_comment_and_goes_back_to_the_practitioner(client, settings, drafted):
    csrf = login(client)
    assert "error=" in client.post(f"/jobs/{drafted}/reject", data={"csrf": csrf, "comment": " "}).headers["location"]
    client.post(f"/jobs/{drafted}/reject", data={"csrf": csrf, "comment": "Date de naissance à vérifier"})
    state = json.loads((settings.outbox / drafted / "state.json").read_text())
    assert state["state"] == "rejected" and state["history"][-1]["comment"] == "Date de naissance à vérifier"


def test_the_audit_trail_is_append_only(app, client):
    login(client)
    with app.state.sessions() as session:
        event = session.query(AuditEvent).first()
        event.action = "nothing happened"
        with pytest.raises(AppendOnlyViolation):
            session.commit()


def test_logout_ends_the_session(client):
    csrf = login(client)
    client.post("/logout", data={"csrf": csrf})
    assert client.get("/").status_code == 303


def test_the_worklist_shows_the_waiting_backlog_and_its_eta(client, settings):
    write_tone(settings.inbox / "a.wav", seconds=60.0)
    write_tone(settings.inbox / "b.wav", seconds=60.0)
    login(client)
    page = client.get("/").text
    backlog = re.search(r'<p class="panel" id="backlog">(.*?)</p>', page, re.S).group(1)
    assert "2 dictée(s), 2.0 min d'audio" in backlog and "fin estimée dans ≈" in backlog


def test_drugs_and_conditions_are_edited_one_per_line(client, app, settings, drafted):
    csrf = login(client)
    page = client.get(f"/jobs/{drafted}").text
    assert "AMLODIPINE — 5 mg — par jour" in page and "non dyspnée" in page  # the line as it prints
    client.post(f"/jobs/{drafted}/edit", data={
        "csrf": csrf,
        "drugs": "amlodipine ; 10 mg ; par jour\nbisoprolol ; 2,5 mg ; le matin",
        "conditions": "non dyspnée\nfamille infarctus du myocarde\n? angor",
    })
    result = result_of(settings, drafted)
    # Added by hand, coded like dictated ones.
    assert [(d["name"], d["dose"], d["atc"]) for d in result["drugs"]] == [("amlodipine", "10 mg", "C08CA01"),
                                                                          ("bisoprolol", "2,5 mg", "C07AB07")]
    assert [(c["text"], c["negated"], c["family"], c["hypothesis"], c["cim10"]) for c in result["conditions"]] == [
        ("dyspnée", True, False, False, "R060"), ("infarctus du myocarde", False, True, False, "I219"),
        ("angor", False, False, True, "I209"),
    ]
    with app.state.sessions() as session:
        changes = session.query(AuditEvent).filter_by(action="edit").one().detail["changes"]
    assert set(changes) == {"drugs", "conditions"}


def test_the_worklist_names_the_author(client, settings):
    login(client)
    assert f"<td>{settings.practitioner_name}</td>" in client.get("/").text


def test_the_eta_counts_side_by_side_decodings_once(settings, fake_transcriber):
    from pipeline.review.worklist import processing_rate

    side_by_side = settings.model_copy(update={"workers": 2})
    for name, seconds in (("a.wav", 4.0), ("b.wav", 6.0)):
        source = write_tone(side_by_side.inbox / name, seconds=seconds)
        run_job(ingest.claim_dictation(source, work_dir=side_by_side.work_dir, outbox=side_by_side.outbox), side_by_side)
    vault = side_by_side.vault()
    for path in side_by_side.outbox.glob("*/result.json"):
        result = vault.read_json(path)
        assert result["decodings_at_once"] == 2
        result["timings"] = {"transcribe_s": result["source"]["duration_s"]}  # 1 s of work per audio second
        vault.write_json(path, result)
    assert processing_rate(side_by_side.store()) == pytest.approx(0.5)


def test_one_click_puts_back_the_words_heard_in_place_of_a_repair(client, app, settings, fake_transcriber):
    fake_transcriber.text = "Monsieur Jean Dupont, né le 12 mars 1956. Antécédent de la pandisectomie en 2010."
    source = write_tone(settings.inbox / "repair.wav", seconds=3.0)
    dictation = ingest.claim_dictation(source, work_dir=settings.work_dir, outbox=settings.outbox)
    run_job(dictation, settings)
    job_id = dictation.job_id
    result = result_of(settings, job_id)
    [index] = [i for i, f in enumerate(result["flags"]) if f["kind"] == "vocabulary_correction"]
    assert result["flags"][index]["heard"] == "la pandisectomie" and "l'appendicectomie" in result["transcript"]["text"]

    csrf = login(client)
    page = client.get(f"/jobs/{job_id}").text
    assert f"/jobs/{job_id}/flags/{index}/revert" in page and "remettre « la pandisectomie »" in page
    assert client.post(f"/jobs/{job_id}/flags/{index}/revert", data={}).status_code == 403  # CSRF still applies
    assert client.post(f"/jobs/{job_id}/flags/{index}/revert", data={"csrf": csrf}).status_code == 303

    result = result_of(settings, job_id)
    assert "Antécédent de la pandisectomie en 2010" in result["body"] and result["flags"][index]["reverted"]
    letter = "\n".join(p.text for p in Document(str(settings.outbox / job_id / "draft.docx")).paragraphs)
    assert "la pandisectomie" in letter and "appendicectomie" not in letter
    assert ("sophie", "edit") in audit_actions(app, job_id)
    again = client.post(f"/jobs/{job_id}/flags/{index}/revert", data={"csrf": csrf})
    assert "ne peut pas" in client.get(again.headers["location"]).text


@pytest.mark.parametrize("decision", ["approve", "reject"])
def test_of_two_simultaneous_decisions_exactly_one_wins_and_the_other_is_told(app, settings, drafted, decision):
    import threading

    from pipeline.review import decisions, jobs, worklist

    with app.state.sessions() as session:
        worklist.sync_jobs(session, app.state.outbox)  # as the worklist does
        session.commit()
    barrier = threading.Barrier(2)
    outcomes: list = []

    def decide(username):
        with app.state.sessions() as session:
            barrier.wait()
            try:
                if decision == "approve":
                    decisions.approve(session, app.state.outbox.job(drafted), settings, username=username)
                else:
                    decisions.reject(session, app.state.outbox.job(drafted), username=username, comment="revoir")
                outcomes.append("won")
            except jobs.ReviewError as error:
                outcomes.append(str(error))

    threads = [threading.Thread(target=decide, args=(name,)) for name in ("sophie", "paul")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert outcomes.count("won") == 1 and len(outcomes) == 2
    assert "someone else" in next(o for o in outcomes if o != "won")
    state = json.loads((settings.outbox / drafted / "state.json").read_text(encoding="utf-8"))
    assert [entry["state"] for entry in state["history"]].count("filed" if decision == "approve" else "rejected") == 1
    assert not list((settings.outbox / ".work").glob("*.filing"))


def test_the_audit_trail_is_append_only_in_the_database_and_an_edit_is_detected(app, client, settings):
    import sqlite3
    import subprocess
    import sys

    login(client)
    client.get("/")
    database = settings.outbox / "dictee.db"
    assert stat.S_IMODE(database.stat().st_mode) == 0o600

    def dictee_audit_verify():
        return subprocess.run([sys.executable, "-m", "pipeline.cli", "audit", "verify"], cwd=settings.outbox.parent,
                              capture_output=True, text=True, timeout=120)

    intact = dictee_audit_verify()
    assert intact.returncode == 0 and "intact" in intact.stderr
    with sqlite3.connect(database) as connection:
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            connection.execute("UPDATE audit SET username = 'mallory' WHERE id = 1")
        # Someone with the file drops the guards and rewrites history.
        connection.execute("DROP TRIGGER audit_no_update")
        connection.execute("UPDATE audit SET username = 'mallory' WHERE id = 1")
    altered = dictee_audit_verify()
    assert altered.returncode == 1 and "altered at row 1" in altered.stderr


def test_errors_are_french_pages_without_traceback_and_unknown_ids_are_not_audited(app, client, settings):
    login(client)
    before = audit_actions(app)
    for path in ("/jobs/0123456789abcdef", "/jobs/0123456789abcdef/draft.docx", "/jobs/not-an-id!",
                 "/jobs/0123456789abcdef/audio"):
        response = client.get(path)
        assert response.status_code == 404, path
        assert "Introuvable (404)" in response.text and "Traceback" not in response.text
        assert "Content-Security-Policy" in response.headers
    assert audit_actions(app) == before  # nothing was viewed or downloaded


def test_flags_are_named_in_french_on_the_desk(client, settings, fake_transcriber):
    fake_transcriber.text, fake_transcriber.probability = "Revu ce jour, sans particularité.", 0.2
    source = write_tone(settings.inbox / "unsure.wav", seconds=3.0)
    dictation = ingest.claim_dictation(source, work_dir=settings.work_dir, outbox=settings.outbox)
    run_job(dictation, settings)
    login(client)
    page = client.get(f"/jobs/{dictation.job_id}").text
    assert "mot incertain :" in page and "aucun patient :" in page
    assert "low_confidence" not in page and "no_patient" not in page


def test_flags_and_codes_follow_the_edits(client, settings, fake_transcriber):
    fake_transcriber.text = "Revu ce jour, sans particularité."
    source = write_tone(settings.inbox / "anonymous.wav", seconds=3.0)
    dictation = ingest.claim_dictation(source, work_dir=settings.work_dir, outbox=settings.outbox)
    run_job(dictation, settings)
    job_id = dictation.job_id
    assert "no_patient" in [f["kind"] for f in result_of(settings, job_id)["flags"]]
    csrf = login(client)
    client.post(f"/jobs/{job_id}/edit", data={"csrf": csrf, "patient.last_name": "Durand"})
    assert [f["kind"] for f in result_of(settings, job_id)["flags"] if f["kind"] in ("no_patient", "incomplete_identity")] \
        == ["incomplete_identity"]
    client.post(f"/jobs/{job_id}/edit", data={"csrf": csrf, "patient.first_name": "Paul", "patient.birth_date": "01/02/1950",
                                              "drugs": "Ozempic ; 0,5 mg ; par semaine\nmetformine ; 1000 mg ; matin et soir"})
    result = result_of(settings, job_id)
    assert not {"no_patient", "incomplete_identity"} & {f["kind"] for f in result["flags"]}
    assert [(d["name"], d["atc"]) for d in result["drugs"]] == [("sémaglutide", "A10BJ06"), ("metformine", "A10BA02")]


def test_transcript_words_read_as_written_french(client, settings, drafted):
    result = result_of(settings, drafted)
    result["transcript"]["words"] = timed_words(
        (0.0, 0.2, " L", 0.9), (0.2, 0.6, "'accident", 0.9), (0.6, 0.8, " d'", 0.9), (0.8, 1.2, " hier", 0.9))
    (settings.outbox / drafted / "result.json").write_text(json.dumps(result), encoding="utf-8")
    login(client)
    words = re.search(r'<p class="words" id="words">(.*?)</p>', client.get(f"/jobs/{drafted}").text).group(1)
    assert html.unescape(re.sub(r"<[^>]+>", "", words)) == "L'accident d'hier"


def test_the_worklist_searches_by_name_birth_date_ipp_or_job_id_and_shows_dates(client, drafted):
    login(client)
    for query in ("dupont", "Jean DUPONT", "12/03/1956", "1956-03-12", drafted[:8]):
        assert f"/jobs/{drafted}" in client.get("/", params={"q": query}).text, query
    for query in ("durand", "13/03/1956"):
        assert f"/jobs/{drafted}" not in client.get("/", params={"q": query}).text, query
    page = client.get("/").text
    assert "<th>Dicté le</th>" in page and "<th>Destinataire</th>" in page and "Dr Martin" in page
    assert re.search(r">\d\d/\d\d/\d{4} \d\d:\d\d<", page)  # dates as a French practice writes them
    assert client.get("/", params={"q": "x" * 10_000}).status_code == 200
