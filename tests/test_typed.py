"""Typed notes drafted like dictations: a .txt or .docx in the inbox, or `dictee draft FILE|-`."""

from __future__ import annotations

import json
import subprocess
import sys

from docx import Document

from pipeline import ingest
from pipeline.job import run_job
from tests.conftest import REPO, SAMPLE_DICTATION

NOTES = ("Compte rendu de consultation. Madame Sylvie Garcia, née le 15 juillet 1970. Hypothyroïdie, "
         "je poursuis la lévothyroxine 75 microgrammes le matin. Pas de goitre. Point.")


def test_a_txt_dropped_in_the_inbox_is_drafted_through_the_same_stages(settings):
    (settings.inbox / "notes Garcia.txt").write_text(NOTES, encoding="utf-8")
    dictation = ingest.claim_dictation(settings.inbox / "notes Garcia.txt", work_dir=settings.work_dir,
                                       outbox=settings.outbox)
    assert run_job(dictation, settings).status == "drafted"
    folder = settings.outbox / dictation.job_id
    result = json.loads((folder / "result.json").read_text(encoding="utf-8"))
    assert result["document_type"] == "compte_rendu_consultation"
    assert result["patient"]["last_name"] == "Garcia" and result["drugs"][0]["name"] == "lévothyroxine"
    assert result["transcript"]["words"] == [] and result["transcript"]["text"].endswith("Pas de goitre.")
    assert (folder / "notes.txt").is_file() and not list(folder.glob("audio.*"))


def test_a_word_file_dropped_in_the_inbox_is_drafted(settings):
    document = Document()
    for sentence in NOTES.split(". "):
        document.add_paragraph(sentence)
    document.save(settings.inbox / "notes.docx")
    dictation = ingest.claim_dictation(settings.inbox / "notes.docx", work_dir=settings.work_dir, outbox=settings.outbox)
    assert run_job(dictation, settings).status == "drafted"
    result = json.loads((settings.outbox / dictation.job_id / "result.json").read_text(encoding="utf-8"))
    assert result["patient"]["first_name"] == "Sylvie"


def test_empty_notes_are_quarantined_with_a_reason(settings):
    (settings.inbox / "vide.txt").write_text("   \n", encoding="utf-8")
    dictation = ingest.claim_dictation(settings.inbox / "vide.txt", work_dir=settings.work_dir, outbox=settings.outbox)
    outcome = run_job(dictation, settings)
    assert (outcome.status, outcome.reason) == ("quarantined", "empty_text")


def test_the_desk_shows_typed_notes_without_a_player(settings):
    from tests.conftest import signed_in

    (settings.inbox / "n.txt").write_text(NOTES, encoding="utf-8")
    dictation = ingest.claim_dictation(settings.inbox / "n.txt", work_dir=settings.work_dir, outbox=settings.outbox)
    run_job(dictation, settings)
    with signed_in(settings) as client:
        page = client.get(f"/jobs/{dictation.job_id}").text
    assert "Notes tapées" in page and "<audio" not in page


def test_dictee_draft_reads_standard_input_and_says_where_the_draft_is(tmp_path):
    env_cwd = tmp_path
    done = subprocess.run([sys.executable, "-m", "pipeline.cli", "draft", "-"], input=SAMPLE_DICTATION,
                          capture_output=True, text=True, cwd=env_cwd, timeout=300,
                          env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "DICTEE_LETTER_TEMPLATES":
                               str(REPO / "letter_templates"), "DICTEE_MODELS_DIR": str(REPO / "models")})
    assert done.returncode == 0, done.stderr
    assert "drafted" in done.stdout and "draft.docx" in done.stdout
    [result_file] = (tmp_path / "outbox").glob("*/result.json")
    assert json.loads(result_file.read_text(encoding="utf-8"))["recipient"]["last_name"] == "Martin"
    again = subprocess.run([sys.executable, "-m", "pipeline.cli", "draft", "-"], input=SAMPLE_DICTATION,
                           capture_output=True, text=True, cwd=env_cwd, timeout=300,
                           env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})
    assert again.returncode == 0 and "already drafted" in again.stdout


def test_dictee_draft_refuses_what_is_not_notes(tmp_path):
    (tmp_path / "x.pdf").write_bytes(b"%PDF")
    done = subprocess.run([sys.executable, "-m", "pipeline.cli", "draft", str(tmp_path / "x.pdf")],
                          capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert done.returncode == 2 and ".txt" in done.stderr and "Traceback" not in done.stderr
