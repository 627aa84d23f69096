"""Dictée end to end vs bare faster-whisper, same audio, same model, same decoding options, one run.

    python benchmarks/bench_pipeline.py [AUDIO_DIR] [--repeat N] [--sets clips,dictations,long]

Modes: bare sequential faster-whisper (its sliding 30-s window, one file after another);
Dictée's stages one file after another (no Prefect); the Prefect backlog flow with one
decoding at a time (as `dictee watch` runs); and the backlog mode (`workers` decodings at
once, default 2). Each mode runs in its own process, so peak memory is per mode. One-time
costs (model load, NLP lexicons, Prefect's ephemeral server) are reported apart; ratios
compare the steady-state wall time of processing the files. Where a file has a reference
transcript beside it (`x.txt` for `x.ogg`), each mode's WER is printed too.

Sets: the clips as they are (FLEURS: 10 read sentences of ~11 s, like a certificate), and
recordings made from them by joining clips with 0.7-s pauses: "dictations" (10 of ~1 min, a
letter) and, on request, "long" (6 of ~3 min, a detailed report), since real dictations last
from a few seconds to a few minutes and the recogniser's costs depend on length.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from pipeline.audio import write_wav  # noqa: E402
from pipeline.evaluation import corpus_wer  # noqa: E402

DEFAULT_AUDIO = REPO.parent / "shared" / "eval" / "audio-fleurs-fr"
AUDIO_SUFFIXES = {".ogg", ".wav", ".mp3", ".m4a", ".flac", ".opus"}


PAUSE_S = 0.7
SAMPLE_RATE = 16_000
# Recordings made by joining clips (stride: how far apart in the clip list neighbours are).
JOINED_SETS = {
    "dictations": {"per_recording": 5, "recordings": 10, "stride": 3},  # ~1 min each: a consultation letter
    "long": {"per_recording": 15, "recordings": 6, "stride": 7},  # ~3 min each: a detailed report
}


def joined_set(clips: Path, out: Path, *, per_recording: int, recordings: int, stride: int) -> Path:
    """Join the clips into longer recordings, each with its joined reference text."""
    from faster_whisper.audio import decode_audio

    paths = audio_files(clips)
    decoded = {path: decode_audio(str(path), sampling_rate=SAMPLE_RATE) for path in paths}
    pause = np.zeros(int(PAUSE_S * SAMPLE_RATE), dtype=np.float32)
    out.mkdir(parents=True, exist_ok=True)
    for i in range(recordings):
        # Each clip comes back across the set, each time with other neighbours.
        group = [paths[(i + stride * k) % len(paths)] for k in range(per_recording)]
        audio = np.concatenate([part for path in group for part in (decoded[path], pause)])
        write_wav(out / f"dictation-{i:03d}.wav", audio)
        references = [path.with_suffix(".txt") for path in group]
        if all(reference.is_file() for reference in references):
            text = " ".join(reference.read_text(encoding="utf-8").strip() for reference in references)
            (out / f"dictation-{i:03d}.txt").write_text(text, encoding="utf-8")
    return out


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def audio_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in AUDIO_SUFFIXES)


def run_bare(folder: Path) -> dict:
    """Plain faster-whisper: decode + transcribe each file, nothing else."""
    from faster_whisper import WhisperModel
    from faster_whisper.audio import decode_audio

    from pipeline.settings import Settings
    from pipeline.transcribe import TranscriberConfig, TranscriptionOptions

    config = TranscriberConfig.from_settings(Settings(models_dir=REPO / "models"))
    started = time.perf_counter()
    model = WhisperModel(config.model_dir, device="cpu", compute_type=config.compute_type, cpu_threads=config.cpu_threads)
    load_s = time.perf_counter() - started
    audio_s = 0.0
    transcripts = {}
    started = time.perf_counter()
    for path in audio_files(folder):
        samples = decode_audio(str(path), sampling_rate=16_000)
        segments, info = model.transcribe(samples, **TranscriptionOptions.sequential(config).as_kwargs())
        transcripts[path.name] = "".join(segment.text for segment in segments)
        audio_s += info.duration
    return {"mode": "bare faster-whisper", "load_s": load_s, "wall_s": time.perf_counter() - started,
            "audio_s": audio_s, "peak_rss_mb": peak_rss_mb(), "transcripts": transcripts}


def heard(outbox: Path) -> dict[str, str]:
    """What the pipeline transcribed, by original file name."""
    results = (json.loads(path.read_text(encoding="utf-8")) for path in outbox.glob("*/result.json"))
    return {result["source"]["file"]: result["transcript"]["raw"] for result in results}


def run_pipeline_one_at_a_time(folder: Path) -> dict:
    return run_pipeline(folder, workers=1)


def run_pipeline(folder: Path, workers: int | None = None) -> dict:
    """Dictée's Prefect backlog flow on a copy of the files: claim → … → draft.docx + result.json."""
    work = Path(tempfile.mkdtemp(prefix="dictee-bench-"))
    os.environ.setdefault("PREFECT_HOME", str(work / "prefect"))
    os.environ["DICTEE_MODELS_DIR"] = str(REPO / "models")
    os.environ["DICTEE_LETTER_TEMPLATES"] = str(REPO / "letter_templates")
    os.environ["DICTEE_STABLE_SECONDS"] = "0"
    from pipeline.flows import process_backlog
    from pipeline.job import load_models
    from pipeline.settings import load_settings

    inbox, outbox = work / "inbox", work / "outbox"
    inbox.mkdir()
    one_time = {}
    started = time.perf_counter()
    load_models(load_settings(workers=workers))
    one_time["model_and_nlp_load_s"] = time.perf_counter() - started
    started = time.perf_counter()
    process_backlog(inbox=str(inbox), outbox=str(outbox), workers=workers)  # empty inbox: starts Prefect's server
    one_time["prefect_start_s"] = time.perf_counter() - started

    for path in audio_files(folder):
        shutil.copyfile(path, inbox / path.name)
    started = time.perf_counter()
    outcomes = process_backlog(inbox=str(inbox), outbox=str(outbox), workers=workers)
    wall_s = time.perf_counter() - started
    decodings = load_settings(workers=workers).workers
    stages: dict[str, float] = {}
    for outcome in outcomes:
        for stage, seconds in asdict(outcome.timings).items():
            stages[stage] = stages.get(stage, 0.0) + seconds
    drafted = sum(outcome.status == "drafted" for outcome in outcomes)
    transcripts = heard(outbox)
    shutil.rmtree(work, ignore_errors=True)
    return {"mode": f"Dictée backlog, {decodings} decoding(s)", "load_s": sum(one_time.values()), "one_time": one_time,
            "wall_s": wall_s, "audio_s": sum(o.duration_s for o in outcomes), "drafted": drafted,
            "files": len(outcomes), "stages": stages, "peak_rss_mb": peak_rss_mb(), "transcripts": transcripts}


