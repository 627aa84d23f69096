"""Encryption at rest: what reaches the disk is sealed; the pipeline, review app and CLI open it."""

from __future__ import annotations

import io
import os
import re
import stat
import subprocess
import sys

import pytest
from docx import Document
from typer.testing import CliRunner

from pipeline import ingest
from pipeline.cli import app as cli_app
from pipeline.job import run_job
from pipeline.retention import purge_audio
from pipeline.review.db import AuditEvent, Job
from pipeline.vault import (
    PLAIN, KeyProblem, SealedWithoutKey, check_key_location, create_key_file, is_sealed, load_vault,
)
from tests.conftest import signed_in, write_tone

# Words of the fake dictation that identify the patient: none may be readable on disk. Long
# enough not to turn up by chance in base64 ciphertext (a bare "1956" does, now and then).
PATIENT_MARKERS = (b"Dupont", b"DUPONT", b"12/03/1956", b"1956-03-12")


@pytest.fixture
def key_file(tmp_path):
    path = tmp_path / "keys" / "dictee.key"
    create_key_file(path, guarded=[tmp_path / "inbox", tmp_path / "outbox"])
    return path


@pytest.fixture
def sealed_settings(settings, key_file):
    return settings.model_copy(update={"encryption_key_file": key_file})


def readable_files_mentioning_the_patient(root) -> list[str]:
    found = []
    for path in root.rglob("*"):
        if path.is_file() and any(marker in path.read_bytes() for marker in PATIENT_MARKERS):
            found.append(str(path.relative_to(root)))
    return found


def draft_one(settings, name="dictee.wav"):
    source = write_tone(settings.inbox / name, seconds=4.0)
    dictation = ingest.claim_dictation(source, work_dir=settings.work_dir, outbox=settings.outbox)
    run_job(dictation, settings)
    return dictation.job_id


# --- the key ---------------------------------------------------------------------------------

def test_a_new_key_is_readable_by_its_owner_only_and_never_replaced(key_file, tmp_path):
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    before = key_file.read_bytes()
    with pytest.raises(KeyProblem, match="jamais remplacée / .*never replaced"):
        create_key_file(key_file, guarded=[])
    assert key_file.read_bytes() == before


@pytest.mark.parametrize("where", ["outbox", "inbox", "checkout"])
def test_a_key_beside_the_data_or_in_the_code_is_refused(tmp_path, where):
    from pipeline.vault import CODE_CHECKOUT

    folder = CODE_CHECKOUT if where == "checkout" else tmp_path / where
    with pytest.raises(KeyProblem, match="ne doit pas être dans .* must not be inside"):
        check_key_location(folder / "sub" / "dictee.key", guarded=[tmp_path / "inbox", tmp_path / "outbox"])


def test_a_key_others_can_read_is_refused(key_file):
    os.chmod(key_file, 0o644)
    with pytest.raises(KeyProblem, match="chmod 600"):
        load_vault(key_file, guarded=[])


def test_a_missing_or_malformed_key_is_explained(tmp_path):
    with pytest.raises(KeyProblem, match="clé introuvable .* key not found"):
        load_vault(tmp_path / "absent.key", guarded=[])
    bad = tmp_path / "bad.key"
    bad.write_bytes(b"not a key\n")
    os.chmod(bad, 0o600)
    with pytest.raises(KeyProblem, match="valide / is not a valid"):
        load_vault(bad, guarded=[])


def test_sealed_data_needs_the_right_key(key_file, tmp_path):
    vault = load_vault(key_file, guarded=[])
    token = vault.seal(b'{"last_name": "Dupont"}')
    assert is_sealed(token) and b"Dupont" not in token
    assert vault.open(token) == b'{"last_name": "Dupont"}'
    assert PLAIN.open(b'{"plain": true}') == b'{"plain": true}'  # an outbox from before encryption stays readable
    with pytest.raises(SealedWithoutKey, match="indiquez la clé .* set the key"):
        PLAIN.open(token)
    other = tmp_path / "other" / "k.key"
    create_key_file(other, guarded=[])
    with pytest.raises(SealedWithoutKey, match="autre clé.* another key"):
        load_vault(other, guarded=[]).open(token)


