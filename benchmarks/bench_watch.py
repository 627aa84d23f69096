"""What Prefect costs `dictee watch`, per dictation: the same claimed recordings through the
stages directly (`job.run_job`) and as a `process-dictation` flow run inside a `watch-inbox`
run (what the watcher does), alternating, in one process with the models loaded once.

    python benchmarks/bench_watch.py [--repeat N]

Uses Prefect's ephemeral server unless PREFECT_API_URL names one (`dictee server`). Prints the
median wall time per dictation of each mode and the overhead; minute-long recordings are made
from the FLEURS clips as in bench_pipeline.py.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
FLEURS = REPO.parent / "shared" / "eval" / "audio-fleurs-fr"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="dictee-bench-watch-"))
    os.environ.setdefault("PREFECT_HOME", str(work / "prefect"))
    from benchmarks.bench_pipeline import JOINED_SETS, audio_files, joined_set
    from pipeline import ingest
    from prefect import flow

    from pipeline.flows import watch_dictation
    from pipeline.job import load_models, run_job
    from pipeline.settings import Settings

    recordings = audio_files(joined_set(FLEURS, work / "joined", **JOINED_SETS["dictations"]))
    timings: dict[str, list[float]] = {"stages": [], "flow run": []}
    first_flow = None

    # As the watcher runs them: each dictation's flow run inside the day's long `watch-inbox` run.
    @flow(name="watch-inbox", flow_run_name="watch-inbox-benchmark", persist_result=False)
    def alternate() -> None:
        nonlocal first_flow
        for repeat in range(args.repeat):
            for index, recording in enumerate(recordings):
                for mode in (("stages", "flow run") if (index + repeat) % 2 == 0 else ("flow run", "stages")):
                    settings = Settings(inbox=work / "inbox", outbox=work / f"outbox-{mode.replace(' ', '-')}-{repeat}",
                                        models_dir=REPO / "models", letter_templates=REPO / "letter_templates",
                                        stable_seconds=0, workers=1)
                    settings.inbox.mkdir(exist_ok=True)
                    load_models(settings)
                    source = settings.inbox / recording.name
                    shutil.copyfile(recording, source)
                    dictation = ingest.claim_dictation(source, work_dir=settings.work_dir, outbox=settings.outbox)
                    began = time.perf_counter()
                    outcome = run_job(dictation, settings) if mode == "stages" else watch_dictation(dictation, settings)
                    elapsed = time.perf_counter() - began
                    assert outcome.status == "drafted", outcome
                    if mode == "flow run" and first_flow is None:
                        first_flow = elapsed  # the first run warms Prefect's client: reported apart
                        continue
                    timings[mode].append(elapsed)

    started = time.perf_counter()
    alternate()  # starting Prefect's ephemeral server included in the total only
    stages, flows = (statistics.median(timings[mode]) for mode in ("stages", "flow run"))
    print(f"recordings: {len(recordings)} of ~1 min, {args.repeat} passes, {time.perf_counter() - started:.0f} s in all")
    print(f"first dictation flow run (reported apart): {first_flow:.1f} s")
    print(f"median per dictation: stages {stages:.2f} s, flow run {flows:.2f} s, "
          f"Prefect overhead {100 * (flows / stages - 1):+.1f} % ({flows - stages:+.2f} s)")


if __name__ == "__main__":
    main()