def run_plain(folder: Path) -> dict:
    """The same stages called in sequence without Prefect: isolates orchestration overhead."""
    work = Path(tempfile.mkdtemp(prefix="dictee-bench-"))
    from pipeline import ingest
    from pipeline.job import load_models, run_job
    from pipeline.settings import Settings

    settings = Settings(inbox=work / "inbox", outbox=work / "outbox", models_dir=REPO / "models",
                        letter_templates=REPO / "letter_templates", stable_seconds=0, workers=1)
    settings.inbox.mkdir()
    started = time.perf_counter()
    load_models(settings)
    load_s = time.perf_counter() - started
    for path in audio_files(folder):
        shutil.copyfile(path, settings.inbox / path.name)
    started = time.perf_counter()
    outcomes = [
        run_job(ingest.claim_dictation(path, work_dir=settings.work_dir, outbox=settings.outbox), settings)
        for path in ingest.list_candidates(settings.inbox)
    ]
    wall_s = time.perf_counter() - started
    transcripts = heard(settings.outbox)
    shutil.rmtree(work, ignore_errors=True)
    return {"mode": "Dictée stages, no Prefect", "load_s": load_s, "wall_s": wall_s,
            "audio_s": sum(o.duration_s for o in outcomes), "peak_rss_mb": peak_rss_mb(), "transcripts": transcripts}


