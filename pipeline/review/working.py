"""Nothing typed on the desk is lost: a working copy per account and draft, autosaved while she
types, and who has a draft open.

The working copy is kept beside the draft, never in it (`outbox/.work/working/<job_id>/<account>.json`,
sealed like the drafts): it is not the saved version, and a save replaces it. After a session
expiry, a restart, a lost connection or a closed tab, the draft opens on her working copy, said
as such, and she keeps it (saves) or drops it. Autosaving is activity: it keeps the session
alive while she types.

Presence is the desk's memory of who has a draft open (heartbeats from the page): another
reviewer opening it is told « en cours par … depuis … » before editing.
"""

from __future__ import annotations

import datetime as dt
import shutil
import threading
from dataclasses import dataclass

from pipeline.plain import desk_value
from pipeline.store import Outbox

MAX_FIELDS, MAX_FIELD_CHARS = 64, 200_000  # a letter's fields, not a dump
PRESENCE_S = 90  # a page that stopped beating this long ago has been closed


def working_file(outbox: Outbox, job_id: str, username: str):
    return outbox.work_folder() / "working" / job_id / f"{username}.json"


def save_working_copy(outbox: Outbox, job_id: str, username: str, fields: dict[str, str], *, version: int) -> str:
    at = dt.datetime.now().astimezone().isoformat(timespec="seconds")
    path = working_file(outbox, job_id, username)
    path.parent.mkdir(parents=True, exist_ok=True)
    outbox.write_json(path, {"fields": fields, "version": version, "at": at})
    return at


def load_working_copy(outbox: Outbox, job_id: str, username: str) -> dict | None:
    path = working_file(outbox, job_id, username)
    return outbox.read_json(path) if path.is_file() else None


def drop_working_copy(outbox: Outbox, job_id: str, username: str | None = None) -> None:
    """One account's copy (it saved), or every copy of the draft (it left the desk: filed)."""
    if username is None:
        shutil.rmtree(outbox.work_folder() / "working" / job_id, ignore_errors=True)
    else:
        working_file(outbox, job_id, username).unlink(missing_ok=True)


def cleaned(fields: dict) -> dict[str, str]:
    """What the page sends, bounded and without control characters (as a save would clean it)."""
    kept = {}
    for key, value in list(fields.items())[:MAX_FIELDS]:
        if isinstance(key, str) and isinstance(value, str) and len(key) <= 64:
            value = value[:MAX_FIELD_CHARS]
            kept[key] = desk_value(key, value)
    return kept


@dataclass(frozen=True, slots=True)
class Present:
    username: str
    since: dt.datetime
    seen: dt.datetime


class Presence:
    """Who has which draft open, from the pages' heartbeats (one desk process)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._open: dict[str, dict[str, Present]] = {}

    def beat(self, job_id: str, username: str) -> None:
        now = dt.datetime.now().astimezone()
        with self._lock:
            if len(self._open) > 1000:  # a desk open for months: forget drafts nobody has open
                cutoff = now - dt.timedelta(seconds=PRESENCE_S)
                self._open = {job: here for job, here in self._open.items()
                              if any(p.seen > cutoff for p in here.values())}
            here = self._open.setdefault(job_id, {})
            before = here.get(username)
            here[username] = Present(username, before.since if before else now, now)

    def others(self, job_id: str, username: str) -> list[Present]:
        cutoff = dt.datetime.now().astimezone() - dt.timedelta(seconds=PRESENCE_S)
        with self._lock:
            return sorted((p for p in self._open.get(job_id, {}).values() if p.username != username and p.seen > cutoff),
                          key=lambda p: p.since)

    def by_job(self) -> dict[str, list[Present]]:
        cutoff = dt.datetime.now().astimezone() - dt.timedelta(seconds=PRESENCE_S)
        with self._lock:
            return {job_id: [p for p in here.values() if p.seen > cutoff] for job_id, here in self._open.items()}
