"""The desk of a centre serving several practices: each practice's desk under /p/<practice>/."""

from __future__ import annotations

import re

import pytest
from fastapi import FastAPI
from sqlalchemy import select
from fastapi.testclient import TestClient

from pipeline.job import run_job
from pipeline import ingest
from pipeline.review.db import User
from tests.conftest import LOCAL_CLIENT, REVIEW_PASSWORD, write_tone

GLOBAL_PATHS = ("/comptes", "/securite", "/logout", "/login")  # the centre's own pages, one for all practices


def links(page: str) -> list[str]:
    return re.findall(r'(?:href|action|src|formaction|data-listened|data-root)="([^"]*)"', page)


def test_a_desk_served_under_a_prefix_keeps_every_link_and_redirect_under_it(settings, fake_transcriber):
    from pipeline.review import create_app
    from pipeline.review.auth import add_user

    source = write_tone(settings.inbox / "a.wav", seconds=2.0)
    dictation = ingest.claim_dictation(source, work_dir=settings.work_dir, outbox=settings.outbox)
    run_job(dictation, settings)
    desk = create_app(settings)
    with desk.state.sessions() as session:
        add_user(session, "sophie", REVIEW_PASSWORD, "admin")
    centre = FastAPI()
    centre.mount("/p/cab-a", desk)
    with TestClient(centre, follow_redirects=False, client=LOCAL_CLIENT) as client:
        client.post("/p/cab-a/login", data={"username": "sophie", "password": REVIEW_PASSWORD})
        pages = [client.get(path).text for path in
                 ("/p/cab-a/", f"/p/cab-a/jobs/{dictation.job_id}", "/p/cab-a/lexique", "/p/cab-a/autotexte")]
        for page in pages:
            for link in links(page):
                assert link.startswith(("/p/cab-a/", "?", "#", "data:")) or link == "/p/cab-a" \
                    or link.startswith(GLOBAL_PATHS), link
        assert 'data-root="/p/cab-a"' in pages[0]
        csrf = re.search(r'name="csrf" value="([^"]+)"', pages[1]).group(1)
        saved = client.post(f"/p/cab-a/jobs/{dictation.job_id}/edit", data={"csrf": csrf, "body": "Texte revu."})
        assert saved.status_code == 303 and saved.headers["location"] == f"/p/cab-a/jobs/{dictation.job_id}"
        assert client.get(f"/p/cab-a/jobs/{dictation.job_id}/audio").status_code == 200
        client.cookies.clear()  # signed out: sent to the sign-in page, and back to this draft afterwards
        away = client.get(f"/p/cab-a/jobs/{dictation.job_id}")
        assert away.status_code == 303 and away.headers["location"] == "/login"
        back = client.post("/p/cab-a/login", data={"username": "sophie", "password": REVIEW_PASSWORD})
        assert back.headers["location"] == f"/p/cab-a/jobs/{dictation.job_id}"


def centre_client(installation, centre):
    from pipeline.review.centre import create_centre_app

    return TestClient(create_centre_app(installation, centre), follow_redirects=False, client=LOCAL_CLIENT)


def sign_in(client, username):
    client.cookies.clear()
    answer = client.post("/login", data={"username": username, "password": REVIEW_PASSWORD})
    assert answer.status_code == 303, answer.text
    return re.search(r'name="csrf" value="([^"]+)"', client.get("/").text).group(1)


def practice_job_routes(app) -> list[tuple[str, str]]:
    """Every route of a draft a practice's desk has (found, not listed: a new route is covered)."""
    from tests.test_remote import job_routes

    return job_routes(next(served.desk for served in app.state.practices if served.desk is not None))


