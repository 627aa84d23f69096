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

from pipeline.store import DRAFT, FILED, RESULT, STATE, filed_folder, job_folder, set_state, staging_dir
from pipeline.vault import Vault

FILED_FILES = (DRAFT, RESULT, STATE)
READ_ONLY_FILE = stat.S_IRUSR | stat.S_IRGRP
READ_ONLY_FOLDER = stat.S_IRUSR | stat.S_IXUSR | stat.S_IRGRP | stat.S_IXGRP


def file_job(outbox: Path, job_id: str, vault: Vault, *, username: str, **step) -> Path:
    """File the job as it stands (files sealed as they are); `step`: what its history's last
    step records (who signed, the signature line). Call inside `store.transition`."""
    folder, filed = job_folder(outbox, job_id), filed_folder(outbox, job_id)
    staging = staging_dir(outbox, job_id, "filing")
    for name in FILED_FILES:
        shutil.copyfile(folder / name, staging / name)
    set_state(staging, vault, FILED, username, **step)  # the state says filed only where the letter is filed
    for name in FILED_FILES:
        os.chmod(staging / name, READ_ONLY_FILE)
    filed.parent.mkdir(parents=True, exist_ok=True)
    os.replace(staging, filed)
    os.chmod(filed, READ_ONLY_FOLDER)
    set_state(folder, vault, FILED, username, **step)
    return filed
