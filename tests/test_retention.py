"""Audio is deleted once its retention period after filing or quarantine has passed."""

from __future__ import annotations

import datetime as dt
import json

from pipeline.retention import purge_audio
from pipeline.store import Outbox

NOW = dt.datetime(2026, 11, 23, tzinfo=dt.timezone.utc)


def job(outbox, job_id, history):
    folder = outbox / job_id
    folder.mkdir(parents=True)
    (folder / "audio.ogg").write_bytes(b"x" * 100)
    (folder / "draft.docx").write_bytes(b"letter")
    (folder / "state.json").write_text(json.dumps({"state": history[-1]["state"], "history": history}))
    return folder


def test_only_audio_of_letters_filed_long_enough_ago_is_deleted(tmp_path):
    old = job(tmp_path, "a" * 16, [{"state": "pending_review", "at": "2026-01-01T08:00:00+00:00"},
                                   {"state": "filed", "at": "2026-01-02T08:00:00+00:00"}])
    recent = job(tmp_path, "b" * 16, [{"state": "filed", "at": "2026-11-20T08:00:00+00:00"}])
    pending = job(tmp_path, "c" * 16, [{"state": "pending_review", "at": "2026-01-01T08:00:00+00:00"}])
    report = purge_audio(Outbox(tmp_path), days=30, now=NOW)
    assert report.files == [old / "audio.ogg"] and report.bytes == 100
    assert not (old / "audio.ogg").exists() and (old / "draft.docx").exists()
    assert (recent / "audio.ogg").exists() and (pending / "audio.ogg").exists()


def test_old_quarantined_audio_goes_and_its_reason_stays(tmp_path):
    folder = tmp_path / "quarantine" / ("d" * 16)
    folder.mkdir(parents=True)
    (folder / "audio.wav").write_bytes(b"y")
    (folder / "error.json").write_text(json.dumps({"at": "2026-02-01T08:00:00+00:00"}))
    (folder / "raison.txt").write_text("Refusé : …")
    purge_audio(Outbox(tmp_path), days=30, now=NOW)
    assert sorted(p.name for p in folder.iterdir()) == ["error.json", "raison.txt"]


def test_a_dry_run_deletes_nothing(tmp_path):
    old = job(tmp_path, "e" * 16, [{"state": "filed", "at": "2026-01-02T08:00:00+00:00"}])
    assert purge_audio(Outbox(tmp_path), days=30, dry_run=True, now=NOW).files == [old / "audio.ogg"]
    assert (old / "audio.ogg").exists()