def test_one_sign_in_one_worklist_across_the_practices_granted(two_practices):
    installation, centre, job_id = two_practices
    with centre_client(installation, centre) as client:
        sign_in(client, "sophie")
        page = client.get("/").text
        assert page.count(f'href="/p/cab-a/jobs/{job_id}"') == 1 and page.count(f'href="/p/cab-b/jobs/{job_id}"') == 1
        assert re.findall(r'<td class="practice">([^<]+)', page) == ["cab-a", "cab-b"]  # oldest first
        only_b = client.get("/?cabinet=cab-b").text
        assert f"/p/cab-b/jobs/{job_id}" in only_b and f"/p/cab-a/jobs/{job_id}" not in only_b
        assert client.get("/suivant").headers["location"] == f"/p/cab-a/jobs/{job_id}"
        assert client.get("/suivant?cabinet=cab-b").headers["location"] == f"/p/cab-b/jobs/{job_id}"
        letter_b = client.get(f"/p/cab-b/jobs/{job_id}/preview").text
        assert "Bruno Bécu" in letter_b and "Alice Aubert" not in letter_b  # B's own draft, B's letterhead
        assert client.get(f"/p/cab-a/jobs/{job_id}/audio").status_code == 200


def test_a_practice_not_granted_answers_404_on_every_route_and_its_list(two_practices):
    installation, centre, job_id = two_practices
    with centre_client(installation, centre) as client:
        csrf = sign_in(client, "anne")
        page = client.get("/").text
        assert "cab-b" not in page and f"/p/cab-a/jobs/{job_id}" in page
        for method, path in practice_job_routes(client.app):
            url = "/p/cab-b" + path.replace("{job_id}", job_id).replace("{index}", "0")
            answer = client.request(method, url, data={"csrf": csrf} if method == "POST" else None)
            assert answer.status_code == 404, (method, path, answer.status_code)
        for path in ("/", "/dicter", "/lexique", "/autotexte", "/releve.csv", "/static/review.js"):
            assert client.get("/p/cab-b" + path).status_code == 404, path
        assert client.get(f"/p/cab-a/jobs/{job_id}").status_code == 200
        assert client.get("/p/cab-z/").status_code == 404  # no such practice: the same answer
        # Her draft of A is opened, edited and approved; « Suivant » goes on across the centre.
        page = client.get(f"/p/cab-a/jobs/{job_id}").text
        csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
        done = client.post(f"/p/cab-a/jobs/{job_id}/approve", data={"csrf": csrf, "body": "Revu."})
        assert done.status_code == 303 and done.headers["location"] == "/suivant", done.text[:300]
        assert client.get("/suivant").headers["location"] == "/"  # nothing else is hers


def test_a_practitioner_belongs_to_his_practice_and_dictates_into_it(two_practices):
    installation, centre, job_id = two_practices
    with centre_client(installation, centre) as client:
        for doctor, own, other in (("dr_b", "cab-b", "cab-a"), ("dr_a", "cab-a", "cab-b")):
            sign_in(client, doctor)
            page = client.get("/").text
            assert f'href="/p/{own}/dicter"' in page and f"/p/{other}/" not in page
            assert client.get(f"/p/{own}/dicter").status_code == 200
            assert client.get(f"/p/{own}/jobs/{job_id}").status_code == 200
            assert client.get(f"/p/{other}/jobs/{job_id}").status_code == 404
            assert client.get(f"/p/{other}/dicter").status_code == 404


def test_each_practice_keeps_its_own_trail_and_the_centre_its_sign_ins(two_practices):
    from pipeline.review.app import review_sessions
    from pipeline.review.centre import desk_settings
    from pipeline.review.db import AuditEvent, verify_audit

    installation, centre, job_id = two_practices
    with centre_client(installation, centre) as client:
        sign_in(client, "sophie")
        assert client.get(f"/p/cab-b/jobs/{job_id}").status_code == 200

    def trail(settings):
        sessions = review_sessions(settings)
        try:
            with sessions() as session:
                assert verify_audit(session).intact
                return [(row.username, row.action, row.job_id) for row in session.query(AuditEvent).order_by(AuditEvent.id)]
        finally:
            sessions.kw["bind"].dispose()

    b, a = (trail(centre.settings(centre.find(name))) for name in ("cab-b", "cab-a"))
    viewed = [(username, action) for username, action, job in b if job == job_id and action == "view"]
    assert viewed and viewed[0][0].startswith("sophie (centre #")  # the centre's sophie, said as such
    assert not any(username.startswith("sophie") for username, _, _ in a)
    desk = trail(desk_settings(installation, centre))
    assert ("sophie", "login", None) in desk and not any(action == "view" for _, action, _ in desk)


