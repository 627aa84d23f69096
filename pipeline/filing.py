"""Filing a letter: its final files copied into `outbox/filed/<job_id>/`, read-only, whole.

The copy is assembled in a staging folder and renamed into place; only the filed copy's
state says « filed » before the rename, so a crash leaves either a job still open or a
letter filed, never a job that says filed with no letter where it should be.
"""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path

from pipeline.store import DRAFT, FILED, RESULT, STATE, Outbox

FILED_FILES = (DRAFT, RESULT, STATE)
READ_ONLY_FILE = stat.S_IRUSR  # the owner's alone, as everything in the outbox
READ_ONLY_FOLDER = stat.S_IRUSR | stat.S_IXUSR


def file_job(outbox: Outbox, job_id: str, *, username: str, **step) -> Path:
    """File the job as it stands (files sealed as they are); `step`: what its history's last
    step records (who signed, the signature line). Call inside `Outbox.transition`."""
    folder, filed = outbox.job_folder(job_id), outbox.filed_folder(job_id)
    staging = outbox.staging_dir(job_id, "filing")
    for name in FILED_FILES:
        shutil.copyfile(folder / name, staging / name)
    outbox.set_state(staging, FILED, username, **step)  # the state says filed only where the letter is filed
    for name in FILED_FILES:
        os.chmod(staging / name, READ_ONLY_FILE)
    filed.parent.mkdir(parents=True, exist_ok=True)
    os.replace(staging, filed)
    os.chmod(filed, READ_ONLY_FOLDER)
    outbox.set_state(folder, FILED, username, **step)
    return filed
