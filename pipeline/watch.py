"""Long-running inbox watcher: watchdog events plus a periodic rescan (events can be missed
on network shares), each stable file claimed once and handed to `process`.

Where the kernel says when a writer closes a file (inotify's close-after-write on Linux), a
file written to and not yet closed is never taken, however long the writer pauses: a dictaphone
dock or a copy from a slow share can stop for longer than any stability window. Elsewhere, and
for files written before the watcher started, the stability window alone decides."""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Callable

from pipeline import ingest, store
from pipeline.notify import Notifier
from pipeline.records import Dictation, JobOutcome
from pipeline.settings import Settings

log = logging.getLogger("dictee.watch")
POLL_SECONDS = 0.5
SYNC_NAME = ingest.WATCHER_SENTINEL  # hidden: never a dictation, never counted as one
SYNC_TIMEOUT_S = 5.0


def stop_on_signals(stop_event: threading.Event) -> None:
    """First SIGTERM/SIGINT: finish the dictation in hand, then stop. Second: stop now
    (the unfinished claim stays in the work area and is resumed at the next start)."""

    def handle(signum, frame) -> None:
        if stop_event.is_set():
            raise KeyboardInterrupt
        stop_event.set()

    signal.signal(signal.SIGTERM, handle)
    signal.signal(signal.SIGINT, handle)