def test_a_practice_s_copy_of_a_centre_account_never_signs_in_to_its_own_desk(two_practices):
    from pipeline.review import create_app

    installation, centre, job_id = two_practices
    with centre_client(installation, centre) as client:
        sign_in(client, "sophie")
        client.get(f"/p/cab-b/jobs/{job_id}")
    alone = create_app(centre.settings(centre.find("cab-b")))  # B's desk served on its own
    with alone.state.sessions() as session:
        [copy] = session.scalars(select(User).where(User.username.startswith("sophie"))).all()
    with TestClient(alone, follow_redirects=False, client=LOCAL_CLIENT) as client:
        for username, password in ((copy.username, REVIEW_PASSWORD), (copy.username, "!centre"),
                                   ("sophie", REVIEW_PASSWORD)):
            assert client.post("/login", data={"username": username, "password": password}).status_code != 303


def test_a_practice_account_of_the_same_name_is_never_taken_for_the_centre_s(two_practices):
    """B has its own admin account named like the centre's copy of sophie would be: sophie does
    not become B's admin; she is refused, and said why."""
    from pipeline.review.auth import add_user
    from pipeline.review.centre import copy_name

    installation, centre, job_id = two_practices
    with centre_client(installation, centre) as client:
        sign_in(client, "sophie")
        desk_b = next(one.desk for one in client.app.state.practices if one.practice.name == "cab-b")
        with client.app.state.sessions() as accounts:
            sophie = accounts.scalar(select(User).where(User.username == "sophie"))
        with desk_b.state.sessions() as session:
            add_user(session, copy_name(sophie), REVIEW_PASSWORD, "admin")
        refused = client.get(f"/p/cab-b/jobs/{job_id}")
        assert refused.status_code == 409 and "a practice account has this name" not in refused.text
        assert "un compte du cabinet porte ce nom" in refused.text
        assert client.get("/p/cab-b/lexique").status_code == 409  # not her admin pages either


def test_a_practice_whose_key_is_gone_says_so_while_the_others_work_on(two_practices, tmp_path):
    installation, centre, job_id = two_practices
    (tmp_path / "keys" / "cab-b").unlink()
    with centre_client(installation, centre) as client:
        sign_in(client, "sophie")
        page = client.get("/").text
        assert f"/p/cab-a/jobs/{job_id}" in page and f"/p/cab-b/jobs/{job_id}" not in page
        assert "illisible" in page
        closed = client.get(f"/p/cab-b/jobs/{job_id}")
        assert closed.status_code == 503 and "clé de chiffrement du cabinet cab-b" in closed.text
        assert str(tmp_path) not in closed.text  # no path on a page
        assert client.get(f"/p/cab-a/jobs/{job_id}").status_code == 200
        sign_in(client, "anne")
        assert client.get(f"/p/cab-b/jobs/{job_id}").status_code == 404  # not hers: not said to exist
        client.cookies.clear()
        assert client.get(f"/p/cab-b/jobs/{job_id}").headers["location"] == "/login"


