"""The watcher processes each stable file once and leaves growing or partial files alone."""

from __future__ import annotations

import os
import sys
import threading
import time

import pytest

from pipeline.watch import InboxWatcher


def test_each_stable_file_is_processed_once_and_partial_files_wait(settings):
    settings = settings.model_copy(update={"stable_seconds": 5})
    processed = []
    watcher = InboxWatcher(settings, processed.append)
    old = settings.inbox / "old.wav"
    old.write_bytes(b"finished recording")
    os.utime(old, (time.time() - 60, time.time() - 60))
    (settings.inbox / "growing.wav").write_bytes(b"still being copied")
    (settings.inbox / "upload.wav.part").write_bytes(b"partial")
    watcher.rescan()
    assert watcher.run_once() == 1
    watcher.rescan()
    assert watcher.run_once() == 0  # already claimed; the growing file is not yet stable
    assert [d.original_name for d in processed] == ["old.wav"]
    assert sorted(p.name for p in settings.inbox.iterdir()) == ["growing.wav", "upload.wav.part"]


def test_a_stop_request_ends_the_loop(settings):
    watcher = InboxWatcher(settings, lambda d: None)
    watcher.stop_event.set()
    started = time.monotonic()
    watcher.run(max_seconds=30)
    assert time.monotonic() - started < 5


def _watch_in_background(watcher: InboxWatcher, seconds: float) -> threading.Thread:
    thread = threading.Thread(target=watcher.run, kwargs={"max_seconds": seconds}, daemon=True)
    thread.start()
    # The observer is up: its watch in place, so a write from now on is seen (one before it is
    # judged by the stability window alone, as the module says).
    watcher.observing.wait(timeout=30)
    return thread


@pytest.mark.skipif(sys.platform != "linux", reason="close-after-write is inotify's")
def test_a_copy_that_pauses_longer_than_the_window_is_taken_only_once_closed(settings):
    settings = settings.model_copy(update={"stable_seconds": 0.3})
    taken = []
    watcher = InboxWatcher(settings, lambda dictation: taken.append(dictation.path.read_bytes()))
    thread = _watch_in_background(watcher, seconds=20)
    assert watcher.sees_closes
    with (settings.inbox / "dock.mp3").open("wb") as writer:
        writer.write(b"first half ")
        writer.flush()
        time.sleep(2.0)  # a dictaphone dock pausing: far longer than the stability window
        assert taken == []
        writer.write(b"second half")
    deadline = time.monotonic() + 10
    while not taken and time.monotonic() < deadline:
        time.sleep(0.1)
    watcher.stop_event.set()
    thread.join(timeout=10)
    assert taken == [b"first half second half"]


def test_a_file_moved_into_the_inbox_finished_is_taken_after_the_window(settings, tmp_path):
    settings = settings.model_copy(update={"stable_seconds": 0.3})
    taken = []
    watcher = InboxWatcher(settings, lambda dictation: taken.append(dictation.original_name))
    thread = _watch_in_background(watcher, seconds=20)
    finished = tmp_path / "finished.wav"
    finished.write_bytes(b"a whole recording")
    os.replace(finished, settings.inbox / "finished.wav")
    deadline = time.monotonic() + 10
    while not taken and time.monotonic() < deadline:
        time.sleep(0.1)
    watcher.stop_event.set()
    thread.join(timeout=10)
    assert taken == ["finished.wav"]


def test_a_claim_a_failure_left_is_tried_again_later_with_a_growing_delay(settings):
    settings = settings.model_copy(update={"rescan_seconds": 60})
    attempts = []
    watcher = InboxWatcher(settings, lambda dictation: attempts.append(dictation.job_id))  # fails: claim stays
    (settings.inbox / "a.wav").write_bytes(b"a recording")
    watcher.rescan()
    assert watcher.run_once() == 1 and len(attempts) == 1
    assert watcher.resume_deferred() == 1  # first retry: at once
    assert watcher.resume_deferred() == 0  # the next one waits (60 s, then 120 s, ...)
    job_id = attempts[0]
    tries, due = watcher._deferred[job_id]
    assert tries == 1 and due - time.monotonic() > 50


def test_a_full_outbox_leaves_the_file_in_the_inbox_and_the_watcher_running(settings, monkeypatch):
    from pipeline import ingest

    real_claim = ingest.claim_dictation

    def full(*args, **kwargs):
        raise ingest.outbox_error(OSError(28, "full"), settings.outbox)

    watcher = InboxWatcher(settings, lambda dictation: None)
    (settings.inbox / "a.wav").write_bytes(b"a recording")
    monkeypatch.setattr(ingest, "claim_dictation", full)
    watcher.rescan()
    assert watcher.run_once() == 0
    assert (settings.inbox / "a.wav").is_file()
    monkeypatch.setattr(ingest, "claim_dictation", real_claim)
    watcher.rescan()
    assert watcher.run_once() == 1  # room again: taken at the next rescan


def test_a_file_given_back_as_still_being_written_is_not_taken_again_at_once(settings):
    from pipeline import ingest
    from pipeline.records import JobOutcome

    taken = []

    def give_back(dictation):
        taken.append(dictation.job_id)
        ingest.return_to_inbox(dictation, inbox=settings.inbox)
        return JobOutcome(job_id=dictation.job_id, status="still_writing")

    watcher = InboxWatcher(settings.model_copy(update={"write_wait_s": 60}), give_back)
    (settings.inbox / "arriving.wav").write_bytes(b"half a recording")
    watcher.rescan()
    assert watcher.run_once() == 1
    watcher.rescan()
    assert watcher.run_once() == 0 and len(taken) == 1  # waits: no claim every few seconds
    watcher.written(settings.inbox / "arriving.wav")  # the writer goes on: worth a new look
    watcher.closed(settings.inbox / "arriving.wav")
    assert watcher.run_once() == 1 and len(taken) == 2