class InboxWatcher:
    def __init__(self, settings: Settings, process: Callable[[Dictation], JobOutcome | None], *,
                 stop_event: threading.Event | None = None, label: str = "inbox") -> None:
        self.settings = settings
        self.label = label  # in the log: a practice's id, never its name
        self._process = process
        self.notifier = Notifier(settings)
        self.counts: Counter[str] = Counter()  # outcomes by status, for the day's summary
        self._seen: set[Path] = set()
        self._open_for_writing: dict[Path, float] = {}  # path -> monotonic time of its last write
        self._lock = threading.Lock()
        self.stop_event = stop_event or threading.Event()  # shared by the watchers of one process
        self.sees_closes = False  # set by `run` when the observer reports close-after-write
        self._deferred: dict[str, tuple[int, float]] = {}  # job id -> (attempts, next try, monotonic)
        self._held_back: dict[Path, float] = {}  # given back as still being written -> when (monotonic)
        self._outbox_trouble = False
        self.started = False  # run() began (inside Prefect's flow run or not)
        self._synced = threading.Event()  # the observer has read its queue up to the sentinel
        self._syncs, self._expected = 0, ""
        self.observing = threading.Event()  # the kernel watch is in place: writes from now on are seen
        self._observer = None
        self._last_scan = 0.0

    def process(self, dictation: Dictation) -> JobOutcome | None:
        outcome = self._process(dictation)
        if outcome is not None:
            self.counts[outcome.status] += 1
            self.notifier.job_finished(outcome.job_id, outcome.status)
        return outcome

    def notice(self, path: Path) -> None:
        with self._lock:
            self._seen.add(path)

    def written(self, path: Path) -> None:
        """A writer wrote to `path` and has not closed it yet (only told where close events exist)."""
        with self._lock:
            self._seen.add(path)
            self._open_for_writing[path] = time.monotonic()
            self._held_back.pop(path, None)  # it changed: worth a new look once it settles

    def closed(self, path: Path) -> None:
        """The writer closed `path` (or renamed a finished file into the inbox)."""
        with self._lock:
            self._seen.add(path)
            self._open_for_writing.pop(path, None)

    def _still_open(self, path: Path) -> bool:
        # Bounded by `write_wait_s`: a close event lost in an overflowing queue must not hold
        # the file for ever (the check after transcription still catches a late write).
        last_write = self._open_for_writing.get(path)
        return last_write is not None and time.monotonic() - last_write < self.settings.write_wait_s

    def _ready(self, path: Path) -> bool:
        # A file given back as « still being written » is not taken again every few seconds:
        # only once it changes, or after `write_wait_s` (then it is quarantined if still cut short).
        held_since = self._held_back.get(path)
        if held_since is not None and time.monotonic() - held_since < self.settings.write_wait_s:
            return False
        return ingest.is_stable(path, window_s=self.settings.stable_seconds) and not self._still_open(path)

    def _events_delivered(self) -> None:
        """Wait until the observer has handed over every event that happened before now: a
        sentinel is written into the inbox, and the kernel's queue is in order, so once its event
        arrives, a write that came before it (« this file is still being written ») has too. On a
        busy machine the events lag behind the files; a file is never taken on their delay."""
        self._syncs += 1
        sentinel = self.settings.inbox / f"{SYNC_NAME}-{self._syncs}"  # its own name: an earlier one's
        self._expected = sentinel.name                                  # late events never count
        self._synced.clear()
        try:
            sentinel.write_bytes(b"")
        except OSError:
            return
        self._synced.wait(timeout=SYNC_TIMEOUT_S)
        sentinel.unlink(missing_ok=True)

    def events_arrived_to(self, path: Path) -> bool:
        """The observer's handler: this sync's sentinel means the queue has been read up to it
        (any sentinel's event is the watcher's own, never a dictation)."""
        if not path.name.startswith(SYNC_NAME):
            return False
        if path.name == self._expected:
            self._synced.set()
        return True

    def _take_stable(self) -> list[Path]:
        if self.sees_closes:
            with self._lock:
                candidates = any(self._ready(p) for p in self._seen)
            if candidates:
                self._events_delivered()
        with self._lock:
            stable = sorted((p for p in self._seen if self._ready(p)), key=lambda p: not ingest.is_urgent(p))
            for path in stable:
                self._open_for_writing.pop(path, None)
            self._seen.difference_update(stable)
            self._seen = {p for p in self._seen if p.exists()}
            self._open_for_writing = {p: t for p, t in self._open_for_writing.items() if p in self._seen}
            self._held_back = {p: t for p, t in self._held_back.items() if p.exists()}
        return [p for p in stable if p.exists()]

    def rescan(self) -> None:
        for path in ingest.list_candidates(self.settings.inbox, self.settings.practitioners):
            self.notice(path)

    def resume_deferred(self) -> int:
        """Claims a failed run left (a full disk, an outage) are tried again, each after a
        doubling delay (a recurring bug must not spin). Dictations are processed one at a time,
        so a claim still here between two of them is one that failed."""
        resumed = 0
        now = time.monotonic()
        claims = ingest.unfinished_claims(self.settings.work_dir)
        waiting = {claim.job_id for claim in claims}  # those done since are forgotten
        self._deferred = {job_id: due for job_id, due in self._deferred.items() if job_id in waiting}
        for dictation in claims:
            attempts, due = self._deferred.get(dictation.job_id, (0, now))
            if now < due or self.stop_event.is_set():
                continue
            self._deferred[dictation.job_id] = (attempts + 1, now + self.settings.rescan_seconds * 2 ** min(attempts, 7))
            self.process(dictation)
            resumed += 1
        return resumed

    def _say_outbox_unavailable(self, error: Exception) -> None:
        if not self._outbox_trouble:  # once, not at every rescan
            log.warning("%s", error)
            self._outbox_trouble = True

    def run_once(self, *, limit: int | None = None) -> int:
        """Claim and process the stable files noticed so far (at most `limit`, the others given
        back for the next turn); returns how many were processed."""
        processed = 0
        stable = self._take_stable()
        for at, path in enumerate(stable):
            if self.stop_event.is_set() or (limit is not None and processed >= limit):
                self._give_back(stable[at:])
                break
            taken, author = ingest.author_of(path, self.settings.inbox, self.settings.practitioners)
            if not taken or not ingest.is_candidate(path):
                continue  # a subfolder no practitioner owns: left in place (`dictee batch` says so)
            try:
                dictation = ingest.claim_dictation(path, work_dir=self.settings.work_dir,
                                                   outbox=self.settings.outbox, author=author)
            except store.OutboxUnavailable as error:
                self._say_outbox_unavailable(error)
                break  # the file stays in the inbox; the next rescan offers it again
            self._outbox_trouble = False
            if dictation is not None:
                outcome = self.process(dictation)
                if outcome is not None and outcome.status == "still_writing":
                    self._held_back[path] = time.monotonic()
                processed += 1
        return processed

    def _give_back(self, paths: list[Path]) -> None:
        with self._lock:
            self._seen.update(paths)

    def start(self) -> None:
        """The kernel watch in place, what a previous run left resumed, the inbox read once."""
        from watchdog.events import FileSystemEventHandler
        from watchdog.observers import Observer

        watcher = self

        class Handler(FileSystemEventHandler):
            def on_any_event(self, event) -> None:
                if event.is_directory:
                    return
                path = Path(os.fsdecode(getattr(event, "dest_path", "") or event.src_path))
                if watcher.events_arrived_to(path):
                    return
                if not watcher.sees_closes:
                    watcher.notice(path)
                elif event.event_type == "modified":  # not "created": a file renamed in from elsewhere is one
                    watcher.written(path)
                elif event.event_type in ("closed", "moved"):
                    watcher.closed(path)
                else:
                    watcher.notice(path)

        self.started = True
        self.settings.inbox.mkdir(parents=True, exist_ok=True)
        self._remove_sentinels()  # a watcher killed while syncing left one
        self.resume_deferred()  # what a previous run left
        self._observer = observer = Observer()
        self.sees_closes = _reports_closes(observer)
        for folder in ingest.inbox_folders(self.settings.inbox, self.settings.practitioners):
            folder.mkdir(parents=True, exist_ok=True)
        observer.schedule(Handler(), str(self.settings.inbox), recursive=True)
        observer.start()
        self.observing.set()
        self._last_scan = time.monotonic()
        self.rescan()

    def step(self, *, limit: int | None = None) -> int:
        """One turn: the periodic rescan when due, then what is stable (at most `limit`)."""
        if time.monotonic() - self._last_scan >= self.settings.rescan_seconds:
            self.resume_deferred()
            self.rescan()
            self.notifier.check_backlog()
            self._last_scan = time.monotonic()
        return self.run_once(limit=limit)

    def stop(self) -> None:
        self._remove_sentinels()
        if self._observer is not None:
            self._observer.stop()
            self._observer.join()
            self._observer = None

    def _remove_sentinels(self) -> None:
        for left in self.settings.inbox.glob(f"{SYNC_NAME}-*"):
            left.unlink(missing_ok=True)

    def run(self, *, max_seconds: float | None = None) -> None:
        run_together([self], max_seconds=max_seconds)


