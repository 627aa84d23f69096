"""One dictation through every stage (fake speech recognition, real everything else)."""

from __future__ import annotations

import json
import os
import time
from importlib import resources

import jsonschema
import pytest
from docx import Document

from pipeline import ingest
from pipeline.job import run_job
from pipeline.records import JobOutcome
from tests.conftest import write_tone

SCHEMA = json.loads((resources.files("pipeline") / "result.schema.json").read_text(encoding="utf-8"))


def claim(settings, name="Dupont Jean.wav", seconds=2.0):
    source = write_tone(settings.inbox / name, seconds=seconds)
    return ingest.claim_dictation(source, work_dir=settings.work_dir, outbox=settings.outbox)


def test_a_dictation_becomes_a_draft_with_a_valid_result(settings, fake_transcriber):
    dictation = claim(settings)
    outcome = run_job(dictation, settings)
    folder = settings.outbox / dictation.job_id
    assert outcome.status == "drafted" and outcome.document_type == "lettre_confrere"
    assert sorted(p.name for p in folder.iterdir()) == ["audio.wav", "draft.docx", "result.json", "state.json"]
    result = json.loads((folder / "result.json").read_text(encoding="utf-8"))
    jsonschema.validate(result, SCHEMA)
    assert result["patient"]["last_name"] == "Dupont" and result["patient"]["birth_date"] == "1956-03-12"
    assert result["drugs"][0]["name"] == "amlodipine"
    assert result["transcript"]["text"].startswith("Courrier au docteur Martin")
    assert json.loads((folder / "state.json").read_text())["state"] == "pending_review"
    assert "Monsieur Jean DUPONT" in "\n".join(p.text for p in Document(str(folder / "draft.docx")).paragraphs)


def test_nothing_is_left_in_the_work_area(settings, fake_transcriber):
    run_job(claim(settings), settings)
    assert list(settings.work_dir.iterdir()) == []


def test_low_confidence_words_are_flagged_with_their_time(settings, fake_transcriber):
    fake_transcriber.probability = 0.2
    dictation = claim(settings)
    run_job(dictation, settings)
    result = json.loads((settings.outbox / dictation.job_id / "result.json").read_text())
    low = [f for f in result["flags"] if f["kind"] == "low_confidence"]
    assert low and low[1]["start"] == 0.4


def test_speech_left_without_words_is_flagged_with_its_time(settings, fake_transcriber):
    fake_transcriber.unheard = ((72.4, 76.9),)
    dictation = claim(settings)
    run_job(dictation, settings)
    result = json.loads((settings.outbox / dictation.job_id / "result.json").read_text())
    unheard = [f for f in result["flags"] if f["kind"] == "unheard_speech"]
    assert len(unheard) == 1 and unheard[0]["start"] == 72.4 and "1:12–1:16" in unheard[0]["text"]


def test_bad_audio_goes_to_quarantine_with_a_reason_in_french_and_english(settings, fake_transcriber):
    source = settings.inbox / "empty.wav"
    source.write_bytes(b"")
    os.utime(source, (time.time() - 600, time.time() - 600))  # left like this for a while: not still arriving
    dictation = ingest.claim_dictation(source, work_dir=settings.work_dir, outbox=settings.outbox)
    outcome = run_job(dictation, settings)
    folder = settings.quarantine_dir / dictation.job_id
    assert (outcome.status, outcome.reason) == ("quarantined", "empty_file")
    reason = (folder / "raison.txt").read_text(encoding="utf-8")
    assert "Le fichier est vide." in reason and "The file is empty." in reason
    assert fake_transcriber.calls == 0
    assert not (settings.outbox / dictation.job_id).exists()


def test_a_recording_with_no_speech_is_quarantined(settings, fake_transcriber, monkeypatch):
    from pipeline.errors import NoSpeech

    def hears_nothing(samples, *, initial_prompt=None, hotwords=None, listening=None):
        raise NoSpeech("no_speech", "Aucune parole.", "No speech.")

    monkeypatch.setattr(fake_transcriber, "transcribe", hears_nothing)
    outcome = run_job(claim(settings), settings)
    assert (outcome.status, outcome.reason) == ("quarantined", "no_speech")


@pytest.mark.parametrize(
    ("detected", "flags"),
    [(("en", 0.97), ["langue détectée / detected language: en (97%)"]), (("fr", 0.99), [])],
)
def test_the_language_check_flags_only_another_language(settings, fake_transcriber, detected, flags):
    fake_transcriber.detect_language = lambda samples: detected
    settings = settings.model_copy(update={"language_check": True})
    dictation = claim(settings)
    run_job(dictation, settings)
    result = json.loads((settings.outbox / dictation.job_id / "result.json").read_text())
    assert [f["text"] for f in result["flags"] if f["kind"] == "language"] == flags


