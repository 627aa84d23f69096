"""The watcher tells a person when it needs one: a dictation failed twice, an inbox waiting too long."""

from __future__ import annotations

import json
import os
import sys
import time

from pipeline.notify import Notifier, oldest_wait_s


def recording_command(tmp_path) -> tuple[str, callable]:
    """A notify_command that appends the event it was given to a file; returns it and a reader."""
    script = tmp_path / "alert.py"
    told = tmp_path / "told.jsonl"
    script.write_text(
        "import json, os\n"
        f"with open({str(told)!r}, 'a') as f:\n"
        "    f.write(json.dumps({k: v for k, v in os.environ.items() if k.startswith('DICTEE_')}) + '\\n')\n"
    )

    def events() -> list[dict]:
        return [json.loads(line) for line in told.read_text().splitlines()] if told.exists() else []

    return f"{sys.executable} {script}", events


def test_a_dictation_that_fails_twice_is_told_once_with_its_job_id_only(settings, tmp_path):
    command, events = recording_command(tmp_path)
    notifier = Notifier(settings.model_copy(update={"notify_command": command}))
    notifier.job_finished("abc123", "failed")
    assert events() == []
    notifier.job_finished("abc123", "failed")
    notifier.job_finished("abc123", "failed")  # not again
    [event] = events()
    assert event["DICTEE_EVENT"] == "failed_twice" and event["DICTEE_JOB_ID"] == "abc123"
    assert "deux fois" in event["DICTEE_MESSAGE"] and "failed twice" in event["DICTEE_MESSAGE"]


def test_a_success_between_two_failures_starts_the_count_again(settings, tmp_path):
    command, events = recording_command(tmp_path)
    notifier = Notifier(settings.model_copy(update={"notify_command": command}))
    for status in ("failed", "drafted", "failed"):
        notifier.job_finished("abc123", status)
    assert events() == []


def test_a_backlog_waiting_too_long_is_told_once_until_it_clears(settings, tmp_path):
    command, events = recording_command(tmp_path)
    notifier = Notifier(settings.model_copy(update={"notify_command": command, "notify_backlog_minutes": 10}))
    waiting = settings.inbox / "Dupont.wav"
    waiting.write_bytes(b"audio")
    os.utime(waiting, (time.time() - 5 * 60, time.time() - 5 * 60))
    notifier.check_backlog()
    assert events() == []
    os.utime(waiting, (time.time() - 12 * 60, time.time() - 12 * 60))
    notifier.check_backlog()
    notifier.check_backlog()
    [event] = events()
    assert event["DICTEE_EVENT"] == "backlog_waiting" and event["DICTEE_WAITING_MINUTES"] == "12"
    assert "Dupont" not in json.dumps(event)
    waiting.unlink()
    notifier.check_backlog()  # cleared: the next long wait is told again
    waiting.write_bytes(b"audio")
    os.utime(waiting, (time.time() - 11 * 60, time.time() - 11 * 60))
    notifier.check_backlog()
    assert [e["DICTEE_EVENT"] for e in events()] == ["backlog_waiting", "backlog_waiting"]


def test_nothing_waiting_is_no_wait_and_a_broken_command_does_not_stop_the_watcher(settings):
    assert oldest_wait_s(settings) == 0.0
    notifier = Notifier(settings.model_copy(update={"notify_command": "/nonexistent/alert"}))
    notifier.job_finished("abc123", "failed")
    notifier.job_finished("abc123", "failed")  # logged, not raised
