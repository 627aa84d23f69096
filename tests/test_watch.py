"""The watcher processes each stable file once and leaves growing or partial files alone."""

from __future__ import annotations

import os
import time

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
