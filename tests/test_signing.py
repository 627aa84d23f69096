"""The secretary corrects, the practitioner signs: à relire → à signer → signé / classé."""

from __future__ import annotations

import json
import re
from contextlib import ExitStack

import pytest
from docx import Document
from fastapi.testclient import TestClient

from pipeline import ingest
from pipeline.job import run_job
from pipeline.review import create_app
from pipeline.review.auth import AuthError, add_user, set_practitioner
from pipeline.review.db import AuditEvent
from pipeline.settings import Practitioner
from tests.conftest import LOCAL_CLIENT, REVIEW_PASSWORD, write_tone

DUPONT = Practitioner(name="Dr Anne Dupont", specialty="Cardiologie", city="Lyon")
MARTIN = Practitioner(name="Dr Paul Martin", specialty="Médecine générale", city="Lyon")


@pytest.fixture
def practice(settings):
    return settings.model_copy(update={"practitioners": {"dupont": DUPONT, "martin": MARTIN}})


def draft(settings, name: str, author: str | None = None, seconds: float = 4.0) -> str:
    folder = settings.inbox / (author or "")
    folder.mkdir(parents=True, exist_ok=True)
    source = write_tone(folder / name, seconds=seconds)
    dictation = ingest.claim_dictation(source, work_dir=settings.work_dir, outbox=settings.outbox, author=author)
    run_job(dictation, settings)
    return dictation.job_id


@pytest.fixture
def desk(practice, fake_transcriber):
    """The app with a secretary and two practitioners; `desk(name)` is a logged-in client."""
    app = create_app(practice)
    with app.state.sessions() as session:
        add_user(session, "sophie", REVIEW_PASSWORD, "secretary")
        for username, folder in (("dr_dupont", "dupont"), ("dr_martin", "martin")):
            add_user(session, username, REVIEW_PASSWORD, "practitioner")
            set_practitioner(session, username, folder, known_folders=practice.practitioners)
    with ExitStack() as stack:
        clients = {}

        def client_for(username: str) -> TestClient:
            if username not in clients:
                client = stack.enter_context(TestClient(app, follow_redirects=False, client=LOCAL_CLIENT))
                client.post("/login", data={"username": username, "password": REVIEW_PASSWORD})
                client.csrf = re.search(r'name="csrf" value="([^"]+)"', client.get("/").text).group(1)
                clients[username] = client
            return clients[username]

        client_for.app = app
        yield client_for


def state_of(settings, job_id: str) -> dict:
    folder = settings.outbox / "filed" / job_id
    if not folder.exists():
        folder = settings.outbox / job_id
    return json.loads((folder / "state.json").read_text(encoding="utf-8"))


def actions(app, job_id: str) -> list[tuple[str, str]]:
    with app.state.sessions() as session:
        return [(e.username, e.action) for e in session.query(AuditEvent).order_by(AuditEvent.id) if e.job_id == job_id]


def letter_text(path) -> str:
    return "\n".join(p.text for p in Document(str(path)).paragraphs)


