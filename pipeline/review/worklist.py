"""The worklist: which drafts there are, in which state, in what order, and how long the
backlog will take — read from the outbox's state files into the review database, which indexes
them (the files stay the source of truth). The edits to a draft are in jobs.py."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from pipeline import audio, ingest, store
from pipeline.review.db import Job, utcnow
from pipeline.review.jobs import ReviewError, job_files, load_result
from pipeline.settings import Settings
from pipeline.store import Outbox, parse_instant


@dataclass(frozen=True, slots=True)
class WorkItem:
    job: Job
    author: str
    document_type: str | None
    patient: str
    duration_s: float
    flags: int
    waiting: dt.timedelta
    birth_date: str | None = None  # JJ/MM/AAAA
    recipient: str = ""
    sent_back: bool = False  # sent back once already (to its author, or for correction)


def _parse_time(value: str | None) -> dt.datetime | None:
    """Naive UTC, as the review database keeps times."""
    return parse_instant(value).astimezone(dt.timezone.utc).replace(tzinfo=None) if value else None


def sync_jobs(session: Session, outbox: Outbox) -> int:
    """Register drafts the pipeline wrote since the last look. Returns how many are new."""
    known = set(session.scalars(select(Job.job_id)))
    added = 0
    for files in outbox.jobs():
        job_id = files.job_id
        if job_id in known:
            continue
        state, result = files.state(), files.result_data()
        session.add(Job(
            job_id=job_id, state=state.state,
            received_at=_parse_time(result["source"].get("received_at")),
            drafted_at=_parse_time(state.drafted_at),
            priority=1 if result.get("priority") == "urgent" else 0,
            folder=result.get("author_folder") or "",
        ))
        added += 1
    for job in session.scalars(select(Job).where(Job.folder.is_(None))):  # rows from before folders were kept
        folder_of(job, outbox)
    _follow_states(session, outbox)
    session.commit()
    return added


def _follow_states(session: Session, outbox: Outbox) -> None:
    """The database is an index of the jobs' state.json: an open job whose file moved on (a desk
    that stopped between the two writes, another desk on the same outbox) takes the file's state."""
    for job in session.scalars(select(Job).where(Job.state.in_((store.STATE_PENDING, store.TO_SIGN)))):
        files = outbox.job(job.job_id)
        if not (files.folder / store.STATE).is_file():
            continue
        state = files.state()
        if state.state != job.state:
            job.state, last = state.state, state.history[-1]
            if job.state in (store.FILED, store.REJECTED):
                job.decided_at, job.decided_by = _parse_time(last.at), last.by


def folder_of(job: Job, outbox: Outbox) -> str:
    """The practitioner's inbox folder a job came from ("" the main one), read once from its result."""
    if job.folder is None:
        try:
            job.folder = load_result(job_files(outbox, job.job_id)).get("author_folder") or ""
        except ReviewError:
            job.folder = ""
    return job.folder


def patient_display(result: dict) -> str:
    patient = result["patient"]
    name = " ".join(p for p in (patient.get("first_name"), (patient.get("last_name") or "").upper()) if p)
    return name or "—"


def matches(result: dict, job_id: str, query: str) -> bool:
    """The worklist's search: a patient's name, birth date (JJ/MM/AAAA or ISO), IPP, or a job id."""
    wanted = query.strip().casefold()
    if not wanted:
        return True
    patient = result["patient"]
    birth = patient.get("birth_date") or ""
    said = [patient.get("last_name"), patient.get("first_name"), patient.get("birth_name"), patient.get("ipp"), job_id,
            birth, f"{birth[8:10]}/{birth[5:7]}/{birth[:4]}" if birth else None]
    haystack = " ".join(value for value in said if value).casefold()
    return all(word in haystack for word in wanted.split())


def worklist(session: Session, outbox: Outbox, *, state: str = "pending_review",
             document_type: str | None = None, author: str | None = None,
             first_folder: str | None = None, folders: frozenset[str] | None = None, search: str = "") -> list[WorkItem]:
    """Urgent first, then oldest first; with `first_folder`, that practitioner's letters before
    the others (a practitioner sees their own pending signatures first); `search` as `matches`."""
    items, own = [], []
    now = utcnow()
    query = select(Job).where(Job.state == state).order_by(Job.priority.desc(), Job.received_at)
    for job in session.scalars(query):
        if folders is not None and job.folder not in folders:
            continue  # another practitioner's, whom this account does not serve
        result = load_result(job_files(outbox, job.job_id))
        if (document_type and result["document_type"] != document_type) or (author and result.get("author") != author):
            continue
        if not matches(result, job.job_id, search):
            continue
        birth = result["patient"].get("birth_date")
        recipient = result.get("recipient") or {}
        item = WorkItem(
            job=job, author=result.get("author") or "—", document_type=result["document_type"],
            patient=patient_display(result),
            duration_s=result["source"]["duration_s"], flags=len(result["flags"]),
            waiting=now - (job.received_at or job.drafted_at or now),
            birth_date=f"{birth[8:10]}/{birth[5:7]}/{birth[:4]}" if birth else None,
            recipient=" ".join(part for part in (recipient.get("title"), recipient.get("last_name")) if part),
            sent_back=job.comment is not None,
        )
        (own if first_folder is not None and (result.get("author_folder") or "") == first_folder else items).append(item)
    return own + items