def test_the_admin_downloads_each_practice_s_statement(two_practices):
    installation, centre, _ = two_practices
    with centre_client(installation, centre) as client:
        sign_in(client, "chef")
        accounts = client.get("/comptes").text
        assert 'action="/p/cab-a/releve.csv"' in accounts and 'action="/p/cab-b/releve.csv"' in accounts
        assert "cab-a, cab-b" in accounts  # sophie's grants shown by name
        statement = client.get("/p/cab-b/releve.csv?month=2026-11")
        assert statement.status_code == 200 and statement.headers["content-type"].startswith("text/csv")
        assert 'formaction="/p/cab-b/releve.pdf"' in accounts
        for month in ("2026-11x", "2026-13", "../../x", "\x1b[31m" * 1000):
            refused = client.get("/p/cab-b/releve.pdf", params={"month": month})
            assert refused.status_code == 422 and "\x1b" not in refused.text and len(refused.text) < 20000, month
        sign_in(client, "sophie")
        assert client.get("/p/cab-b/releve.csv?month=2026-11").status_code == 403
        assert client.get("/p/cab-b/releve.pdf?month=2026-11").status_code == 403


def test_dictee_send_puts_a_recording_into_the_named_practice_s_inbox(two_practices, tmp_path, monkeypatch):
    import hashlib

    from pipeline import send

    installation, centre, _ = two_practices
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    recording = write_tone(tmp_path / "ordonnance.wav", seconds=3.0)
    with centre_client(installation, centre) as client:
        desk = send.Desk(client, "dr_b", "cab-b")
        desk.sign_in(REVIEW_PASSWORD, lambda: "")
        sent = desk.send(recording, patient="BÉCU Paul 01/02/1950")
        settings_b, settings_a = (centre.settings(centre.find(name)) for name in ("cab-b", "cab-a"))
        landed = ingest.list_candidates(settings_b.inbox, settings_b.practitioners)
        assert len(landed) == 1 and not ingest.list_candidates(settings_a.inbox, settings_a.practitioners)
        assert sent.job_id == ingest.job_id_for(hashlib.sha256(landed[0].read_bytes()).hexdigest())
        not_his = send.Desk(client, "dr_b", "cab-a")
        with pytest.raises(send.SendError, match="not granted"):
            not_his.sign_in(REVIEW_PASSWORD, lambda: "")
    for hostile in ("../cab-a", "CAB-B", "cab b", "cab-b/../x", "", "x" * 41):
        with pytest.raises(send.SendError, match="practice name refused"):
            send.open_desk("http://127.0.0.1:1", "dr_b", practice=hostile)


def test_a_key_taken_away_while_the_desk_runs_closes_that_practice_at_once(two_practices, tmp_path):
    installation, centre, job_id = two_practices
    key = tmp_path / "keys" / "cab-b"
    with centre_client(installation, centre) as client:
        sign_in(client, "sophie")
        assert client.get(f"/p/cab-b/jobs/{job_id}/audio").status_code == 200
        kept = key.read_bytes()
        key.unlink()
        closed = client.get(f"/p/cab-b/jobs/{job_id}/audio")
        assert closed.status_code == 503 and "clé de chiffrement du cabinet cab-b" in closed.text
        page = client.get("/").text
        assert "illisible" in page and f"/p/cab-b/jobs/{job_id}" not in page and f"/p/cab-a/jobs/{job_id}" in page
        assert client.get(f"/p/cab-a/jobs/{job_id}/audio").status_code == 200  # A works on
        key.write_bytes(kept)
        key.chmod(0o600)
        assert client.get(f"/p/cab-b/jobs/{job_id}/audio").status_code == 200


def test_from_outside_the_centre_asks_its_second_factor_once_for_every_practice(two_practices):
    import pyotp

    from pipeline.review.centre import create_centre_app

    installation, centre, job_id = two_practices
    outside = installation.model_copy(update={"review_local_networks": []})  # every sign-in from outside
    with TestClient(create_centre_app(outside, centre), follow_redirects=False, client=LOCAL_CLIENT) as client:
        assert client.get(f"/p/cab-b/jobs/{job_id}").headers["location"] == "/login"
        answer = client.post("/login", data={"username": "sophie", "password": REVIEW_PASSWORD})
        assert answer.headers["location"] == "/login/enrol"
        assert client.get(f"/p/cab-a/jobs/{job_id}").status_code == 303  # half signed in: nowhere yet
        secret = re.search(r'<code id="secret">([A-Z2-7]+)</code>', client.get("/login/enrol").text).group(1)
        assert client.post("/login/enrol", data={"code": pyotp.TOTP(secret).now()}).status_code == 200
        for practice in ("cab-a", "cab-b"):
            assert client.get(f"/p/{practice}/jobs/{job_id}").status_code == 200