def test_a_full_disk_defers_the_job_and_the_next_run_finishes_it(settings, fake_transcriber, monkeypatch):
    import errno

    from pipeline import vault
    from pipeline.job import run_backlog

    write_tone(settings.inbox / "a.wav")
    write_tone(settings.inbox / "b.wav", seconds=3.0)
    real_write = vault.write_bytes_atomic  # every outbox file is written through the vault

    def disk_full(path, data):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(vault, "write_bytes_atomic", disk_full)
    first = run_backlog(settings)
    assert [o.status for o in first] == ["failed", "failed"]
    assert len(list(settings.work_dir.glob("*.claim.json"))) == 2  # nothing lost

    monkeypatch.setattr(vault, "write_bytes_atomic", real_write)
    second = run_backlog(settings)
    assert [o.status for o in second] == ["drafted", "drafted"]
    assert sorted(p.name for p in settings.work_dir.iterdir()) == []  # no staging or partial left
    assert len(list(settings.outbox.glob("*/result.json"))) == 2


def test_an_urgent_dictation_is_marked_in_its_result(settings, fake_transcriber):
    (settings.inbox / "urgent").mkdir()
    source = write_tone(settings.inbox / "urgent" / "a.wav")
    dictation = ingest.claim_dictation(source, work_dir=settings.work_dir, outbox=settings.outbox)
    run_job(dictation, settings)
    assert json.loads((settings.outbox / dictation.job_id / "result.json").read_text())["priority"] == "urgent"


def test_parallel_decodings_split_the_cores_unless_told_otherwise(monkeypatch):
    from pipeline.transcribe import TranscriberConfig

    monkeypatch.setattr("os.cpu_count", lambda: 2)
    base = dict(model_dir="m", bundled=True, compute_type="int8", device="auto", beam_size=5, chunk_batch_size=8, language="fr")
    assert TranscriberConfig(**base, cpu_threads=0, parallel=1).threads_per_decoding == 0  # CTranslate2 decides
    assert TranscriberConfig(**base, cpu_threads=0, parallel=2).threads_per_decoding == 1
    assert TranscriberConfig(**base, cpu_threads=0, parallel=4).threads_per_decoding == 1
    assert TranscriberConfig(**base, cpu_threads=3, parallel=2).threads_per_decoding == 3


def test_the_fallback_backlog_decodes_one_at_a_time_with_every_core(settings, monkeypatch):
    from pipeline import job

    seen = []
    monkeypatch.setattr(job, "load_models", lambda s: seen.append(s.workers))
    write_tone(settings.inbox / "a.wav")
    monkeypatch.setattr(job, "run_job_or_defer", lambda dictation, s: JobOutcome(job_id=dictation.job_id, status="drafted"))
    job.run_backlog(settings.model_copy(update={"workers": 2}))
    assert seen == [1]


def test_a_fresh_truncated_file_goes_back_to_the_inbox_whole_until_it_has_stayed_so(settings, fake_transcriber):
    from pipeline.audio import tone, wav_bytes

    whole = wav_bytes(tone(3.0))
    source = settings.inbox / "arriving.wav"
    source.write_bytes(whole[: len(whole) // 2])  # a copy that paused: the header says more is coming
    dictation = ingest.claim_dictation(source, work_dir=settings.work_dir, outbox=settings.outbox)
    outcome = run_job(dictation, settings)
    assert outcome.status == "still_writing" and source.read_bytes() == whole[: len(whole) // 2]
    assert not list(settings.quarantine_dir.glob("*/raison.txt"))

    os.utime(source, (time.time() - settings.write_wait_s - 1,) * 2)  # untouched since: it is truncated
    again = ingest.claim_dictation(source, work_dir=settings.work_dir, outbox=settings.outbox)
    assert run_job(again, settings).status == "quarantined"


def test_flags_about_something_said_carry_the_time_it_was_said():
    from pipeline.extract import extract
    from pipeline.job import timed
    from pipeline.normalize import normalize_dictation
    from pipeline.records import Word

    said = ("Compte rendu de consultation. Madame Sylvie Garcia, sécurité sociale 2 70 07 75 056 089 64. "
            "Examen normal.").split(" ")
    words = [Word(start=float(i), end=i + 0.9, word=(" " if i else "") + w, probability=0.9) for i, w in enumerate(said)]
    normalized = normalize_dictation(words)
    extraction = extract(normalized)
    flags = {flag.kind: flag for flag in timed(extraction.flags, extraction.mentions, normalized)}
    assert flags["invalid_nir"].start == float(said.index("sécurité"))
    assert flags["incomplete_identity"].start == float(said.index("Madame"))
