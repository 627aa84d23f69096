"""Claiming inbox files: once each, by content, by atomic rename, resumable."""

from __future__ import annotations

from contextlib import contextmanager

from pipeline import ingest
from pipeline.files import file_sha256


def test_claim_moves_the_file_under_its_content_id_with_no_name_left(settings):
    source = settings.inbox / "Dupont Jean 12-03.wav"
    source.write_bytes(b"RIFF-audio-bytes")
    dictation = ingest.claim_dictation(source, work_dir=settings.work_dir, outbox=settings.outbox)
    assert not source.exists()
    assert dictation.path == settings.work_dir / f"{dictation.job_id}.wav"
    assert "Dupont" not in str(dictation.path)
    assert dictation.original_name == "Dupont Jean 12-03.wav"
    assert dictation.job_id == file_sha256(dictation.path)[:16]


def test_the_same_audio_dropped_again_after_drafting_is_not_processed_twice(settings):
    first = settings.inbox / "a.wav"
    first.write_bytes(b"same audio")
    dictation = ingest.claim_dictation(first, work_dir=settings.work_dir, outbox=settings.outbox)
    (settings.outbox / dictation.job_id).mkdir(parents=True)
    (settings.outbox / dictation.job_id / "result.json").write_text("{}")
    again = settings.inbox / "copy of a.wav"
    again.write_bytes(b"same audio")
    assert ingest.claim_dictation(again, work_dir=settings.work_dir, outbox=settings.outbox) is None
    assert not again.exists()


def test_a_redrop_while_the_first_is_in_progress_is_absorbed(settings):
    for name in ("a.wav", "b.wav"):
        (settings.inbox / name).write_bytes(b"same audio")
    claims = [ingest.claim_dictation(settings.inbox / n, work_dir=settings.work_dir, outbox=settings.outbox) for n in ("a.wav", "b.wav")]
    assert claims[0] is not None and claims[1] is None
    assert list(settings.inbox.iterdir()) == []


def test_files_still_being_written_are_not_stable(tmp_path):
    path = tmp_path / "growing.wav"
    path.write_bytes(b"x")
    written_at = path.stat().st_mtime
    assert not ingest.is_stable(path, window_s=2, now=written_at + 1)
    assert ingest.is_stable(path, window_s=2, now=written_at + 3)


def test_hidden_and_partial_files_are_not_candidates(settings):
    for name in (".~lock.wav", "upload.wav.part", "dictee.wav", "x.tmp"):
        (settings.inbox / name).write_bytes(b"x")
    assert [p.name for p in ingest.list_candidates(settings.inbox)] == ["dictee.wav"]


def test_unfinished_claims_are_found_again_after_a_crash(settings):
    source = settings.inbox / "a.ogg"
    source.write_bytes(b"audio")
    dictation = ingest.claim_dictation(source, work_dir=settings.work_dir, outbox=settings.outbox)
    [resumed] = ingest.unfinished_claims(settings.work_dir)
    assert (resumed.job_id, resumed.path, resumed.original_name) == (dictation.job_id, dictation.path, "a.ogg")


def test_hostile_names_yield_a_plain_suffix_only():
    assert ingest.safe_suffix("../../etc/passwd") == ""
    assert ingest.safe_suffix("a\x00.wav") == ".wav"
    assert ingest.safe_suffix("CON.WAV") == ".wav"
    assert ingest.safe_suffix("x.w/av") == ""


def test_urgent_dictations_are_taken_first(settings):
    import os
    import time

    old = time.time() - 600
    for name in ("a-routine.wav", "b-routine.wav"):
        (settings.inbox / name).write_bytes(name.encode())
        os.utime(settings.inbox / name, (old, old))
    (settings.inbox / "urgent").mkdir()
    (settings.inbox / "urgent" / "c.wav").write_bytes(b"c")
    (settings.inbox / "d URGENT.wav").write_bytes(b"d")
    names = [p.name for p in ingest.list_candidates(settings.inbox)]
    assert set(names[:2]) == {"c.wav", "d URGENT.wav"} and names[2:] == ["a-routine.wav", "b-routine.wav"]
    dictations = ingest.claim_backlog(settings).dictations
    assert [d.urgent for d in dictations] == [True, True, False, False]


def test_two_claimers_racing_on_one_inbox_claim_each_file_exactly_once(settings):
    import threading

    for index in range(40):
        (settings.inbox / f"d{index}.wav").write_bytes(f"audio {index}".encode())
    results: list[list] = [[], []]

    def claimer(slot):
        for path in ingest.list_candidates(settings.inbox):
            claimed = ingest.claim_dictation(path, work_dir=settings.work_dir, outbox=settings.outbox)
            if claimed is not None:
                results[slot].append(claimed)

    threads = [threading.Thread(target=claimer, args=(slot,)) for slot in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    claimed = [d.job_id for d in results[0] + results[1]]
    assert len(claimed) == len(set(claimed)) == 40
    assert list(settings.inbox.iterdir()) == []
    assert not list(settings.work_dir.glob("*.partial"))


def test_a_second_run_on_the_same_outbox_is_refused_while_the_first_holds_it(settings):
    import pytest

    with ingest.exclusive_run(settings.work_dir):
        with pytest.raises(ingest.AlreadyRunning):
            with ingest.exclusive_run(settings.work_dir):
                pass
    with ingest.exclusive_run(settings.work_dir):  # released with the first run
        pass


@contextmanager
def still_being_written(path, *, for_s: float | None = None):
    """A copy under way: the file grows by 64 bytes every 50 ms until the block ends (or for
    `for_s` seconds). Yields a one-item list counting the writes."""
    import threading
    import time

    stop, written = threading.Event(), [0]

    def write():
        while not stop.is_set():
            with path.open("ab") as handle:
                handle.write(b"x" * 64)
            written[0] += 1
            time.sleep(0.05)

    writer = threading.Thread(target=write)
    writer.start()
    if for_s is not None:
        threading.Timer(for_s, stop.set).start()
    try:
        yield written
    finally:
        stop.set()
        writer.join()


def test_a_backlog_waits_for_a_file_still_being_written_then_claims_it(settings):
    import time

    settings = settings.model_copy(update={"stable_seconds": 0.5, "write_wait_s": 30})
    path = settings.inbox / "copied just now.wav"
    path.write_bytes(b"first bytes")
    started = time.monotonic()
    with still_being_written(path, for_s=0.6) as written:  # the copy ends shortly after the run starts
        backlog = ingest.claim_backlog(settings)
    assert [d.original_name for d in backlog.dictations] == ["copied just now.wav"]
    assert backlog.still_writing == ()
    assert time.monotonic() - started >= 0.5  # it waited for the writes to end
    claimed = backlog.dictations[0].path
    assert claimed.stat().st_size == len(b"first bytes") + 64 * written[0]  # every byte, not a truncated copy


def test_a_file_that_keeps_changing_past_the_bound_is_left_and_named_by_position(settings):
    import os
    import time

    settings = settings.model_copy(update={"stable_seconds": 0.5, "write_wait_s": 0.8})
    old = time.time() - 600
    (settings.inbox / "a-ready.wav").write_bytes(b"ready")
    os.utime(settings.inbox / "a-ready.wav", (old, old))
    growing = settings.inbox / "b-growing.wav"
    growing.write_bytes(b"start")
    with still_being_written(growing):
        backlog = ingest.claim_backlog(settings)
    assert [d.original_name for d in backlog.dictations] == ["a-ready.wav"]
    assert backlog.still_writing == (2,)
    assert growing.exists()  # left where it was, for the next run
