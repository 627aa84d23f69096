"""`dictee users …`: accounts managed at the console, each change audited."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from pipeline.cli import app
from pipeline.review.app import database_url
from pipeline.review.auth import authenticate, open_session, user_for_token
from pipeline.review.db import AuditEvent, make_sessionmaker

PASSWORD = "correct horse battery"


@pytest.fixture
def dictee(settings, monkeypatch):
    monkeypatch.setenv("DICTEE_OUTBOX", str(settings.outbox))
    runner = CliRunner()

    def run(*args: str, stdin: str | None = None):
        return runner.invoke(app, list(args), input=stdin)

    assert run("users", "add", "sophie", "--password-stdin", stdin=PASSWORD + "\n").exit_code == 0
    return run


def sessions(settings):
    return make_sessionmaker(database_url(settings))()


def test_accounts_are_listed_with_their_role_and_state(dictee):
    assert dictee("users", "add", "dr_martin", "--role", "practitioner", "--password-stdin",
                  stdin="cheval agrafe batterie\n").exit_code == 0
    listed = dictee("users", "list").output
    assert "sophie" in listed and "secrétaire" in listed and "dr_martin" in listed and "praticien" in listed


def test_a_disabled_account_cannot_log_in_and_its_sessions_end_until_enabled(dictee, settings):
    with sessions(settings) as session:
        token, _ = open_session(session, authenticate(session, "sophie", PASSWORD))
    assert dictee("users", "disable", "sophie").exit_code == 0
    with sessions(settings) as session:
        assert authenticate(session, "sophie", PASSWORD) is None and user_for_token(session, token) is None
    assert "désactivé" in dictee("users", "list").output
    assert dictee("users", "enable", "sophie").exit_code == 0
    with sessions(settings) as session:
        assert authenticate(session, "sophie", PASSWORD) is not None


def test_a_reset_password_follows_the_policy_and_ends_the_sessions(dictee, settings):
    with sessions(settings) as session:
        token, _ = open_session(session, authenticate(session, "sophie", PASSWORD))
    weak = dictee("users", "reset-password", "sophie", "--password-stdin", stdin="azerty123456\n")
    assert weak.exit_code != 0 and "too easy to guess" in str(weak.exception)  # `main` prints it, exit 2
    assert dictee("users", "reset-password", "sophie", "--password-stdin", stdin="lune orange tiroir vélo\n").exit_code == 0
    with sessions(settings) as session:
        assert authenticate(session, "sophie", PASSWORD) is None and user_for_token(session, token) is None
        assert authenticate(session, "sophie", "lune orange tiroir vélo") is not None


def test_roles_change_and_every_change_is_audited(dictee, settings):
    assert dictee("users", "set-role", "sophie", "admin").exit_code == 0
    assert dictee("users", "set-role", "sophie", "chef").exit_code != 0
    unknown = dictee("users", "disable", "nobody")
    assert unknown.exit_code != 0 and "unknown account" in str(unknown.exception)
    with sessions(settings) as session:
        assert authenticate(session, "sophie", PASSWORD).role == "admin"
        events = [(e.username, e.action) for e in session.query(AuditEvent).order_by(AuditEvent.id)]
    assert events == [("(console)", "user_add"), ("(console)", "user_set_role")]


def test_the_admin_manages_accounts_on_the_desk_but_not_their_own(settings):
    import re

    from pipeline.review.auth import add_user
    from tests.conftest import signed_in

    with signed_in(settings) as client:  # a secretary
        assert client.get("/comptes").status_code == 403
        with client.app.state.sessions() as session:
            add_user(session, "chef", "une longue phrase secrète", "admin")
        client.post("/login", data={"username": "chef", "password": "une longue phrase secrète"})
        page = client.get("/comptes").text
        assert "sophie" in page and "secrétaire" in page and 'href="/comptes"' in page
        csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
        assert client.post("/comptes/sophie", data={"csrf": csrf, "action": "role", "role": "practitioner"}).status_code == 303
        assert client.post("/comptes/sophie", data={"csrf": csrf, "action": "disable"}).status_code == 303
        assert client.post("/comptes/chef", data={"csrf": csrf, "action": "disable"}).status_code == 409
        assert client.post("/comptes/nobody", data={"csrf": csrf, "action": "disable"}).status_code == 404
        assert "désactivé" in client.get("/comptes").text
        with client.app.state.sessions() as session:
            assert authenticate(session, "sophie", "correct horse battery") is None
            actions = [e.action for e in session.query(AuditEvent) if e.username == "chef"]
    assert actions[-2:] == ["user_role", "user_disable"]


def test_a_practitioners_account_is_linked_to_the_practitioner_it_signs_for(dictee, settings):
    from pipeline.review.auth import find_user, practitioner_folder

    assert dictee("users", "add", "dr_claire", "--role", "practitioner", "--password-stdin",
                  stdin=PASSWORD + "\n").exit_code == 0
    refused = dictee("users", "set-practitioner", "dr_claire", "durand")
    assert refused.exit_code != 0 and "unknown practitioner" in str(refused.exception)  # `main` prints it, exit 2
    assert dictee("users", "set-practitioner", "dr_claire", ".").exit_code == 0
    with sessions(settings) as session:
        assert practitioner_folder(session, find_user(session, "dr_claire")) == ""


def test_an_account_is_given_the_practitioners_it_serves_and_its_second_factor_can_be_reset(dictee, settings,
                                                                                               monkeypatch):
    import pyotp

    from pipeline.review import twofactor
    from pipeline.review.auth import find_user, served_folders

    monkeypatch.setenv("DICTEE_PRACTITIONERS", '{"dupont": {"name": "Dr Anne Dupont"}}')
    refused = dictee("users", "serve", "sophie", "inconnu")
    assert refused.exit_code != 0 and "unknown practitioner" in str(refused.exception)
    assert dictee("users", "serve", "sophie", "dupont", ".").exit_code == 0
    with sessions(settings) as session:
        assert served_folders(session, find_user(session, "sophie")) == {"dupont", ""}
        user = find_user(session, "sophie")
        secret = twofactor.start_enrolment(session, user, settings.vault())
        assert twofactor.confirm_enrolment(session, user, pyotp.TOTP(secret).now(), settings.vault())
    listed = dictee("users", "list").output
    assert "., dupont" in listed and "oui" in listed
    assert dictee("users", "reset-2fa", "sophie").exit_code == 0
    assert dictee("users", "serve", "sophie").exit_code == 0  # no folder: the whole practice again
    with sessions(settings) as session:
        user = find_user(session, "sophie")
        assert not twofactor.enrolled(session, user) and served_folders(session, user) is None
        assert {"user_serve", "totp_reset"} <= {e.action for e in session.query(AuditEvent)}
