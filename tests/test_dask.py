"""The backlog fanned out on a real local Dask cluster (2 worker processes), real model, real Prefect."""

from __future__ import annotations

import os
import shutil
import time

import pytest

from tests.conftest import FLEURS, REPO, require

pytestmark = pytest.mark.slow


def test_a_backlog_is_drafted_by_dask_workers_each_dictation_once(tmp_path, monkeypatch):
    from distributed import LocalCluster
    from prefect.settings import PREFECT_API_URL
    from prefect.testing.utilities import prefect_test_harness

    clips = sorted(require(FLEURS).glob("*.ogg"))[:4]
    inbox, outbox = tmp_path / "inbox", tmp_path / "outbox"
    inbox.mkdir()
    for clip in clips:
        shutil.copyfile(clip, inbox / clip.name)
        os.utime(inbox / clip.name, (time.time() - 60, time.time() - 60))
    shutil.copyfile(clips[0], inbox / "same audio again.ogg")
    os.utime(inbox / "same audio again.ogg", (time.time() - 60, time.time() - 60))
    for name, value in {"DICTEE_MODELS_DIR": REPO / "models", "DICTEE_LETTER_TEMPLATES": REPO / "letter_templates",
                        "PREFECT_HOME": tmp_path / "prefect", "TQDM_DISABLE": "1"}.items():
        monkeypatch.setenv(name, str(value))

    with prefect_test_harness(server_startup_timeout=120):
        # Workers are separate processes: they reach the same Prefect API through the environment.
        monkeypatch.setenv("PREFECT_API_URL", PREFECT_API_URL.value())
        with LocalCluster(n_workers=2, threads_per_worker=2, processes=True, dashboard_address=None) as cluster:
            monkeypatch.setenv("DICTEE_DASK_ADDRESS", cluster.scheduler_address)
            from pipeline.flows import backlog_flow
            from pipeline.settings import load_settings

            outcomes = backlog_flow(load_settings())(inbox=str(inbox), outbox=str(outbox))

    drafted = [o for o in outcomes if o.status == "drafted"]
    assert sorted(o.status for o in outcomes) == ["drafted"] * 4 + ["duplicate"]
    assert len({o.job_id for o in drafted}) == 4
    assert all(o.worker and not o.worker.endswith(f":{os.getpid()}") for o in drafted)  # not this process
    assert len(list(outbox.glob("*/draft.docx"))) == 4