# --- the pipeline ------------------------------------------------------------------------------

def test_drafts_and_quarantine_are_sealed_and_name_no_patient(sealed_settings, fake_transcriber):
    job_id = draft_one(sealed_settings)
    bad = sealed_settings.inbox / "DUPONT Jean 1956.wav"
    bad.write_bytes(b"RIFF")
    quarantined = ingest.claim_dictation(bad, work_dir=sealed_settings.work_dir, outbox=sealed_settings.outbox)
    run_job(quarantined, sealed_settings)

    assert readable_files_mentioning_the_patient(sealed_settings.outbox) == []
    folder = sealed_settings.outbox / job_id
    for name in ("draft.docx", "result.json", "state.json", "audio.wav"):
        assert is_sealed((folder / name).read_bytes()), name
    vault = sealed_settings.vault()
    assert vault.read_json(folder / "result.json")["patient"]["last_name"] == "Dupont"
    assert "DUPONT" in "\n".join(p.text for p in Document(io.BytesIO(vault.read_bytes(folder / "draft.docx"))).paragraphs)
    reason = (sealed_settings.quarantine_dir / quarantined.job_id / "raison.txt").read_text(encoding="utf-8")
    assert "Refusé" in reason and "Rejected" in reason
    error = vault.read_json(sealed_settings.quarantine_dir / quarantined.job_id / "error.json")
    assert error["original_name"] == "DUPONT Jean 1956.wav"


def test_without_a_key_nothing_changes(settings, fake_transcriber):
    job_id = draft_one(settings)
    assert not is_sealed((settings.outbox / job_id / "result.json").read_bytes())
    assert (settings.outbox / job_id / "draft.docx").read_bytes().startswith(b"PK")
    # The markers the sealed tests look for are there in clear: those tests can fail.
    assert f"{job_id}/result.json" in readable_files_mentioning_the_patient(settings.outbox)


def test_purge_reads_sealed_states(sealed_settings, fake_transcriber):
    import datetime as dt

    job_id = draft_one(sealed_settings)
    vault = sealed_settings.vault()
    state_file = sealed_settings.outbox / job_id / "state.json"
    state = vault.read_json(state_file)
    state["history"].append({"state": "filed", "at": "2026-01-01T00:00:00+00:00", "by": "sophie"})
    vault.write_json(state_file, state)
    report = purge_audio(sealed_settings.store(), days=30, now=dt.datetime(2026, 11, 23, tzinfo=dt.timezone.utc))
    assert [p.name for p in report.files] == ["audio.wav"]


# --- the review app ------------------------------------------------------------------------------

@pytest.fixture
def review(sealed_settings, fake_transcriber):
    job_id = draft_one(sealed_settings)
    with signed_in(sealed_settings, "dr_claire", role="practitioner") as client:  # signs: files the letter
        csrf = re.search(r'name="csrf" value="([^"]+)"', client.get("/").text).group(1)
        yield client.app, client, csrf, job_id


def test_the_review_app_shows_plays_and_downloads_sealed_drafts(review, sealed_settings):
    application, client, csrf, job_id = review
    assert "DUPONT" in client.get("/?state=pending_review").text
    assert "Dupont" in client.get(f"/jobs/{job_id}").text
    plain_audio = sealed_settings.vault().read_bytes(sealed_settings.outbox / job_id / "audio.wav")

    whole = client.get(f"/jobs/{job_id}/audio")
    assert whole.status_code == 200 and whole.content == plain_audio and whole.headers["accept-ranges"] == "bytes"
    part = client.get(f"/jobs/{job_id}/audio", headers={"Range": "bytes=100-199"})
    assert part.status_code == 206 and part.content == plain_audio[100:200]
    assert part.headers["content-range"] == f"bytes 100-199/{len(plain_audio)}"
    assert client.get(f"/jobs/{job_id}/audio", headers={"Range": "bytes=-10"}).content == plain_audio[-10:]
    assert client.get(f"/jobs/{job_id}/audio", headers={"Range": f"bytes={len(plain_audio)}-"}).status_code == 416

    docx = client.get(f"/jobs/{job_id}/draft.docx")
    assert docx.status_code == 200 and docx.content.startswith(b"PK")
    assert f'filename="{job_id}.docx"' in docx.headers["content-disposition"]


