"""What the recognizer can do, side by side, in one run: Whisper base alone, with the lexicon's
repair, with re-decoding of doubtful spans (the default), and an adapted model — on synthetic
medical dictations and on real read French — with the time each takes per minute of audio.

    python benchmarks/accuracy_table.py [--medical N] [--repeat R] [--adapted DIR]

- Medical: N synthetic French medical dictations read by MBROLA voices
  (benchmarks/medical_speech.py, as `eval_vocabulary.py --medical-speech N`): WER against the
  typed letter and medical-term recall.
- General French: the 10 FLEURS clips (~11 s) and the 10 minute-long recordings made from them
  (as `bench_pipeline.py`'s « dictations » set): WER.
- Each row runs Dictée's recognition and understanding stages as in production, one dictation
  at a time; its time is the median of R runs over all three sets, per minute of audio, and for
  each set apart (accuracy does not vary between runs). Rows alternate within a run, so machine drift spreads evenly.
- `--adapted DIR` (repeatable): a CTranslate2 Whisper folder (an adapted version,
  `models/practice/<version>/`), run with the defaults (repair and re-decoding).

Run it on a quiet machine: any other load skews the times (not the accuracy).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))
FLEURS = REPO.parent / "shared" / "eval" / "audio-fleurs-fr"


def sets(medical: int) -> dict[str, list[tuple[Path, object, str]]]:
    """{set: [(path, samples, reference text)]}."""
    import medical_speech as speech
    from faster_whisper.audio import decode_audio

    from bench_pipeline import JOINED_SETS, audio_files, joined_set

    scratch = Path(tempfile.mkdtemp(prefix="dictee-accuracy-"))
    found: dict[str, list] = {}
    if medical:
        if why := speech.have_voices():
            raise SystemExit(f"no medical speech: {why}")
        seen, unseen = speech.term_pools()
        pools = {kind: seen[kind] + unseen[kind] for kind in seen}
        dictations, _ = speech.dictations(pools, medical, voices=speech.TEST_VOICES, seed=11, prefix="med")
        paths = [speech.synthesize(dictation, scratch / "medical") for dictation in dictations]
        found["medical"] = [(path, decode_audio(str(path), sampling_rate=16_000), dictation.text)
                            for path, dictation in zip(paths, dictations)]
    minute_long = joined_set(FLEURS, scratch / "joined", **JOINED_SETS["dictations"])
    for name, folder in (("fleurs_clips", FLEURS), ("fleurs_minute", minute_long)):
        found[name] = [(path, decode_audio(str(path), sampling_rate=16_000),
                        path.with_suffix(".txt").read_text(encoding="utf-8")) for path in audio_files(folder)]
    return found


def rows(adapted: list[Path]) -> dict[str, object]:
    from pipeline.settings import Settings

    default = Settings(models_dir=REPO / "models", workers=1)
    found = {
        "base alone": default.model_copy(update={"vocabulary_repair": False, "vocabulary_redecode": False}),
        "with repair": default.model_copy(update={"vocabulary_redecode": False}),
        "with re-decoding (default)": default,
    }
    for model in adapted:
        found[f"adapted ({model.name}), with re-decoding"] = default.model_copy(update={"whisper_model": model.resolve()})
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--medical", type=int, default=40, metavar="N")
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--adapted", type=Path, action="append", default=[],
                        help="a CTranslate2 Whisper folder: an adapted version (may be repeated)")
    args = parser.parse_args()

    from eval_vocabulary import understood_clip
    from pipeline.adapt.gate import term_recall, term_vocabulary
    from pipeline.evaluation import corpus_wer
    from pipeline.job import load_models

    audio = sets(args.medical)
    minutes_of = {name: sum(len(samples) for _, samples, _ in clips) / 16_000 / 60 for name, clips in audio.items()}
    minutes = sum(minutes_of.values())
    settings_of = rows(args.adapted)
    for settings in settings_of.values():
        load_models(settings)  # loading is a one-time cost, not counted
    vocabulary = term_vocabulary(REPO / "models")
    accuracy: dict[str, dict[str, str]] = {row: {} for row in settings_of}
    times: dict[str, list[float]] = {row: [] for row in settings_of}
    set_times: dict[str, dict[str, list[float]]] = {row: {name: [] for name in audio} for row in settings_of}
    for run in range(args.repeat):
        for row, settings in settings_of.items():
            started = time.perf_counter()
            for name, clips in audio.items():
                set_started = time.perf_counter()
                pairs = [(text, understood_clip(path, samples, settings).normalized.text) for path, samples, text in clips]
                set_times[row][name].append(time.perf_counter() - set_started)
                figure = f"{corpus_wer(pairs):.3f}"
                if name == "medical":
                    recall, terms = term_recall(pairs, vocabulary)
                    accuracy[row]["medical recall"] = f"{recall:.3f} ({terms})"
                accuracy[row][f"{name} WER"] = figure
            times[row].append(time.perf_counter() - started)
            print(f"run {run + 1}: {row}: {times[row][-1]:.1f} s, {accuracy[row]}", flush=True)
    columns = list(next(iter(accuracy.values())))
    print(f"\n{minutes:.1f} minutes of audio; time: median of {args.repeat} runs, seconds per minute of audio\n")
    print("| | " + " | ".join(columns) + " | time per audio minute | " + " / ".join(audio) + " |")
    print("|---" * (len(columns) + 3) + "|")
    for row in settings_of:
        per_minute = statistics.median(times[row]) / minutes
        per_set = " / ".join(f"{statistics.median(set_times[row][name]) / minutes_of[name]:.1f}" for name in audio)
        print(f"| {row} | " + " | ".join(accuracy[row][column] for column in columns) + f" | {per_minute:.1f} s | {per_set} s |")


if __name__ == "__main__":
    main()