def test_the_secretary_submits_and_the_practitioner_signs_then_it_is_filed(desk, practice):
    job_id = draft(practice, "dupont-1.wav", author="dupont")
    secretary, practitioner = desk("sophie"), desk("dr_dupont")
    page = secretary.get(f"/jobs/{job_id}").text
    assert "Enregistrer et transmettre pour signature" in page and "signer et classer" not in page

    corrected = {"csrf": secretary.csrf, "patient.first_name": "Jean-Marc"}
    assert secretary.post(f"/jobs/{job_id}/approve", data=corrected).status_code == 303
    assert state_of(practice, job_id)["state"] == "to_sign"
    assert not (practice.outbox / "filed" / job_id).exists()
    assert "Signé électroniquement" not in letter_text(practice.outbox / job_id / "draft.docx")

    # The secretary cannot sign it herself: no button, and the request is refused.
    assert 'id="approve"' not in secretary.get(f"/jobs/{job_id}").text
    assert secretary.post(f"/jobs/{job_id}/approve", data={"csrf": secretary.csrf}).status_code == 422
    assert not (practice.outbox / "filed" / job_id).exists()

    assert "Enregistrer, signer et classer" in practitioner.get(f"/jobs/{job_id}").text
    assert practitioner.post(f"/jobs/{job_id}/approve", data={"csrf": practitioner.csrf}).status_code == 303
    filed = practice.outbox / "filed" / job_id
    letter = letter_text(filed / "draft.docx")
    assert re.search(r"Signé électroniquement par Dr Anne Dupont le \d+ \w+ \d{4} à \d\d:\d\d", letter)
    assert "Jean-Marc" in letter
    history = state_of(practice, job_id)["history"]
    assert [step["state"] for step in history] == ["pending_review", "to_sign", "filed"]
    assert history[-1]["signed_by"] == "Dr Anne Dupont" and history[-1]["by"] == "dr_dupont"
    assert [a for a in actions(desk.app, job_id) if a[1] in ("submit", "sign")] == [
        ("sophie", "submit"), ("dr_dupont", "sign")]
    journal = practitioner.get(f"/jobs/{job_id}").text  # the desk's journal says it in French
    assert "sophie transmis pour signature" in journal and "dr_dupont signé et classé" in journal


def test_a_certificate_is_signed_by_its_own_practitioner_only(desk, practice):
    job_id = draft(practice, "dupont-cert.wav", author="dupont")
    secretary = desk("sophie")
    data = {"csrf": secretary.csrf, "document_type": "certificat"}
    assert secretary.post(f"/jobs/{job_id}/approve", data=data).status_code == 303

    colleague = desk("dr_martin")
    page = colleague.get(f"/jobs/{job_id}").text
    assert "ne peut être signé que par son praticien" in page and 'id="approve"' not in page
    refused = colleague.post(f"/jobs/{job_id}/approve", data={"csrf": colleague.csrf})
    assert refused.status_code == 422 and "ne peut être signé que par son praticien" in refused.text
    assert not (practice.outbox / "filed" / job_id).exists()

    author = desk("dr_dupont")
    assert author.post(f"/jobs/{job_id}/approve", data={"csrf": author.csrf}).status_code == 303
    assert (practice.outbox / "filed" / job_id / "draft.docx").exists()


def test_a_letter_is_signed_by_its_author_not_by_a_colleague_by_default(desk, practice):
    """Dr Martin signed Dr Dupont's letter under her letterhead, straight from « à relire »."""
    job_id = draft(practice, "dupont-2.wav", author="dupont")
    colleague = desk("dr_martin")
    page = colleague.get(f"/jobs/{job_id}").text
    assert 'id="approve"' not in page and "signé par son auteur" in page
    refused = colleague.post(f"/jobs/{job_id}/approve", data={"csrf": colleague.csrf})
    assert refused.status_code == 422 and "signé par son auteur" in refused.text
    assert not (practice.outbox / "filed" / job_id).exists()


def test_where_the_practice_allows_it_a_colleague_signs_for_the_author_and_both_are_named(practice, fake_transcriber):
    import base64

    from pipeline.export import document_reference
    from pipeline.store import JobState

    allowing = practice.model_copy(update={"colleagues_sign": True, "practitioners": {
        "dupont": DUPONT.model_copy(update={"rpps": "10101010101"}), "martin": MARTIN.model_copy(update={"rpps": "20202020202"})}})
    job_id = draft(allowing, "dupont-5.wav", author="dupont")
    app = create_app(allowing)
    with app.state.sessions() as session:
        add_user(session, "dr_martin", REVIEW_PASSWORD, "practitioner")
        set_practitioner(session, "dr_martin", "martin", known_folders=allowing.practitioners)
    with TestClient(app, follow_redirects=False, client=LOCAL_CLIENT) as client:
        client.post("/login", data={"username": "dr_martin", "password": REVIEW_PASSWORD})
        csrf = re.search(r'name="csrf" value="([^"]+)"', client.get("/").text).group(1)
        assert client.post(f"/jobs/{job_id}/approve", data={"csrf": csrf}).status_code == 303
    filed = allowing.outbox / "filed" / job_id
    assert "Signé électroniquement par Dr Paul Martin, pour le Dr Anne Dupont" in letter_text(filed / "draft.docx")
    result = json.loads((filed / "result.json").read_text(encoding="utf-8"))
    reference = document_reference(result, JobState.read(state_of(allowing, job_id)), b"%PDF-1.4", job_id=job_id)
    contained = {item["id"]: item for item in reference["contained"]}
    assert reference["author"] == [{"reference": "#author"}] and reference["authenticator"] == {"reference": "#signer"}
    assert contained["author"]["name"][0]["text"] == "Dr Anne Dupont"
    assert contained["author"]["identifier"][0]["value"] == "810101010101"
    assert contained["signer"]["name"][0]["text"] == "Dr Paul Martin"
    assert contained["signer"]["identifier"][0]["value"] == "820202020202"
    assert base64.b64decode(reference["content"][0]["attachment"]["data"]) == b"%PDF-1.4"