def in_subprocess(mode: str, folder: Path) -> dict:
    done = subprocess.run(
        [sys.executable, __file__, "--mode", mode, str(folder)],
        capture_output=True, text=True, cwd=REPO, timeout=3600,
    )
    if done.returncode != 0:
        raise SystemExit(f"{mode} run failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def wer(run: dict, folder: Path) -> str:
    pairs = [(reference.read_text(encoding="utf-8"), run["transcripts"].get(name, ""))
             for name in run["transcripts"] if (reference := (folder / name).with_suffix(".txt")).is_file()]
    return f"{corpus_wer(pairs):.3f}" if pairs else "—"


def report(name: str, runs: dict[str, list[dict]], folder: Path) -> None:
    def median(mode_runs: list[dict]) -> dict:
        return sorted(mode_runs, key=lambda run: run["wall_s"])[len(mode_runs) // 2]

    b, s, p1, p = (median(runs[mode]) for mode in ("bare", "plain", "pipeline1", "pipeline"))
    print(f"\n== {name}: {b['audio_s']:.1f} s of audio in {p['files']} files; "
          f"runs per mode: {len(runs['bare'])} (median kept)\n")
    print(f"{'mode':32} {'wall s':>8} {'RTF':>7} {'x realtime':>10} {'one-time s':>10} {'peak MB':>8} {'WER':>6}")
    for run in (b, s, p1, p):
        rtf = run["wall_s"] / run["audio_s"]
        print(f"{run['mode']:32} {run['wall_s']:8.2f} {rtf:7.3f} {1 / rtf:10.1f} {run['load_s']:10.2f} "
              f"{run['peak_rss_mb']:8.0f} {wer(run, folder):>6}")
    print(f"\nBacklog mode speed-up over bare sequential: {b['wall_s'] / p['wall_s']:.2f}×  (target ≥ 1.5×, WER within 1 point)")
    print(f"Ratio pipeline, one decoding at a time / bare: {p1['wall_s'] / b['wall_s']:.3f}  (overhead; target ≤ 1.10)")
    print(f"Ratio stages without Prefect / bare: {s['wall_s'] / b['wall_s']:.3f}")
    print(f"Drafted: {p['drafted']}/{p['files']}")
    print("One-time costs of the pipeline: " + ", ".join(f"{k} {v:.2f}" for k, v in p["one_time"].items()))
    print("Per-stage time summed over files (s): " + ", ".join(f"{k} {v:.2f}" for k, v in p["stages"].items()))


RUNNERS = {"bare": run_bare, "plain": run_plain, "pipeline1": run_pipeline_one_at_a_time, "pipeline": run_pipeline}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("audio_dir", nargs="?", type=Path, default=DEFAULT_AUDIO)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--sets", default="clips,dictations",
                        help="comma-separated among clips, dictations (~1 min), long (~3 min)")
    parser.add_argument("--mode", choices=sorted(RUNNERS), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if not args.audio_dir.is_dir() or not audio_files(args.audio_dir):
        raise SystemExit(f"no audio files in {args.audio_dir}")
    if args.mode:
        print(json.dumps(RUNNERS[args.mode](args.audio_dir)))
        return
    with tempfile.TemporaryDirectory(prefix="dictee-bench-set-") as scratch:
        for name in args.sets.split(","):
            if name != "clips" and name not in JOINED_SETS:
                raise SystemExit(f"unknown set {name!r}: choose among clips, {', '.join(JOINED_SETS)}")
            folder = args.audio_dir if name == "clips" else joined_set(
                args.audio_dir, Path(scratch) / name, **JOINED_SETS[name])
            runs: dict[str, list[dict]] = {mode: [] for mode in RUNNERS}
            for _ in range(args.repeat):  # alternate so drift on the machine hits every mode alike
                for mode in runs:
                    runs[mode].append(in_subprocess(mode, folder))
            report(name, runs, folder)


if __name__ == "__main__":
    main()