def run_together(watchers: list[InboxWatcher], *, max_seconds: float | None = None) -> None:
    """Watch until stopped (the first watcher's stop event, shared by all). Several inboxes — a
    centre's practices — are watched by one process and drafted one dictation at a time: one
    from each practice in turn, so one practice's backlog never holds another's for more than a
    dictation. One watcher alone takes all it finds stable at each turn."""
    stop_event = watchers[0].stop_event
    limit = 1 if len(watchers) > 1 else None
    opened: list[InboxWatcher] = []
    resting: dict[int, float] = {}  # a practice whose turn failed -> when it is tried again (monotonic)
    started = time.monotonic()
    try:
        for watcher in watchers:
            watcher.start()
            opened.append(watcher)
        while not stop_event.is_set():
            if max_seconds is not None and time.monotonic() - started > max_seconds:
                break
            worked = 0
            for index, watcher in enumerate(watchers):
                if stop_event.is_set():
                    break
                if resting.get(index, 0.0) > time.monotonic():
                    continue
                try:
                    worked += watcher.step(limit=limit)
                    resting.pop(index, None)
                except Exception as error:  # noqa: BLE001 — one practice's trouble (its key gone) stops no other
                    if len(watchers) == 1:
                        raise
                    if index not in resting:
                        log.error("%s: %s, the other inboxes go on; tried again every %.0f s", watcher.label,
                                  type(error).__name__, watcher.settings.rescan_seconds)
                    resting[index] = time.monotonic() + watcher.settings.rescan_seconds
            if not worked:
                stop_event.wait(POLL_SECONDS)
    finally:
        for watcher in opened:
            watcher.stop()


def _reports_closes(observer) -> bool:
    try:
        from watchdog.observers.inotify import InotifyObserver
    except ImportError:  # not Linux: no close-after-write, the stability window decides
        return False
    return isinstance(observer, InotifyObserver)