def test_a_practice_added_or_disabled_while_the_desk_runs_is_served_or_closed_without_a_restart(
        two_practices, tmp_path, monkeypatch):
    from pipeline.review import centre as centre_desk
    from pipeline.review.app import review_sessions
    from pipeline.review.centre import desk_settings, grant
    from pipeline.vault import create_key_file

    installation, centre, job_id = two_practices
    monkeypatch.setattr(centre_desk, "REGISTER_CHECK_S", 0.0)
    with centre_client(installation, centre) as client:
        sign_in(client, "sophie")
        assert client.get("/p/cab-c/").status_code == 404
        # The centre takes on a third practice; its first dictation is drafted; sophie is granted it.
        create_key_file(tmp_path / "keys" / "cab-c", guarded=[])
        practice = centre.add("cab-c", outbox=tmp_path / "cab-c" / "outbox", key=tmp_path / "keys" / "cab-c",
                              installation=installation)
        with practice.settings_file.open("a") as own:
            own.write('practitioner_name = "Dr Chloé Caron"\nstable_seconds = 0\n')
        settings = centre.settings(practice)
        source = write_tone(settings.inbox / "dictation.wav", seconds=2.0)
        ingest.claim_dictation(source, work_dir=settings.work_dir, outbox=settings.outbox)
        run_job(next(iter(ingest.unfinished_claims(settings.work_dir))), settings)
        accounts = review_sessions(desk_settings(installation, centre))
        with accounts() as session:
            grant(session, "sophie", centre.find("cab-c"), [], known_folders={})
            session.commit()
        accounts.kw["bind"].dispose()
        sign_in(client, "sophie")  # a grant closes her sessions: the next sign-in carries it
        page = client.get("/").text
        assert f'href="/p/cab-c/jobs/{job_id}"' in page and "cab-a" in page and "cab-b" in page
        assert "Chloé Caron" in client.get(f"/p/cab-c/jobs/{job_id}/preview").text
        sign_in(client, "anne")  # granted A only: C does not exist for her
        assert client.get(f"/p/cab-c/jobs/{job_id}").status_code == 404 and "cab-c" not in client.get("/").text

        sign_in(client, "sophie")
        centre.set_disabled("cab-b", True)
        assert client.get(f"/p/cab-b/jobs/{job_id}").status_code == 404
        assert "cab-b" not in client.get("/").text and f"/p/cab-a/jobs/{job_id}" in client.get("/").text
        centre.set_disabled("cab-b", False)
        assert client.get(f"/p/cab-b/jobs/{job_id}").status_code == 200
        # A register damaged (or caught mid-write) changes nothing: the desk serves on as it was.
        register = centre.register.read_bytes()
        centre.register.write_bytes(b"\x00[[[ not toml" * 1000)
        assert client.get(f"/p/cab-b/jobs/{job_id}").status_code == 200 and "cab-c" in client.get("/").text
        centre.register.write_bytes(register)
        assert sorted(served.practice.name for served in client.app.state.practices) == ["cab-a", "cab-b", "cab-c"]


