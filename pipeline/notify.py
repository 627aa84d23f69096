"""Telling the practice's administrator when the watcher needs a person: a dictation that failed
twice, or an inbox that has waited too long. The practice's own command is run (a mail, a chat
message, a desktop notification: the machine is offline, so no web service is assumed), with
the event in environment variables. Job ids and counts only: never a file name or patient data.

    notify_command = "/usr/local/bin/dictee-alert"   # in dictee.toml, or DICTEE_NOTIFY_COMMAND

The command gets DICTEE_EVENT (`failed_twice` or `backlog_waiting`), DICTEE_MESSAGE (French /
English), and DICTEE_JOB_ID or DICTEE_WAITING_MINUTES."""

from __future__ import annotations

import logging
import os
import shlex
import subprocess
import time
from pathlib import Path

from pipeline import ingest
from pipeline.settings import Settings

log = logging.getLogger("dictee.notify")
FAILURES_BEFORE_NOTICE = 2
COMMAND_TIMEOUT_S = 30


class Notifier:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._failures: dict[str, int] = {}
        self._backlog_told = False

    def job_finished(self, job_id: str, status: str) -> None:
        """Count a dictation's failures; the second one is told (once)."""
        if status != "failed":
            self._failures.pop(job_id, None)
            return
        self._failures[job_id] = self._failures.get(job_id, 0) + 1
        if self._failures[job_id] == FAILURES_BEFORE_NOTICE:
            self._send("failed_twice", DICTEE_JOB_ID=job_id, DICTEE_MESSAGE=(
                f"la dictée {job_id} a échoué deux fois ; elle reste en attente / "
                f"dictation {job_id} failed twice; it stays waiting"))

    def check_backlog(self, *, now: float | None = None) -> None:
        """Told once when the oldest waiting dictation has waited `notify_backlog_minutes`;
        told again only after the backlog has cleared."""
        waited_min = oldest_wait_s(self.settings, now=now) / 60
        if waited_min < self.settings.notify_backlog_minutes:
            self._backlog_told = False
            return
        if not self._backlog_told:
            self._backlog_told = True
            minutes = int(waited_min)
            self._send("backlog_waiting", DICTEE_WAITING_MINUTES=str(minutes), DICTEE_MESSAGE=(
                f"une dictée attend depuis {minutes} min / a dictation has waited {minutes} min"))

    def _send(self, event: str, **details: str) -> None:
        log.warning("%s", details["DICTEE_MESSAGE"])
        if not self.settings.notify_command:
            return
        env = {**os.environ, "DICTEE_EVENT": event, **details}
        try:
            done = subprocess.run(shlex.split(self.settings.notify_command), env=env, timeout=COMMAND_TIMEOUT_S,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        except (OSError, subprocess.TimeoutExpired) as error:
            log.error("notify_command could not run: %s", type(error).__name__)
            return
        if done.returncode != 0:
            log.error("notify_command exited with %s", done.returncode)


def oldest_wait_s(settings: Settings, *, now: float | None = None) -> float:
    """How long the oldest dictation still waiting (in the inbox, or claimed and unfinished)
    has waited, in seconds; 0 when none waits."""
    now = now or time.time()
    waiting: list[Path] = ingest.list_candidates(settings.inbox, settings.practitioners)
    waiting += [claim.path for claim in ingest.unfinished_claims(settings.work_dir)]
    ages = []
    for path in waiting:
        try:
            ages.append(now - path.stat().st_mtime)
        except FileNotFoundError:
            continue
    return max(ages, default=0.0)
