"""Bad values at every way in: control characters, a NIR typed as people type it, a register
export with a broken row. Nothing breaks a letter, nothing answers 500, nothing is imported
half, and no field value reaches a log."""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys

import pytest
from fastapi.testclient import TestClient

from pipeline import ingest, typed
from pipeline.job import run_job
from pipeline.plain import has_controls, multiline, single_line
from pipeline.review import create_app
from pipeline.review.auth import add_user
from tests.conftest import LOCAL_CLIENT, REVIEW_PASSWORD, write_tone

CONTROLS = "".join(map(chr, [*range(0, 9), 11, 12, *range(14, 32), 127, 0x85, 0x9F]))
HEADER = "nom_naissance;nom_utilise;prenoms;date_naissance;sexe;matricule_ins;ipp\n"


def test_control_characters_go_one_line_fields_stay_one_line():
    assert single_line(f"DU\x01PONT\x0b Jean\r\n") == "DUPONT Jean"
    assert multiline("Cher confrère,\r\nMerci\x0b.\x00") == "Cher confrère,\nMerci."
    assert not has_controls(single_line(CONTROLS + "x")) and not has_controls(multiline(CONTROLS + "x"))


def register_import(settings, monkeypatch, data: bytes, *extra) -> subprocess.CompletedProcess:
    """`dictee register import`, as the practice runs it (its own process: exit codes and
    messages as printed)."""
    source = settings.outbox.parent / "patients.csv"
    source.parent.mkdir(parents=True, exist_ok=True)
    source.write_bytes(data)
    done = subprocess.run([sys.executable, "-m", "pipeline.cli", "register", "import", str(source), *extra],
                          cwd=settings.outbox.parent, env={**os.environ, "DICTEE_OUTBOX": str(settings.outbox)},
                          capture_output=True, text=True, timeout=120)
    done.output = done.stdout + done.stderr
    done.exit_code = done.returncode
    return done


def dictate(settings) -> dict:
    source = write_tone(settings.inbox / "dictee.wav", seconds=4.0)
    dictation = ingest.claim_dictation(source, work_dir=settings.work_dir, outbox=settings.outbox)
    outcome = run_job(dictation, settings)
    assert outcome.status == "drafted", outcome
    return json.loads((settings.outbox / dictation.job_id / "result.json").read_text(encoding="utf-8"))


def test_a_control_character_in_the_register_never_breaks_the_letter(settings, fake_transcriber, monkeypatch):
    """A name with \\x01 made every batch fail on the linked job with an XML error, retried for ever."""
    done = register_import(settings, monkeypatch,
                           (HEADER + "Dupont\x01;;Jean\x0b Michel;12/03/1956;M;156037512345678;IPP77\n").encode())
    assert done.exit_code == 0, done.output
    result = dictate(settings)  # « Monsieur Jean Dupont, né le douze mars 1956 »: linked to that entry
    assert result["patient"]["birth_name"] == "Dupont" and result["patient"]["ipp"] == "IPP77"
    assert not has_controls(json.dumps(result, ensure_ascii=False))


def test_control_characters_in_typed_notes_are_dropped(settings):
    text = typed.read_typed("Courrier au docteur Martin\x01.\x0b Bien confraternellement.".encode(), ".txt")
    assert not has_controls(text) and "docteur Martin." in text


@pytest.fixture
def desk(settings, fake_transcriber):
    job_id = dictate(settings)["job_id"]
    app = create_app(settings)
    with app.state.sessions() as session:
        add_user(session, "sophie", REVIEW_PASSWORD, "secretary")
    with TestClient(app, follow_redirects=False, client=LOCAL_CLIENT) as client:
        client.post("/login", data={"username": "sophie", "password": REVIEW_PASSWORD})
        client.csrf = re.search(r'name="csrf" value="([^"]+)"', client.get("/").text).group(1)
        yield client, job_id


def saved(settings, job_id) -> dict:
    return json.loads((settings.outbox / job_id / "result.json").read_text(encoding="utf-8"))


def test_a_control_character_typed_on_the_desk_is_dropped_not_a_500(desk, settings):
    client, job_id = desk
    form = {"csrf": client.csrf, "patient.last_name": "DU\x0bPONT", "body": "Cher confrère,\x0b\nMerci.\x01"}
    assert client.post(f"/jobs/{job_id}/edit", data=form).status_code == 303
    result = saved(settings, job_id)
    assert result["patient"]["last_name"] == "DUPONT" and result["body"] == "Cher confrère,\nMerci."
    signed = client.post(f"/jobs/{job_id}/approve", data={"csrf": client.csrf})
    assert signed.status_code in (303, 422)  # submitted, or refused for the identity: never a 500


