"""In-process progress events, so the CLI can draw a bar while a flow runs (ids only, no patient data)."""

from __future__ import annotations

import threading
from contextlib import contextmanager
from typing import Callable, Iterator, Protocol

from pipeline.records import JobOutcome


class ProgressListener(Protocol):
    def started(self, *, jobs: int, audio_s: float) -> None: ...

    def finished(self, outcome: JobOutcome) -> None: ...

    def waiting(self, *, files: int) -> None: ...


_listeners: list[ProgressListener] = []
_lock = threading.Lock()


@contextmanager
def listening(listener: ProgressListener) -> Iterator[None]:
    with _lock:
        _listeners.append(listener)
    try:
        yield
    finally:
        with _lock:
            _listeners.remove(listener)


def _emit(call: Callable[[ProgressListener], None]) -> None:
    with _lock:
        listeners = list(_listeners)
    for listener in listeners:
        call(listener)


def backlog_started(*, jobs: int, audio_s: float) -> None:
    _emit(lambda listener: listener.started(jobs=jobs, audio_s=audio_s))


def job_finished(outcome: JobOutcome) -> None:
    _emit(lambda listener: listener.finished(outcome))


def waiting_for_writes(*, files: int) -> None:
    """Some inbox files are still being written: the run waits for them before claiming."""
    _emit(lambda listener: listener.waiting(files=files))
