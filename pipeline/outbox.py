"""Publish a job's files atomically into outbox/<job_id>/, or quarantine it with a reason.

A job folder appears complete or not at all: everything is written into a hidden staging
folder and renamed into place, so a crash never leaves half a draft for the secretary.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from pipeline.errors import BadInput
from pipeline.ingest import drop_superseded, outbox_error, release_claim
from pipeline.records import Dictation
from pipeline.typed import is_typed
from pipeline.vault import Vault

STATE_PENDING = "pending_review"
QUARANTINE_README = "raison.txt"


def now_iso() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def staging_dir(outbox: Path, job_id: str, purpose: str = "staging") -> Path:
    """Where a job's files are assembled before they appear in the outbox."""
    path = outbox / ".work" / f"{job_id}.{purpose}"
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


@contextmanager
def staged(outbox: Path, job_id: str, purpose: str = "staging") -> Iterator[Path]:
    """A staging folder; if the disk fills or turns read-only while it is written, it is removed
    (no orphan) and the error says so in French and English. The claim stays for the next run."""
    path = outbox / ".work" / f"{job_id}.{purpose}"
    try:
        yield staging_dir(outbox, job_id, purpose)
    except OSError as error:
        shutil.rmtree(path, ignore_errors=True)
        raise outbox_error(error, outbox, claimed=True) from None


def publish_job(dictation: Dictation, docx: bytes, result: dict, *, outbox: Path, vault: Vault) -> Path:
    """Stage draft, result, state and audio (sealed if `vault` has a key), then rename into place."""
    with staged(outbox, dictation.job_id) as staging:
        vault.write_bytes(staging / "draft.docx", docx)
        vault.write_json(staging / "result.json", result)
        vault.write_json(
            staging / "state.json",
            {"state": STATE_PENDING, "history": [{"state": STATE_PENDING, "at": now_iso(), "by": "pipeline"}]},
        )
        return _move_into_place(dictation, staging, outbox / dictation.job_id, vault, outbox=outbox)


def quarantine(dictation: Dictation, error: BadInput, *, outbox: Path, vault: Vault) -> Path:
    """Keep the audio with a plain French and English reason. It is not retried by itself:
    dropping the recording again, or `dictee retry JOB_ID`, processes it under the current settings."""
    with staged(outbox, dictation.job_id, "quarantine") as staging:
        # The reason stays readable; with encryption on, the file name (it may name the patient) does not.
        shown_name = "voir / see error.json (dictee decrypt)" if vault.enabled else dictation.original_name
        (staging / QUARANTINE_README).write_text(
            f"Fichier : {shown_name}\n"
            f"Refusé : {error.fr}\n\n"
            f"File: {shown_name}\n"
            f"Rejected: {error.en}\n",
            encoding="utf-8",
        )
        vault.write_json(
            staging / "error.json",
            {"job_id": dictation.job_id, "code": error.code, "fr": error.fr, "en": error.en,
             "original_name": dictation.original_name, "sha256": dictation.sha256, "at": now_iso()},
        )
        return _move_into_place(dictation, staging, outbox / "quarantine" / dictation.job_id, vault, outbox=outbox)


def _move_into_place(dictation: Dictation, staging: Path, target: Path, vault: Vault, *, outbox: Path) -> Path:
    """Add the audio, rename the staged folder into place, then let go of the claim. If an
    earlier run died between that rename and the cleanup, its finished folder is kept."""
    if dictation.path.exists():
        kind = "notes" if is_typed(dictation.path) else "audio"  # the player serves audio.* only
        vault.copy_in(dictation.path, staging / f"{kind}{dictation.path.suffix}")
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists():
        shutil.rmtree(staging)
    else:
        os.replace(staging, target)
    dictation.path.unlink(missing_ok=True)
    release_claim(dictation)
    drop_superseded(dictation.job_id, outbox=outbox)
    return target