def test_the_admin_grants_and_takes_back_a_practice_from_the_desk(two_practices):
    from pipeline.review.app import review_sessions
    from pipeline.review.centre import desk_settings
    from pipeline.review.db import AuditEvent

    installation, centre, job_id = two_practices
    b = centre.find("cab-b")
    with b.settings_file.open("a") as own:  # B has a second practitioner, in inbox/bruel/
        own.write('\n[practitioners.bruel]\nname = "Dr Basile Bruel"\n')
    with centre_client(installation, centre) as client:
        sign_in(client, "anne")
        assert client.get(f"/p/cab-b/jobs/{job_id}").status_code == 404
        csrf = sign_in(client, "chef")
        page = client.get("/comptes").text
        assert 'action="/comptes/anne/cabinets/cab-b"' in page and "Dr Basile Bruel (bruel)" in page
        assert 'action="/comptes/chef/cabinets/' not in page  # not on her own account
        granted = client.post("/comptes/anne/cabinets/cab-b", data={"csrf": csrf, "action": "grant", "folders": ["bruel"]})
        assert granted.status_code == 303 and granted.headers["location"] == "/comptes"
        assert "cab-a, cab-b (bruel)" in client.get("/comptes").text
        sign_in(client, "anne")
        assert client.get(f"/p/cab-b/jobs/{job_id}").status_code == 404  # the main practitioner's: not granted
        csrf = sign_in(client, "chef")
        client.post("/comptes/anne/cabinets/cab-b", data={"csrf": csrf, "action": "grant"})  # none ticked: all
        sign_in(client, "anne")
        assert client.get(f"/p/cab-b/jobs/{job_id}").status_code == 200
        csrf = sign_in(client, "chef")
        assert client.post("/comptes/anne/cabinets/cab-b", data={"csrf": csrf, "action": "revoke"}).status_code == 303
        client.cookies.clear()
        client.post("/login", data={"username": "anne", "password": REVIEW_PASSWORD})
        assert client.get(f"/p/cab-b/jobs/{job_id}").status_code == 404
    with review_sessions(desk_settings(installation, centre))() as session:
        trail = [(event.username, event.action) for event in session.scalars(select(AuditEvent))]
    assert trail.count(("chef", "practice_grant")) == 2 and ("chef", "practice_revoke") in trail


def test_a_grant_from_the_desk_refuses_what_the_console_refuses(two_practices):
    installation, centre, job_id = two_practices
    with centre_client(installation, centre) as client:
        csrf = sign_in(client, "chef")

        def post(path, **form):
            return client.post(path, data={"csrf": csrf, "action": "grant", **form}).status_code

        assert post("/comptes/anne/cabinets/cab-z") == 404  # no such practice
        assert post("/comptes/nobody/cabinets/cab-b") == 404
        assert post("/comptes/chef/cabinets/cab-b") == 409  # her own account
        assert post("/comptes/anne/cabinets/cab-b", action="sudo") == 422
        assert post("/comptes/anne/cabinets/cab-b", folders=["inconnu"]) == 422
        assert post("/comptes/anne/cabinets/cab-b", folders=["x\x1b[31m\n" * 40]) == 422
        assert post("/comptes/anne/cabinets/cab-b", folders=[f"f{n}" for n in range(5000)]) in (400, 422)  # bounded
        assert post("/comptes/dr_a/cabinets/cab-b", folders=["."]) == 422  # a practitioner: one practice
        assert post("/comptes/dr_b/cabinets/cab-b") == 422  # a practitioner: the one he signs as
        assert client.post("/comptes/anne/cabinets/cab-b", data={"action": "grant"}).status_code == 403  # no csrf
        sign_in(client, "anne")
        assert client.get(f"/p/cab-b/jobs/{job_id}").status_code == 404  # none of it granted anything
        csrf = sign_in(client, "sophie")
        assert post("/comptes/anne/cabinets/cab-b") == 403  # not an admin
        sign_in(client, "anne")
        assert client.get(f"/p/cab-b/jobs/{job_id}").status_code == 404


def test_the_admin_downloads_a_practice_s_statement_as_a_pdf_for_the_invoice(two_practices):
    installation, centre, _ = two_practices
    with centre_client(installation, centre) as client:
        sign_in(client, "chef")
        statement = client.get("/p/cab-b/releve.pdf?month=2026-11")
        assert statement.status_code == 200 and statement.headers["content-type"] == "application/pdf"
        assert statement.content.startswith(b"%PDF") and b"pdfaid" in statement.content  # PDF/A, as letters are
        assert 'filename="releve-2026-11.pdf"' in statement.headers["content-disposition"]