@pytest.mark.parametrize("typed_nir", ["1 85 03 75 112 045 06", "1.85.03.75.112.045.06", "185037511204506"])
def test_a_nir_typed_with_spaces_or_dots_is_normalised_checked_and_saved(desk, settings, typed_nir):
    """Typed with spaces, it passed the desk's check, then failed the model: 500 at every load."""
    client, job_id = desk
    assert client.post(f"/jobs/{job_id}/edit", data={"csrf": client.csrf, "patient.nir": typed_nir}).status_code == 303
    assert saved(settings, job_id)["patient"]["nir"] == "185037511204506"
    assert client.get(f"/jobs/{job_id}").status_code == 200


def test_a_nir_with_a_wrong_key_is_refused_with_everything_typed_kept(desk, settings, caplog):
    client, job_id = desk
    form = {"csrf": client.csrf, "patient.nir": "1 85 03 75 112 045 79", "patient.first_name": "Jean-Marc",
            "body": "Texte tapé à garder."}
    with caplog.at_level(logging.DEBUG):
        refused = client.post(f"/jobs/{job_id}/edit", data=form)
    assert refused.status_code == 422 and "NIR invalide" in refused.text and "invalid NIR" not in refused.text  # the desk speaks French
    assert "Jean-Marc" in refused.text and "Texte tapé à garder." in refused.text  # nothing she typed lost
    assert saved(settings, job_id)["patient"]["nir"] is None
    assert "112 045 79" not in caplog.text  # no field value in any log
    assert client.get(f"/jobs/{job_id}").status_code == 200


def test_a_draft_saved_unreadable_opens_with_the_reason_never_a_500_loop(desk, settings):
    """A result.json an earlier version saved with a NIR the model refuses."""
    client, job_id = desk
    result = saved(settings, job_id)
    result["patient"]["nir"] = "2 66 07 75 056 123 45"
    (settings.outbox / job_id / "result.json").write_text(json.dumps(result), encoding="utf-8")
    page = client.get(f"/jobs/{job_id}")
    assert page.status_code == 200 and "patient.nir" in page.text and "à ressaisir" in page.text
    assert saved(settings, job_id)["patient"]["nir"] is None
    assert client.get(f"/jobs/{job_id}").status_code == 200


def test_an_unexpected_error_is_logged_by_type_and_job_id_only(desk, settings, caplog, monkeypatch):
    from pipeline.review import jobs

    client, job_id = desk

    def failing(*args, **kwargs):
        raise ValueError("input_value='2 66 07 75 056 123 45'")  # as pydantic words it

    monkeypatch.setattr(jobs, "apply_edits", failing)
    with caplog.at_level(logging.DEBUG):
        answer = client.post(f"/jobs/{job_id}/edit", data={"csrf": client.csrf, "patient.nir": "x"})
    assert answer.status_code == 500 and "Traceback" not in answer.text
    assert "056 123" not in caplog.text and f"ValueError (job {job_id})" in caplog.text


def test_a_stray_quote_imports_nothing_and_names_the_lines(settings, monkeypatch):
    """One stray quote in a 400-row file: 200 imported, « row 202 skipped », the register replaced."""
    good = HEADER + "".join(f"Patient{n};;Jean;01/01/1950;M;;IPP{n}\n" for n in range(400))
    assert register_import(settings, monkeypatch, good.encode()).exit_code == 0
    never_closed = good.replace("Patient200;", '"Patient200;', 1)
    done = register_import(settings, monkeypatch, never_closed.encode())
    assert done.exit_code == 2 and "nothing imported" in done.output and "line 202" in done.output
    assert "Traceback" not in done.output
    closed_far_below = never_closed.replace("Patient300;", 'Patient300";', 1)  # a second stray quote
    done = register_import(settings, monkeypatch, closed_far_below.encode())
    assert done.exit_code == 2 and "nothing imported" in done.output and "lines 202 to 302" in done.output
    from pipeline.directory.patients import PatientRegister

    assert len(PatientRegister.load(settings.store()).entries) == 400  # the previous register stands


def test_a_row_missing_its_fields_stops_the_import_unless_told_to_skip_it(settings, monkeypatch):
    data = (HEADER + "Dupont;;Jean;12/03/1956;M;;IPP1\n;;;;;;\nDurand;;Paul;01/02/1950;M;;IPP2\n").encode()
    refused = register_import(settings, monkeypatch, data)
    assert refused.exit_code == 2 and "--skip-bad-rows" in refused.output and "3" in refused.output
    taken = register_import(settings, monkeypatch, data, "--skip-bad-rows")
    assert taken.exit_code == 0 and "2 patient(s)" in taken.output


@pytest.mark.parametrize("data, line", [
    (HEADER.encode() + b"Dupont;;Jean;12/03/1956;M;;IPP1\nDur\x81and;;Paul;01/02/1950;M;;IPP2\n", "3"),
    ((HEADER + "Dupont;;" + "J" * 200_000 + ";12/03/1956;M;;IPP1\n").encode(), "2"),
], ids=["byte-undefined-in-cp1252", "field-over-128-KiB"])
def test_an_unreadable_export_is_refused_by_line_without_a_traceback(settings, monkeypatch, data, line):
    done = register_import(settings, monkeypatch, data)
    assert done.exit_code == 2 and f"line {line}" in done.output and "Traceback" not in done.output
