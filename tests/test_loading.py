"""Models and lexicons load once per process, by one thread: a Dask worker runs two tasks at
once, and two threads building edsnlp's pipeline together failed a dictation (« Extension
'value' already exists on Span », seen on a fresh clone under load)."""

from __future__ import annotations

import threading
import time


def concurrency_of(function, counter: dict):
    def counted(*args, **kwargs):
        counter["inside"] += 1
        counter["most"] = max(counter["most"], counter["inside"])
        counter["calls"] += 1
        time.sleep(0.2)  # the window two threads met in
        counter["inside"] -= 1
        return function(*args, **kwargs)

    return counted


def run_together(target, count: int = 3) -> None:
    threads = [threading.Thread(target=target) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)


def test_the_qualifier_pipeline_is_built_by_one_thread_at_a_time(monkeypatch):
    from pipeline.extract import medical

    counter = {"inside": 0, "most": 0, "calls": 0}
    monkeypatch.setattr(medical, "_built_qualifier_pipeline", concurrency_of(lambda: object(), counter))
    run_together(medical.qualifier_pipeline)
    assert counter["calls"] == 3 and counter["most"] == 1


def test_models_load_once_when_tasks_start_together(settings, fake_transcriber, monkeypatch):
    from pipeline import job

    counter = {"inside": 0, "most": 0, "calls": 0}
    monkeypatch.setattr(job, "_loaded", set())
    monkeypatch.setattr(job, "warm_up", concurrency_of(lambda models_dir: None, counter))
    monkeypatch.setattr(job.gc, "freeze", lambda: None)  # the test process's heap stays the collector's
    run_together(lambda: job.load_models(settings))
    assert counter["calls"] == 1 and counter["most"] == 1  # the others waited, then found it loaded