def test_who_may_sign_is_read_from_the_stored_draft_never_from_the_request(desk, practice):
    """A certificate was refused on a plain sign, but accepted when the form also said « autre »."""
    job_id = draft(practice, "dupont-cert-2.wav", author="dupont")
    secretary = desk("sophie")
    secretary.post(f"/jobs/{job_id}/approve", data={"csrf": secretary.csrf, "document_type": "certificat"})
    colleague = desk("dr_martin")
    forged = colleague.post(f"/jobs/{job_id}/approve", data={"csrf": colleague.csrf, "document_type": "autre"})
    assert forged.status_code == 422 and not (practice.outbox / "filed" / job_id).exists()
    assert json.loads((practice.outbox / job_id / "result.json").read_text(encoding="utf-8"))["document_type"] == "certificat"
    author = desk("dr_dupont")  # even the author changes the type apart from signing it
    changed = author.post(f"/jobs/{job_id}/approve", data={"csrf": author.csrf, "document_type": "autre"})
    assert changed.status_code == 422 and "enregistrez, puis signez" in changed.text


@pytest.mark.parametrize("role_user, state, allowed", [
    ("sophie", "to_sign", False),      # a secretary does not « renvoyer pour correction »
    ("dr_dupont", "to_sign", True),
    ("sophie", "pending_review", True),
    ("dr_dupont", "pending_review", False),
])
def test_sending_back_is_the_role_s_own_step(desk, practice, role_user, state, allowed):
    job_id = draft(practice, f"dupont-{role_user}-{state}.wav", author="dupont")
    secretary = desk("sophie")
    if state == "to_sign":
        secretary.post(f"/jobs/{job_id}/approve", data={"csrf": secretary.csrf})
    client = desk(role_user)
    answer = client.post(f"/jobs/{job_id}/reject", data={"csrf": client.csrf, "comment": "à revoir"})
    assert (answer.status_code == 303) is allowed
    assert state_of(practice, job_id)["state"] != state if allowed else state_of(practice, job_id)["state"] == state
    if not allowed:
        assert answer.status_code == 403 and 'id="reject"' not in client.get(f"/jobs/{job_id}").text


def test_a_practitioner_opens_on_letters_to_sign_their_own_first(desk, practice):
    secretary = desk("sophie")
    theirs = draft(practice, "martin.wav", author="martin", seconds=4.0)
    mine = draft(practice, "dupont.wav", author="dupont", seconds=5.0)
    secretary.get("/")  # her worklist picks the new drafts up
    for job_id in (theirs, mine):  # Martin's was received first: the older one
        assert secretary.post(f"/jobs/{job_id}/approve", data={"csrf": secretary.csrf}).status_code == 303
    page = desk("dr_dupont").get("/").text
    assert re.search(r'<option value="to_sign" selected>à signer', page)
    assert page.index(f"/jobs/{mine}") < page.index(f"/jobs/{theirs}")
    assert f"/jobs/{mine}" not in secretary.get("/").text  # hers opens on « à relire »: nothing left