def turnaround(session: Session) -> dict[str, float | None]:
    """Median hours received → drafted and drafted → decided, over decided jobs."""
    jobs = list(session.scalars(select(Job).where(Job.decided_at.is_not(None))))

    def median_hours(pairs):
        values = sorted((b - a).total_seconds() / 3600 for a, b in pairs if a and b)
        return round(values[len(values) // 2], 2) if values else None

    return {
        "received_to_drafted_h": median_hours((j.received_at, j.drafted_at) for j in jobs),
        "drafted_to_decided_h": median_hours((j.drafted_at, j.decided_at) for j in jobs),
        "decided": len(jobs),
    }


# Processing seconds per audio second when no result has been timed yet (base model, 2 cores).
DEFAULT_PROCESSING_RATE = 0.25
RATE_SAMPLE = 20


@dataclass(frozen=True, slots=True)
class Backlog:
    dictations: int
    audio_s: float
    eta_s: float


def waiting_in_inbox(settings: Settings) -> list[tuple[Path, str]]:
    """The recordings in the inbox, each with the practitioner's folder it waits in ("" the
    main one): listed once for the worklist's backlog and its practitioners' lines."""
    return [(path, ingest.author_of(path, settings.inbox, settings.practitioners)[1] or "")
            for path in ingest.list_candidates(settings.inbox, settings.practitioners)]


@dataclass(frozen=True, slots=True)
class PractitionerLoad:
    """One practitioner's line on the desk: what waits for the secretary, for signature, in
    the inbox, and how long a letter takes from dictation to filing."""

    folder: str
    name: str
    to_review: int
    to_sign: int
    waiting: int
    turnaround_h: float | None


def practitioner_loads(session: Session, settings: Settings, folders: frozenset[str] | None,
                       inbox: list[tuple[Path, str]]) -> list[PractitionerLoad]:
    everyone = {"": settings.practitioner(None).name} | {f: p.name for f, p in settings.practitioners.items()}
    shown = [folder for folder in everyone if folders is None or folder in folders]
    waiting = Counter(folder for _, folder in inbox)
    loads = []
    for folder in shown:
        rows = list(session.scalars(select(Job).where(Job.folder == folder)))
        loads.append(PractitionerLoad(folder, everyone[folder], *load_of_jobs(rows), waiting[folder],
                                      filed_turnaround_h(rows)))
    return loads


def load_of_jobs(jobs: list[Job]) -> tuple[int, int]:
    """Drafts to review, drafts to sign."""
    return sum(j.state == store.STATE_PENDING for j in jobs), sum(j.state == store.TO_SIGN for j in jobs)


def filed_turnaround_h(jobs: list[Job]) -> float | None:
    """Median hours from dictation to filing of the filed ones."""
    hours = sorted((j.decided_at - j.received_at).total_seconds() / 3600 for j in jobs
                   if j.decided_at and j.received_at and j.state == store.FILED)
    return round(hours[len(hours) // 2], 1) if hours else None


def processing_rate(outbox: Outbox) -> float:
    """Wall seconds of processing per second of audio, over the most recent drafts. Drafts
    transcribed side by side each took longer, but together: their time is shared."""
    recent = sorted(outbox.jobs(), key=lambda files: files.modified())[-RATE_SAMPLE:]
    audio_s = work_s = 0.0
    for files in recent:
        result = files.result_data()
        audio_s += result["source"]["duration_s"]
        work_s += sum(result["timings"].values()) / result.get("decodings_at_once", 1)
    return work_s / audio_s if audio_s else DEFAULT_PROCESSING_RATE


def backlog(settings: Settings, outbox: Outbox, inbox: list[tuple[Path, str]],
            folders: frozenset[str] | None = None) -> Backlog:
    """Dictations not yet drafted (`inbox`, from `waiting_in_inbox`, and the work area) and when
    they should be done; with `folders`, those of these practitioners only."""
    waiting = [path for path, folder in inbox if folders is None or folder in folders]
    waiting += [d.path for d in ingest.unfinished_claims(settings.work_dir)
                if folders is None or (d.author or "") in folders]
    audio_s = sum(audio.probe_duration(path) for path in waiting)
    return Backlog(len(waiting), audio_s, audio_s * processing_rate(outbox))
