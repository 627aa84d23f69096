"""The monthly statement per practitioner (pipeline/statement.py, `dictee statement`)."""

from __future__ import annotations

import datetime as dt
import math
import re
import shutil

import pytest
from fastapi.testclient import TestClient

from pipeline import statement
from pipeline.review import create_app
from pipeline.review.auth import add_user, set_practitioner
from tests.conftest import LOCAL_CLIENT, REVIEW_PASSWORD
from tests.test_signing import DUPONT, MARTIN, draft


@pytest.fixture
def practice(settings, fake_transcriber):
    return settings.model_copy(update={"practitioners": {"dupont": DUPONT, "martin": MARTIN}})


def sign(practice, job_id: str, username: str, folder: str) -> None:
    app = create_app(practice)
    with app.state.sessions() as session:
        add_user(session, username, REVIEW_PASSWORD, "practitioner")
        set_practitioner(session, username, folder, known_folders=practice.practitioners)
    with TestClient(app, follow_redirects=False, client=LOCAL_CLIENT) as client:
        client.post("/login", data={"username": username, "password": REVIEW_PASSWORD})
        csrf = re.search(r'name="csrf" value="([^"]+)"', client.get(f"/jobs/{job_id}").text).group(1)
        assert client.post(f"/jobs/{job_id}/approve", data={"csrf": csrf, "then": "list"}).status_code == 303


def test_each_practitioner_s_letters_lines_audio_and_turnaround_are_counted(practice):
    signed = draft(practice, "d1.wav", author="dupont", seconds=4.0)
    draft(practice, "d2.wav", author="dupont", seconds=5.0)  # drafted, not yet signed
    martin = draft(practice, "m1.wav", author="martin", seconds=6.0)
    sign(practice, signed, "dr_dupont", "dupont")
    sign(practice, martin, "dr_martin", "martin")
    month = dt.date.today().strftime("%Y-%m")
    rows = {row.practitioner: row for row in statement.monthly_statement(practice, practice.store(), month)}
    assert set(rows) == {"Dr Anne Dupont", "Dr Paul Martin"}
    dupont = rows["Dr Anne Dupont"]
    assert (dupont.drafted, dupont.signed) == (2, 1) and (rows["Dr Paul Martin"].drafted, rows["Dr Paul Martin"].signed) == (1, 1)
    assert dupont.audio_s == pytest.approx(4.0, abs=0.1)
    assert dupont.characters > 0 and dupont.lines == math.ceil(dupont.characters / statement.LINE_CHARS)
    assert dupont.median_turnaround_h is not None and 0 <= dupont.median_turnaround_h < 1
    elsewhere = statement.monthly_statement(practice, practice.store(), "2020-01")
    assert elsewhere == []

    csv = statement.as_csv(list(rows.values()))
    lines = csv.splitlines()
    assert lines[0].startswith("Praticien;Dictées mises en forme;Courriers signés")
    assert lines[-1].startswith("Total;3;2;")
    assert "Dupont Jean" not in csv and "DUPONT" not in csv  # the dictated patient is nowhere in it


def test_a_month_not_written_as_one_is_refused_in_both_languages():
    for wrong in ("2026-13", "novembre", "2026-1", "", "2026-11-01", " 2026-11", "2026-11\n", "2026-11\r\nX: y"):
        with pytest.raises(Exception, match="AAAA-MM.*YYYY-MM"):
            statement.month_span(wrong)
    start, end = statement.month_span("2026-12")
    assert (start.month, end.year, end.month) == (12, 2027, 1)
    assert statement.previous_month(dt.date(2027, 1, 15)) == "2026-12"


def test_the_command_writes_the_csv_and_the_pdf(practice, tmp_path, monkeypatch):
    from pypdf import PdfReader
    from typer.testing import CliRunner

    from pipeline.cli import app

    sign(practice, draft(practice, "d1.wav", author="dupont"), "dr_dupont", "dupont")
    monkeypatch.setenv("DICTEE_OUTBOX", str(practice.outbox))
    month = dt.date.today().strftime("%Y-%m")
    wanted_pdf = shutil.which("soffice") is not None
    done = CliRunner().invoke(app, ["statement", "--month", month, "--to", str(tmp_path / "out")]
                              + ([] if wanted_pdf else ["--no-pdf"]))
    assert done.exit_code == 0, done.output
    assert (tmp_path / "out" / f"releve-{month}.csv").read_text(encoding="utf-8").startswith("Praticien;")
    if wanted_pdf:
        text = PdfReader(tmp_path / "out" / f"releve-{month}.pdf").pages[0].extract_text()
        assert f"Relevé d'activité — {month}" in text and "65 caractères" in text
    from tests.test_cli import dictee

    refused = dictee("statement", "--month", "13/2026", "--no-pdf", "--outbox", str(practice.outbox), cwd=tmp_path)
    assert refused.returncode != 0 and "AAAA-MM" in refused.stderr + refused.stdout
    assert "Traceback" not in refused.stderr


def test_the_admin_downloads_the_statement_from_the_desk_and_no_one_else_does(practice):
    from tests.conftest import signed_in

    sign(practice, draft(practice, "d1.wav", author="dupont"), "dr_dupont", "dupont")
    month = dt.date.today().strftime("%Y-%m")
    with signed_in(practice, "admin", role="admin") as client:
        assert 'action="/releve.csv"' in client.get("/comptes").text
        answer = client.get(f"/releve.csv?month={month}")
        assert answer.status_code == 200 and answer.headers["content-disposition"].endswith(f'releve-{month}.csv"')
        assert "Dr Anne Dupont;1;1;" in answer.text
        assert client.get("/releve.csv?month=2026-13").status_code == 422
        assert client.get("/releve.csv?month=2026-11%0D%0AX-Injected:%201").status_code == 422  # never into a header
    with signed_in(practice, "sophie") as client:
        assert client.get(f"/releve.csv?month={month}").status_code == 403