def test_sent_back_for_correction_with_the_comment_shown_then_submitted_again(desk, practice):
    job_id = draft(practice, "dupont-3.wav", author="dupont")
    secretary, practitioner = desk("sophie"), desk("dr_dupont")
    secretary.post(f"/jobs/{job_id}/approve", data={"csrf": secretary.csrf})
    assert practitioner.post(f"/jobs/{job_id}/reject", data={"csrf": practitioner.csrf, "comment": ""}).status_code == 303
    assert state_of(practice, job_id)["state"] == "to_sign"  # a comment is needed
    sent = practitioner.post(f"/jobs/{job_id}/reject", data={"csrf": practitioner.csrf, "comment": "Dose à vérifier"})
    assert sent.status_code == 303 and state_of(practice, job_id)["state"] == "pending_review"
    page = secretary.get(f"/jobs/{job_id}").text
    assert "Commentaire de dr_dupont" in page and "Dose à vérifier" in page
    assert secretary.post(f"/jobs/{job_id}/approve", data={"csrf": secretary.csrf}).status_code == 303
    assert state_of(practice, job_id)["state"] == "to_sign"  # submitted again after the correction
    assert ("dr_dupont", "send_back") in actions(desk.app, job_id)


def test_the_preview_is_the_letter_as_it_will_print_and_shows_the_signature_once_signed(desk, practice):
    job_id = draft(practice, "dupont-4.wav", author="dupont")
    practitioner = desk("dr_dupont")
    preview = practitioner.get(f"/jobs/{job_id}/preview").text
    assert "Brouillon — aperçu avant signature" in preview and "size: A4" in preview
    assert "Dr Anne Dupont" in preview and "Monsieur Jean DUPONT" in preview
    assert "Signé électroniquement" not in preview
    practitioner.post(f"/jobs/{job_id}/approve", data={"csrf": practitioner.csrf})
    signed = practitioner.get(f"/jobs/{job_id}/preview").text
    assert re.search(r'id="signature">Signé électroniquement par Dr Anne Dupont', signed)
    assert practitioner.get("/jobs/0123456789abcdef/preview").status_code == 404


def test_an_account_signs_for_a_known_practitioner_and_only_a_practitioner_signs(practice):
    app = create_app(practice)
    with app.state.sessions() as session:
        add_user(session, "sophie", REVIEW_PASSWORD, "secretary")
        add_user(session, "dr_x", REVIEW_PASSWORD, "practitioner")
        with pytest.raises(AuthError, match="unknown practitioner"):
            set_practitioner(session, "dr_x", "durand", known_folders=practice.practitioners)
        with pytest.raises(AuthError, match="not a practitioner"):
            set_practitioner(session, "sophie", "dupont", known_folders=practice.practitioners)
        set_practitioner(session, "dr_x", ".", known_folders=practice.practitioners)  # the main letterhead


def test_a_practitioner_account_linked_to_no_one_is_told_how_to_fix_it(practice, fake_transcriber):
    job_id = draft(practice, "root.wav")
    app = create_app(practice)
    with app.state.sessions() as session:
        add_user(session, "dr_new", REVIEW_PASSWORD, "practitioner")
    with TestClient(app, follow_redirects=False, client=LOCAL_CLIENT) as client:
        client.post("/login", data={"username": "dr_new", "password": REVIEW_PASSWORD})
        assert "dictee users set-practitioner" in client.get(f"/jobs/{job_id}").text


def test_the_database_follows_the_state_files_when_they_moved_on_without_it(desk, practice):
    """A desk stopped between writing a job's state.json and its database row (or another desk
    on the same outbox): the worklist takes the file's state, the one source of truth."""
    from pipeline import store
    from pipeline.review.db import Job

    job_id = draft(practice, "lettre.wav")
    sophie = desk("sophie")
    assert job_id in sophie.get("/?state=pending_review").text
    practice.store().set_state(practice.store().job_folder(job_id), store.TO_SIGN, "sophie")
    assert job_id not in sophie.get("/?state=pending_review").text
    assert job_id in sophie.get("/?state=to_sign").text
    with desk.app.state.sessions() as session:
        assert session.get(Job, job_id).state == store.TO_SIGN


