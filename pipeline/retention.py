"""Retention: the recordings go once their purpose is served; the letters and reasons stay.

The audio of a filed letter was kept for the review; the audio of a quarantined file, so
someone could see what arrived; a training example (audio and final text), to adapt the
recognizer. After `days`, all are deleted.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.adapt.examples import EXAMPLES_DIR
from pipeline.store import ERROR, Outbox


@dataclass(slots=True)
class PurgeReport:
    files: list[Path] = field(default_factory=list)
    bytes: int = 0


def _when(iso: str) -> dt.datetime:
    moment = dt.datetime.fromisoformat(iso)
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.timezone.utc)


def expired_audio(outbox: Outbox, *, days: int, now: dt.datetime | None = None) -> list[Path]:
    limit = (now or dt.datetime.now(dt.timezone.utc)) - dt.timedelta(days=days)
    expired: list[Path] = []
    for files in outbox.jobs():
        filed = files.state().filed
        if filed and _when(filed.at) < limit and files.audio:
            expired.append(files.audio)
    for error_file in outbox.quarantine_folder().glob(f"*/{ERROR}"):
        if not error_file.parent.name.isalnum():
            continue  # not a job's folder
        quarantined = outbox.quarantined_job(error_file.parent.name)
        if _when(outbox.read_json(error_file)["at"]) < limit and quarantined.audio:
            expired.append(quarantined.audio)
    # Training examples keep a letter's audio and text: they go with the same delay.
    for example_file in (outbox.adaptation_folder() / EXAMPLES_DIR).glob("*/example.json"):
        if _when(outbox.read_json(example_file)["created_at"]) < limit:
            expired += [example_file.parent / "audio.wav", example_file]
    return sorted(expired)


def purge_audio(outbox: Outbox, *, days: int, dry_run: bool = False,
                now: dt.datetime | None = None) -> PurgeReport:
    report = PurgeReport()
    for path in expired_audio(outbox, days=days, now=now):
        report.files.append(path)
        report.bytes += path.stat().st_size
        if not dry_run:
            path.unlink()
            if path.name == "example.json":
                path.parent.rmdir()  # its audio went just before it (sorted: audio.wav < example.json)
    return report
