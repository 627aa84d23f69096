"""The practice lexicon: words the secretary corrected are written right from the next dictation on."""

from __future__ import annotations

import json
import re

import pytest

from pipeline import ingest
from pipeline.adapt.examples import ExampleStore
from pipeline.adapt.learned import PracticeLexicon, corrected_words
from pipeline.job import run_job
from pipeline.store import Outbox
from pipeline.vault import Vault
from tests.conftest import SAMPLE_DICTATION, signed_in, write_tone

MISHEARD = SAMPLE_DICTATION.replace("Pas de dyspnée.", "Je l'adresse au docteur Vendekelen pour une scléro thérapie.")
CORRECTED_WORDS = {"Vanderkelen": "name", "sclérothérapie": "term"}


def never_known(word: str) -> bool:
    return word.lower() in {"docteur", "pour", "une", "adresse"}


def test_the_words_she_put_in_place_of_misheard_ones_are_found_with_their_kind():
    heard = "Je l'adresse au docteur Vendekelen pour une scléro thérapie. Revu ce jour."
    final = "Je l'adresse au docteur Vanderkelen pour une sclérothérapie. Revu ce jour, il va bien."
    assert dict(corrected_words(heard, final, is_known=never_known)) == CORRECTED_WORDS


def test_known_words_rewritten_passages_and_sentence_capitals_are_not_learned():
    known = {"kardégic"}
    heard = "Il prend du carte des giques. Puis nous verrons."
    final = "Il prend du Kardégic. Ensuite une longue phrase entièrement réécrite par la secrétaire ce matin."
    assert corrected_words(heard, final, is_known=lambda w: w.lower() in known) == []
    assert corrected_words("bonjour lefort", "Bonjour. Lefèvre", is_known=lambda w: False) == [("Lefèvre", "term")]
    assert corrected_words("bonjour lefort", "Bonjour Lefèvre", is_known=lambda w: False) == [("Lefèvre", "name")]


def test_the_lexicon_counts_words_again_removes_them_and_is_sealed(tmp_path):
    from cryptography.fernet import Fernet

    vault = Vault(Fernet(Fernet.generate_key()))
    lexicon = PracticeLexicon(Outbox(tmp_path, vault))
    assert [w.text for w in lexicon.add([("Vanderkelen", "name")], job_id="a" * 16)] == ["Vanderkelen"]
    assert lexicon.add([("Vanderkelen", "name")], job_id="b" * 16) == []
    assert [(w.text, w.times, w.job_id) for w in lexicon.words()] == [("Vanderkelen", 2, "a" * 16)]
    assert b"Vanderkelen" not in lexicon.path.read_bytes()
    assert lexicon.remove("Vanderkelen") and not lexicon.remove("Vanderkelen")
    assert lexicon.words() == []


def _draft(settings, name: str, *, seconds: float = 25.0) -> str:
    source = write_tone(settings.inbox / name, seconds=seconds)  # the fake recognizer's words fit in it
    dictation = ingest.claim_dictation(source, work_dir=settings.work_dir, outbox=settings.outbox)
    run_job(dictation, settings)
    return dictation.job_id


def test_a_word_corrected_on_the_desk_is_written_right_in_the_next_dictation(settings, fake_transcriber):
    fake_transcriber.text = MISHEARD
    first = _draft(settings, "first.wav")
    body = json.loads((settings.outbox / first / "result.json").read_text(encoding="utf-8"))["body"]
    assert "Vendekelen" in body and "scléro thérapie" in body  # nothing knows these words yet
    with signed_in(settings, "dr_martin", role="practitioner") as client:  # signing files the letter
        csrf = re.search(r'name="csrf" value="([^"]+)"', client.get("/").text).group(1)
        corrected = body.replace("Vendekelen", "Vanderkelen").replace("scléro thérapie", "sclérothérapie")
        assert client.post(f"/jobs/{first}/approve", data={"csrf": csrf, "body": corrected}).status_code == 303
    learned = {w.text: w.kind for w in PracticeLexicon(settings.store()).words()}
    assert learned == CORRECTED_WORDS
    assert first in ExampleStore(settings.store())  # and its audio becomes a training example

    second = _draft(settings, "second.wav", seconds=26.0)  # another recording, not a duplicate
    result = json.loads((settings.outbox / second / "result.json").read_text(encoding="utf-8"))
    assert "docteur Vanderkelen" in result["body"] and "sclérothérapie" in result["body"]
    assert {f["written"] for f in result["flags"] if f["kind"] == "vocabulary_correction"} >= set(CORRECTED_WORDS)


def test_learning_never_stops_a_letter_from_being_filed(settings, fake_transcriber, monkeypatch, caplog):
    job_id = _draft(settings, "dictee.wav")

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr("pipeline.adapt.learned.PracticeLexicon.add", broken)
    with signed_in(settings, "dr_martin", role="practitioner") as client:  # signing files the letter
        csrf = re.search(r'name="csrf" value="([^"]+)"', client.get("/").text).group(1)
        assert client.post(f"/jobs/{job_id}/approve", data={"csrf": csrf}).status_code == 303
    assert (settings.outbox / "filed" / job_id / "result.json").exists()
    assert f"job {job_id}: not kept for adaptation (OSError)" in caplog.text
    assert "Dupont" not in caplog.text


@pytest.mark.parametrize("command", [["adapt", "words", "list"], ["adapt", "words", "remove", "Vanderkelen"]])
def test_the_lexicon_is_listed_and_edited_from_the_command_line(settings, command, monkeypatch):
    from typer.testing import CliRunner

    from pipeline.cli import app

    monkeypatch.setenv("DICTEE_OUTBOX", str(settings.outbox))
    PracticeLexicon(settings.store()).add([("Vanderkelen", "name")], job_id="c" * 16)
    result = CliRunner().invoke(app, command)
    assert result.exit_code == 0, result.output
    remaining = [w.text for w in PracticeLexicon(settings.store()).words()]
    assert ("Vanderkelen" in result.output) if command[-1] == "list" else remaining == []


def test_the_desk_lists_the_lexicon_to_the_admin_only_and_removal_is_audited(settings):
    from pipeline.review.auth import add_user
    from pipeline.review.db import AuditEvent

    PracticeLexicon(settings.store()).add([("Vanderkelen", "name"), ("sclérothérapie", "term")],
                                                           job_id="d" * 16)
    with signed_in(settings) as client:
        assert client.get("/lexique").status_code == 403  # a secretary
        with client.app.state.sessions() as session:
            add_user(session, "admin", "another long password", "admin")
        client.post("/login", data={"username": "admin", "password": "another long password"})
        page = client.get("/lexique").text
        assert "Vanderkelen" in page and "sclérothérapie" in page and 'href="/lexique"' in client.get("/").text
        csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
        assert client.post("/lexique/remove", data={"csrf": csrf, "word": "Vanderkelen"}).status_code == 303
        assert "Vanderkelen" not in client.get("/lexique").text
        assert client.post("/lexique/remove", data={"csrf": csrf, "word": "Vanderkelen"}).status_code == 404
        with client.app.state.sessions() as session:
            assert [e.action for e in session.query(AuditEvent) if e.action.startswith("lexicon")] == ["lexicon_remove"]
    assert [w.text for w in PracticeLexicon(settings.store()).words()] == ["sclérothérapie"]