def test_a_draft_sent_back_is_read_only_and_waits_on_its_author_s_landing_page(desk, practice):
    """Typing in a filed or sent-back draft ended on a 409 page, the text lost."""
    job_id = draft(practice, "dupont-6.wav", author="dupont")
    secretary, author = desk("sophie"), desk("dr_dupont")
    assert secretary.post(f"/jobs/{job_id}/reject", data={"csrf": secretary.csrf, "comment": "inaudible"}).status_code == 303
    page = secretary.get(f"/jobs/{job_id}").text
    assert 'id="read-only"' in page and '<fieldset id="editable" disabled>' in page and 'id="approve"' not in page
    landing = author.get("/").text
    assert 'id="sent-back"' in landing and "1 dictée(s) renvoyée(s)" in landing and f"/jobs/{job_id}" in landing
    assert "Commentaire de sophie" in author.get(f"/jobs/{job_id}").text and 'id="reopen"' in author.get(f"/jobs/{job_id}").text
    assert secretary.post(f"/jobs/{job_id}/reopen", data={"csrf": secretary.csrf, "comment": "x"}).status_code == 403
    back = author.post(f"/jobs/{job_id}/reopen", data={"csrf": author.csrf, "comment": "Patient : Jean Dupont, voir dossier"})
    assert back.status_code == 303 and state_of(practice, job_id)["state"] == "pending_review"
    assert "voir dossier" in secretary.get(f"/jobs/{job_id}").text and 'id="sent-back"' not in author.get("/").text


def test_a_filed_letter_opens_read_only(desk, practice):
    job_id = draft(practice, "dupont-7.wav", author="dupont")
    author = desk("dr_dupont")
    author.post(f"/jobs/{job_id}/approve", data={"csrf": author.csrf})
    page = author.get(f"/jobs/{job_id}").text
    assert "Lecture seule" in page and "signé et classé" in page and '<fieldset id="editable" disabled>' in page


def test_an_app_served_a_second_time_in_the_same_process_still_signs(practice, fake_transcriber):
    # Its background queue (learning, export) was closed when the first serving ended.
    job_id = draft(practice, "dupont-6.wav", author="dupont")
    app = create_app(practice)
    with app.state.sessions() as session:
        add_user(session, "dr_dupont", REVIEW_PASSWORD, "practitioner")
        set_practitioner(session, "dr_dupont", "dupont", known_folders=practice.practitioners)
    with TestClient(app, client=LOCAL_CLIENT):
        pass
    with TestClient(app, follow_redirects=False, client=LOCAL_CLIENT) as client:
        client.post("/login", data={"username": "dr_dupont", "password": REVIEW_PASSWORD})
        csrf = re.search(r'name="csrf" value="([^"]+)"', client.get("/").text).group(1)
        assert client.post(f"/jobs/{job_id}/approve", data={"csrf": csrf}).status_code == 303
    assert (practice.outbox / "filed" / job_id / "draft.docx").is_file()


def test_a_signature_reads_the_draft_s_result_once(desk, practice, monkeypatch):
    """One load and one save per request: « Enregistrer, signer et classer » with a correction
    reads result.json once and writes it once, whatever the steps behind it (the check of who
    signs, the save, the identity check, the letter regenerated, the filing)."""
    from pipeline.store import Outbox

    job_id = draft(practice, "dupont-once.wav", author="dupont")
    practitioner = desk("dr_dupont")
    practitioner.get(f"/jobs/{job_id}")
    result_file = practice.outbox / job_id / "result.json"
    reads, writes = [], []
    read_json, write_json = Outbox.read_json, Outbox.write_json
    monkeypatch.setattr(Outbox, "read_json", lambda self, path: (reads.append(path), read_json(self, path))[1])
    monkeypatch.setattr(Outbox, "write_json", lambda self, path, data: (writes.append(path), write_json(self, path, data))[1])
    signed = practitioner.post(f"/jobs/{job_id}/approve", data={"csrf": practitioner.csrf, "patient.first_name": "Lucie"})
    assert signed.status_code == 303
    assert reads.count(result_file) == 1 and writes.count(result_file) == 1
    filed = json.loads((practice.outbox / "filed" / job_id / "result.json").read_text(encoding="utf-8"))
    assert filed["patient"]["first_name"] == "Lucie" and filed["review"]["version"] == 1
