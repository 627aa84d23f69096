"""Nothing lost at the edges: re-dropped quarantined files, files that change after their claim,
full or read-only outboxes, odd names, settings checked before any file is touched."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from pipeline import ingest, store
from pipeline.job import run_job
from tests.conftest import write_tone


def claim(settings, path):
    return ingest.claim_dictation(path, work_dir=settings.work_dir, outbox=settings.outbox)


def test_a_quarantined_recording_dropped_again_is_processed_again_not_deleted(settings, fake_transcriber):
    strict = settings.model_copy(update={"max_duration_s": 1.0})
    write_tone(settings.inbox / "long.wav", seconds=3.0)
    first = claim(settings, settings.inbox / "long.wav")
    assert run_job(first, strict).status == "quarantined"
    reason = (settings.quarantine_dir / first.job_id / "raison.txt").read_text(encoding="utf-8")
    assert "3 s, limit 1 s" in reason  # not « 0 min, limit 0 min »

    write_tone(settings.inbox / "long again.wav", seconds=3.0)  # same audio, dropped again
    again = claim(settings, settings.inbox / "long again.wav")
    assert again is not None and again.job_id == first.job_id
    assert run_job(again, settings).status == "drafted"
    assert (settings.outbox / first.job_id / "draft.docx").is_file()
    assert next((settings.outbox / first.job_id).glob("audio.*")).stat().st_size > 0
    assert not (settings.quarantine_dir / first.job_id).exists()
    assert not list((settings.quarantine_dir / store.SUPERSEDED).iterdir())


def test_a_drafted_recording_dropped_again_is_still_a_duplicate(settings, fake_transcriber):
    write_tone(settings.inbox / "a.wav")
    run_job(claim(settings, settings.inbox / "a.wav"), settings)
    write_tone(settings.inbox / "a again.wav")
    assert claim(settings, settings.inbox / "a again.wav") is None
    assert not (settings.inbox / "a again.wav").exists()


def test_retry_puts_a_quarantined_recording_back_into_the_inbox(settings, fake_transcriber):

    write_tone(settings.inbox / "x.wav", seconds=3.0)
    first = claim(settings, settings.inbox / "x.wav")
    run_job(first, settings.model_copy(update={"max_duration_s": 1.0}))
    target = ingest.retry_quarantined(first.job_id, settings=settings)
    assert target.parent == settings.inbox and ingest.is_stable(target, window_s=settings.stable_seconds)
    again = claim(settings, target)
    assert again.job_id == first.job_id and run_job(again, settings).status == "drafted"


def test_retry_of_an_unknown_id_is_explained(tmp_path):
    done = subprocess.run([sys.executable, "-m", "pipeline.cli", "retry", "0123456789abcdef"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "no quarantined recording" in done.stderr and "Traceback" not in done.stderr


def test_a_file_that_grew_after_its_claim_goes_back_to_the_inbox_not_into_a_draft(settings, fake_transcriber):
    write_tone(settings.inbox / "paused copy.wav", seconds=2.0)
    dictation = claim(settings, settings.inbox / "paused copy.wav")
    with dictation.path.open("ab") as handle:  # the writer resumes into the claimed file
        handle.write(b"\x00\x01" * 16_000)
    outcome = run_job(dictation, settings)
    assert outcome.status == "still_writing"
    assert not (settings.outbox / dictation.job_id).exists() and not list(settings.quarantine_dir.glob("*/raison.txt"))
    returned = settings.inbox / "paused copy.wav"
    assert returned.stat().st_size == 2 * 16_000 * 2 + 44 + 32_000  # every byte kept
    assert not list(settings.work_dir.glob(f"{dictation.job_id}*"))
    redo = claim(settings, returned)
    assert redo.job_id != dictation.job_id and run_job(redo, settings).status == "drafted"


def inbox_on_another_disk(settings, monkeypatch):
    """Renames out of the inbox fail as they do across filesystems (a share, a dock)."""
    import errno

    real_replace = ingest.os.replace

    def across_filesystems(source, target):
        if str(source).startswith(str(settings.inbox)) and not str(target).startswith(str(settings.inbox)):
            raise OSError(errno.EXDEV, "Invalid cross-device link")
        real_replace(source, target)

    monkeypatch.setattr(ingest.os, "replace", across_filesystems)


def test_across_filesystems_a_writer_still_at_it_loses_nothing_the_original_is_kept(settings, fake_transcriber,
                                                                                  monkeypatch):
    inbox_on_another_disk(settings, monkeypatch)
    write_tone(settings.inbox / "dock.wav", seconds=2.0)
    with (settings.inbox / "dock.wav").open("ab") as writer:  # still open: the dock pauses, then goes on
        dictation = claim(settings, settings.inbox / "dock.wav")
        assert dictation.held_original is not None and dictation.held_original.is_file()
        assert ingest.list_candidates(settings.inbox) == [] and ingest.stray_files(settings.inbox) == 0
        writer.write(b"\x00\x01" * 16_000)  # into the original, on the inbox's filesystem
    outcome = run_job(dictation, settings)
    assert outcome.status == "still_writing" and not (settings.outbox / dictation.job_id).exists()
    returned = settings.inbox / "dock.wav"
    assert returned.stat().st_size == 2 * 16_000 * 2 + 44 + 32_000  # the whole recording, tail included
    assert not list(settings.work_dir.glob(f"{dictation.job_id}*"))
    assert not list((settings.inbox / ingest.HELD_FOLDER).iterdir())


def test_across_filesystems_the_original_is_kept_until_the_draft_is_published(settings, fake_transcriber, monkeypatch):
    inbox_on_another_disk(settings, monkeypatch)
    write_tone(settings.inbox / "share.wav", seconds=2.0)
    dictation = claim(settings, settings.inbox / "share.wav")
    [resumed] = ingest.unfinished_claims(settings.work_dir)  # as after a crash: still known
    assert resumed.held_original == dictation.held_original and resumed.held_original.is_file()
    assert run_job(resumed, settings).status == "drafted"
    assert not dictation.held_original.exists()  # published: the original's copy is the filed audio
    assert next((settings.outbox / dictation.job_id).glob("audio.*")).stat().st_size > 0


def test_a_name_that_is_not_utf8_is_claimed_and_drafted_under_a_readable_name(settings, fake_transcriber):
    raw = os.fsencode(settings.inbox) + b"/latin1_\xe9l\xe8ve_GARCIA.wav"
    write_tone(os.fsdecode(raw))
    [path] = ingest.list_candidates(settings.inbox)
    dictation = claim(settings, path)
    assert dictation.original_name == "latin1_élève_GARCIA.wav"
    assert run_job(dictation, settings).status == "drafted"
    result = json.loads((settings.outbox / dictation.job_id / "result.json").read_text(encoding="utf-8"))
    assert result["source"]["file"] == "latin1_élève_GARCIA.wav"


def test_a_full_outbox_leaves_the_file_in_the_inbox_and_no_orphan(settings, monkeypatch):
    import errno

    import pytest

    write_tone(settings.inbox / "a.wav")
    real_copy = ingest.shutil.copyfile

    def full_disk(source, target):
        real_copy(source, target)  # part of it written, then the disk is full
        raise OSError(errno.ENOSPC, "No space left on device")

    real_replace = ingest.os.replace

    def across_filesystems(source, target):
        if str(source).startswith(str(settings.inbox)):  # the inbox is on another disk than the outbox
            raise OSError(errno.EXDEV, "Invalid cross-device link")
        real_replace(source, target)

    monkeypatch.setattr(ingest.os, "replace", across_filesystems)
    monkeypatch.setattr(ingest.shutil, "copyfile", full_disk)
    with pytest.raises(store.OutboxUnavailable, match="no space left"):
        claim(settings, settings.inbox / "a.wav")
    assert (settings.inbox / "a.wav").is_file()
    assert not list(settings.work_dir.iterdir())  # no .partial, no claim record


def test_a_disk_that_fills_while_a_draft_is_written_defers_the_job_and_leaves_no_orphan(settings, fake_transcriber,
                                                                                       monkeypatch):
    import errno

    from pipeline import vault as vault_module
    from pipeline.job import run_job_or_defer

    write_tone(settings.inbox / "a.wav")
    dictation = claim(settings, settings.inbox / "a.wav")
    real_write = vault_module.write_bytes_atomic

    def full_disk(path, data):
        if path.name == "result.json":  # the draft went in, then the disk is full
            raise OSError(errno.ENOSPC, "No space left on device")
        real_write(path, data)

    monkeypatch.setattr(vault_module, "write_bytes_atomic", full_disk)
    outcome = run_job_or_defer(dictation, settings)
    assert outcome.status == "failed" and outcome.job_id == dictation.job_id
    assert outcome.reason == "plus de place sur le disque / no space left on the disk"
    assert sorted(p.name for p in settings.work_dir.iterdir()) == sorted(
        [dictation.path.name, f"{dictation.job_id}{store.CLAIM_SUFFIX}"])  # the claim, no staging folder
    assert not (settings.outbox / dictation.job_id).exists()

    monkeypatch.setattr(vault_module, "write_bytes_atomic", real_write)  # room again: resumed, drafted
    [resumed] = ingest.unfinished_claims(settings.work_dir)
    assert run_job_or_defer(resumed, settings).status == "drafted"
    assert not list(settings.work_dir.glob("*.json"))


def test_an_explained_error_reaches_prefect_logs_without_a_traceback_and_a_bug_keeps_its_own():
    import logging

    from pipeline.flows import ExplainedErrorsWithoutTraceback

    def record_of(error: Exception) -> logging.LogRecord:
        try:
            raise error
        except Exception:
            record = logging.LogRecord("prefect.task_runs", logging.ERROR, __file__, 1, "failed", None, sys.exc_info())
        ExplainedErrorsWithoutTraceback().filter(record)
        return record

    assert record_of(ingest.outbox_error(OSError(28, "full"), Path("outbox"), claimed=True)).exc_info is None
    assert record_of(KeyError("bug")).exc_info is not None


def test_batch_on_a_read_only_outbox_says_so_in_both_languages(tmp_path):
    (tmp_path / "inbox").mkdir()
    write_tone(tmp_path / "inbox" / "a.wav")
    (tmp_path / "outbox").write_text("not a folder")  # cannot be made into a folder, even by root
    done = subprocess.run([sys.executable, "-m", "pipeline.cli", "batch", "inbox", "--outbox", "outbox"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    assert "boîte d'envoi" in done.stderr and "the outbox cannot take the files" in done.stderr
    assert "Traceback" not in done.stderr and (tmp_path / "inbox" / "a.wav").is_file()


def test_a_damaged_model_is_explained_before_any_dictation_is_claimed(tmp_path):
    import shutil

    from pipeline.modelstore import REQUIRED_FILES
    from tests.conftest import REPO

    damaged = tmp_path / "damaged-model"
    damaged.mkdir()
    for name in REQUIRED_FILES:
        source = REPO / "models" / "whisper-base" / name
        if name == "model.bin":
            (damaged / name).write_bytes(b"\x00" + source.read_bytes()[1:4096])  # one header byte off
        else:
            shutil.copyfile(source, damaged / name)
    (tmp_path / "inbox").mkdir()
    write_tone(tmp_path / "inbox" / "a.wav")
    env = {k: v for k, v in os.environ.items() if not k.startswith("DICTEE_")} | {"DICTEE_WHISPER_MODEL": str(damaged)}
    done = subprocess.run([sys.executable, "-m", "pipeline.cli", "batch", "inbox", "--outbox", "outbox"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 2 and "speech model unreadable" in done.stderr and "Traceback" not in done.stderr
    assert (tmp_path / "inbox" / "a.wav").is_file()


def test_formats_are_told_by_content_not_by_extension(settings, fake_transcriber, tmp_path):
    import shutil

    from pipeline.audio import sniff_suffix
    from tests.conftest import REPO

    mp3_named_wav = settings.inbox / "dictée.wav"
    ogg = next((REPO / "samples").glob("*.ogg"))
    shutil.copyfile(ogg, settings.inbox / "sans extension")
    write_tone(tmp_path / "t.wav")
    shutil.copyfile(tmp_path / "t.wav", mp3_named_wav)
    assert sniff_suffix(settings.inbox / "sans extension") == ".ogg"
    dictation = claim(settings, settings.inbox / "sans extension")
    assert dictation.path.suffix == ".ogg" and run_job(dictation, settings).status == "drafted"
    assert (settings.outbox / dictation.job_id / "audio.ogg").is_file()


def test_a_file_that_is_not_audio_is_refused_as_such(settings, fake_transcriber):
    (settings.inbox / "scan.pdf").write_bytes(b"%PDF-1.4 not a recording" * 50)
    outcome = run_job(claim(settings, settings.inbox / "scan.pdf"), settings)
    assert (outcome.status, outcome.reason) == ("quarantined", "not_audio")  # « pas un enregistrement / not a recording »


def test_ignored_files_are_counted_by_reason_never_by_name(settings):
    (settings.inbox / ".Dupont.wav").write_bytes(b"x")
    (settings.inbox / "~lock.wav").write_bytes(b"x")
    (settings.inbox / "Martin.wav.part").write_bytes(b"x")
    (settings.inbox / "link.wav").symlink_to(settings.inbox / "~lock.wav")
    (settings.inbox / "real.wav").write_bytes(b"x")
    (settings.inbox / ".gitkeep").write_bytes(b"")  # the project's own placeholder: not a dictation left aside
    ignored = ingest.ignored_files(settings.inbox)
    assert sum(ignored.values()) == 4 and ignored["caché ou verrou / hidden or lock"] == 2
    assert all("Dupont" not in reason for reason in ignored)