def test_edits_approval_and_audit_stay_sealed(review, sealed_settings):
    application, client, csrf, job_id = review
    response = client.post(f"/jobs/{job_id}/edit", data={"csrf": csrf, "patient.last_name": "Dupontel"})
    assert response.status_code == 303 and "error" not in response.headers["location"]
    assert client.post(f"/jobs/{job_id}/approve", data={"csrf": csrf}).status_code == 303

    filed = sealed_settings.outbox / "filed" / job_id
    assert all(is_sealed(path.read_bytes()) for path in filed.iterdir())
    assert sealed_settings.vault().read_json(filed / "result.json")["patient"]["last_name"] == "Dupontel"
    # The audit trail keeps the edit, sealed: the review database names no patient either.
    with application.state.sessions() as session:
        edit = session.query(AuditEvent).filter_by(action="edit").one()
    assert set(edit.detail) == {"sealed"}
    assert readable_files_mentioning_the_patient(sealed_settings.outbox) == []


def test_a_rejection_comment_is_sealed(review, sealed_settings):
    application, _, _, job_id = review
    with signed_in(sealed_settings, "sophie") as secretary:  # sending a draft back is the secretary's step
        csrf = re.search(r'name="csrf" value="([^"]+)"', secretary.get("/").text).group(1)
        secretary.post(f"/jobs/{job_id}/reject", data={"csrf": csrf, "comment": "Revoir la date de naissance de M. Dupont"})
    with application.state.sessions() as session:
        job = session.get(Job, job_id)
        assert job.state == "rejected" and is_sealed(job.comment.encode())
    assert readable_files_mentioning_the_patient(sealed_settings.outbox) == []


def test_a_sealed_outbox_without_the_key_is_explained_not_crashed(review, settings):
    _, _, _, job_id = review
    with signed_in(settings, username="paul") as client:  # same outbox, no key
        response = client.get("/")
    assert response.status_code == 503 and "indiquez la clé" in response.text


# --- the command line ------------------------------------------------------------------------------

def test_key_create_and_decrypt_from_the_command_line(sealed_settings, fake_transcriber, tmp_path, monkeypatch):
    job_id = draft_one(sealed_settings)
    monkeypatch.setenv("DICTEE_OUTBOX", str(sealed_settings.outbox))
    runner = CliRunner()
    created = runner.invoke(cli_app, ["key", "create", str(tmp_path / "new" / "k.key")])
    assert created.exit_code == 0 and (tmp_path / "new" / "k.key").is_file()

    monkeypatch.setenv("DICTEE_ENCRYPTION_KEY_FILE", str(sealed_settings.encryption_key_file))
    target = tmp_path / "letter.docx"
    decrypted = runner.invoke(cli_app, ["decrypt", str(sealed_settings.outbox / job_id / "draft.docx"), str(target)])
    assert decrypted.exit_code == 0 and target.read_bytes().startswith(b"PK")


def test_a_bad_key_stops_the_batch_with_a_bilingual_message(tmp_path):
    (tmp_path / "inbox").mkdir()
    env = {**os.environ, "DICTEE_ENCRYPTION_KEY_FILE": str(tmp_path / "absent.key")}
    completed = subprocess.run([sys.executable, "-m", "pipeline.cli", "decrypt", "x", "-"], cwd=tmp_path,
                               capture_output=True, text=True, env=env, timeout=120)
    assert completed.returncode == 2 and "Traceback" not in completed.stderr
    completed = subprocess.run([sys.executable, "-m", "pipeline.cli", "purge", "--days", "1"], cwd=tmp_path,
                               capture_output=True, text=True, env=env, timeout=120)
    assert completed.returncode == 2 and "Traceback" not in completed.stderr
    assert "clé introuvable" in completed.stderr and "key not found" in completed.stderr
