"""Adaptation, measured: import an archive, run one adaptation, compare the models on speech
neither the training nor the gate heard.

    python benchmarks/bench_adapt.py [--train 180] [--test 60] [--epochs 5] [--full] [--work DIR]
    python benchmarks/bench_adapt.py --author [--train 60] [--test 30] [--work DIR]

The archive is synthetic (benchmarks/medical_speech.py): French medical dictations read by
MBROLA voices; the test is read by three other voices. It goes through the product's own
commands' code (`import_archive`, `run_adaptation`), then both models transcribe:
- « seen »: new sentences with the medical terms of the training letters;
- « unseen »: sentences with terms never in training;
- FLEURS: real read French (../shared/eval/audio-fleurs-fr), the general-French check.
Printed: WER and medical-term recall per set, training time per clip and pass, peak memory.

`--author`: one practitioner's own model (`dictee adapt run --author`). His letters are read by
one voice never used elsewhere (the author's); the practice's model is the bundled one. Measured:
his new dictations heard with the practice's model and with his own, the other practitioners'
dictations (other voices, the same terms) heard with what the product gives them — the
practice's model, checked through `whisper_model_dir_for` — and with his (what a practice-wide
model trained on his letters would have done to them), and FLEURS with his model.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

import medical_speech as speech  # noqa: E402

from pipeline.adapt.collect import import_archive  # noqa: E402
from pipeline.adapt.gate import clip_transcriber, score, term_vocabulary  # noqa: E402
from pipeline.adapt.run import run_adaptation  # noqa: E402
from pipeline.adapt.train import TrainingOptions  # noqa: E402
from pipeline.audio import SAMPLE_RATE  # noqa: E402
from pipeline.modelstore import BASE_VERSION, BUNDLED_NAME, practice_model_in_use, use_practice_version  # noqa: E402
from pipeline.settings import load_settings  # noqa: E402

DEFAULTS = TrainingOptions()
FLEURS = REPO.parent / "shared" / "eval" / "audio-fleurs-fr"


def _clips(folder: Path, names: list[str]):
    from faster_whisper.audio import decode_audio

    return [(decode_audio(str(folder / f"{name}.wav"), sampling_rate=SAMPLE_RATE),
             (folder / f"{name}.txt").read_text(encoding="utf-8").strip()) for name in names]


def _fleurs():
    from faster_whisper.audio import decode_audio

    return [(decode_audio(str(ogg), sampling_rate=SAMPLE_RATE), ogg.with_suffix(".txt").read_text(encoding="utf-8").strip())
            for ogg in sorted(FLEURS.glob("*.ogg"))]


def _settings(work: Path):
    models = work / "models"
    models.mkdir(parents=True, exist_ok=True)
    if not (models / BUNDLED_NAME).exists():
        (models / BUNDLED_NAME).symlink_to(REPO / "models" / BUNDLED_NAME)
    settings = load_settings(inbox=work / "inbox", outbox=work / "outbox", models_dir=models)
    settings.inbox.mkdir(parents=True, exist_ok=True)
    return settings


def _synthesized(work: Path, prefix: str, train, test) -> tuple[Path, Path]:
    """The training archive and the test recordings, synthesised."""
    archive, tests = work / f"{prefix}archive", work / f"{prefix}test"
    for folder, dictations in ((archive, train), (tests, test)):
        for dictation in dictations:
            speech.synthesize(dictation, folder)
    return archive, tests


def _figures(models: dict[str, Path], sets: dict, vocabulary, settings) -> dict:
    """{model label: {set: WER and term recall}}, each model heard clip by clip as the gate hears."""
    figures = {}
    for label, model_dir in models.items():
        transcribe = clip_transcriber(model_dir, language="fr", beam_size=settings.beam_size)
        figures[label] = {name: score(transcribe, clips, vocabulary).as_dict() for name, clips in sets.items()}
    return figures


def _print_figures(figures: dict, sets: list[str], labels: list[str]) -> None:
    print(f"{'set':8} {'model':10} {'WER':>6} {'term recall':>12} {'terms':>6} {'clips':>6}")
    for name in sets:
        for label in labels:
            if name not in figures[label]:
                continue
            row = figures[label][name]
            recall = "—" if row["term_recall"] is None else f"{row['term_recall']:.3f}"
            print(f"{name:8} {label:10} {row['wer']:6.3f} {recall:>12} {row['terms']:6d} {row['clips']:6d}")


AUTHOR = "dupont"


def author_main(args) -> None:
    """One practitioner's own model, measured on his voice and on his colleagues'."""
    seen, _ = speech.term_pools()
    his_voice, others = speech.TEST_VOICES[0], speech.TEST_VOICES[1:]  # voices neither trained nor gated on
    train, used = speech.dictations(seen, args.train, voices=(his_voice,), seed=11, prefix="his")
    his_test, _ = speech.dictations(seen, args.test, voices=(his_voice,), seed=12, prefix="his-test", avoid=used)
    their_test, _ = speech.dictations(seen, args.test, voices=others, seed=13, prefix="their-test", avoid=used)
    archive, tests = _synthesized(args.work, "author-", train, his_test + their_test)
    settings = _settings(args.work)
    use_practice_version(settings.models_dir, BASE_VERSION)
    use_practice_version(settings.models_dir, BASE_VERSION, AUTHOR)
    started = time.perf_counter()
    report = import_archive(archive, settings, author=AUTHOR)
    print(f"import: {report.imported} letters of {AUTHOR} ({time.perf_counter() - started:.0f} s)")
    options = TrainingOptions(epochs=args.epochs, learning_rate=args.learning_rate, full=args.full,
                              max_minutes=args.max_minutes)
    started = time.perf_counter()
    adaptation = run_adaptation(settings, options, author=AUTHOR)
    run_s = time.perf_counter() - started
    print(f"author {adaptation.version}: promoted={adaptation.promoted} ({adaptation.verdict.reason}); "
          f"gate current {adaptation.verdict.current.as_dict()} candidate {adaptation.verdict.candidate.as_dict()}; "
          f"{adaptation.training.clips} clips, whole run {run_s:.0f} s")
    his_model = settings.whisper_model_dir_for(AUTHOR)
    theirs = settings.whisper_model_dir_for("martin")  # a colleague without a model of his own
    practice = settings.whisper_model_dir
    if not adaptation.promoted:
        print("his model was refused by the gate: his dictations keep the practice's")
        return
    assert his_model != practice and theirs == practice, "an author's model reached another author"
    vocabulary = term_vocabulary(settings.models_dir)
    sets = {"his": _clips(tests, [d.name for d in his_test]), "theirs": _clips(tests, [d.name for d in their_test])}
    if FLEURS.is_dir():
        sets["fleurs"] = _fleurs()
    figures = _figures({"practice": practice, "his own": his_model}, sets, vocabulary, settings)
    _print_figures(figures, list(sets), ["practice", "his own"])
    print("in use: his dictations → his own model; his colleagues' → the practice's")
    (args.work / "author-figures.json").write_text(json.dumps({
        "train_letters": len(train), "run_s": round(run_s), "mix": adaptation_mix(settings, adaptation),
        "gate": {"current": adaptation.verdict.current.as_dict(), "candidate": adaptation.verdict.candidate.as_dict()},
        "options": vars(args) | {"work": str(args.work)}, "figures": figures}, indent=2))


def adaptation_mix(settings, adaptation) -> float | None:
    from pipeline.modelstore import VERSION_REPORT, practice_dir

    report = practice_dir(settings.models_dir, adaptation.author) / adaptation.version / VERSION_REPORT
    return json.loads(report.read_text())["mix"] if report.is_file() else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--author", action="store_true", help="one practitioner's own model (see above)")
    parser.add_argument("--train", type=int, default=None, help="letters to train on (180; --author: 60)")
    parser.add_argument("--test", type=int, default=None, help="test dictations (60; --author: 30 of each)")
    parser.add_argument("--epochs", type=int, default=DEFAULTS.epochs)
    parser.add_argument("--learning-rate", type=float, default=DEFAULTS.learning_rate)
    parser.add_argument("--full", action="store_true")
    parser.add_argument("--max-minutes", type=float, default=DEFAULTS.max_minutes)
    parser.add_argument("--work", type=Path, default=Path("/tmp/dictee-bench-adapt"))
    args = parser.parse_args()
    if why := speech.have_voices():
        sys.exit(f"cannot synthesise speech here: {why}")
    if args.author:
        args.train, args.test = args.train or 60, args.test or 30
        return author_main(args)
    args.train, args.test = args.train or 180, args.test or 60

    seen, unseen = speech.term_pools()
    train, used = speech.dictations(seen, args.train, voices=speech.TRAIN_VOICES, seed=1, prefix="train")
    test_seen, _ = speech.dictations(seen, args.test, voices=speech.TEST_VOICES, seed=2, prefix="seen", avoid=used)
    test_unseen, _ = speech.dictations(unseen, args.test // 2, voices=speech.TEST_VOICES, seed=3, prefix="unseen")
    archive, tests = _synthesized(args.work, "", train, test_seen + test_unseen)

    settings = _settings(args.work)
    models = settings.models_dir

    use_practice_version(models, BASE_VERSION)  # a rerun imports and compares with the base model, not the last run's
    started = time.perf_counter()
    report = import_archive(archive, settings)
    import_s = time.perf_counter() - started
    print(f"import: {report.imported} letters, {report.segments} segments, {report.audio_s / 60:.1f} min of audio, "
          f"skipped {sum(map(len, report.skipped.values()))} ({import_s:.0f} s)")

    options = TrainingOptions(epochs=args.epochs, learning_rate=args.learning_rate, full=args.full,
                              max_minutes=args.max_minutes)
    started = time.perf_counter()
    adaptation = run_adaptation(settings, options)
    run_s = time.perf_counter() - started
    training = adaptation.training
    print(f"adaptation {adaptation.version}: promoted={adaptation.promoted} ({adaptation.verdict.reason}); "
          f"gate current {adaptation.verdict.current.as_dict()} candidate {adaptation.verdict.candidate.as_dict()}")
    print(f"training: {training.clips} clips, {training.steps} steps, {training.seconds:.0f} s "
          f"({training.seconds_per_clip_epoch:.2f} s per clip and pass), whole run {run_s:.0f} s, "
          f"peak memory {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")

    adapted = practice_model_in_use(models)
    if adapted is None:
        print("the candidate was refused by the gate: nothing more to compare")
        return
    vocabulary = term_vocabulary(models)
    sets = {"seen": _clips(tests, [d.name for d in test_seen]), "unseen": _clips(tests, [d.name for d in test_unseen])}
    if FLEURS.is_dir():
        sets["fleurs"] = _fleurs()
    figures = _figures({"base": models / BUNDLED_NAME, "adapted": adapted}, sets, vocabulary, settings)
    _print_figures(figures, list(sets), ["base", "adapted"])
    (args.work / "figures.json").write_text(json.dumps({
        "train_letters": len(train), "import_s": round(import_s), "run_s": round(run_s),
        "training": {"clips": training.clips, "seconds": training.seconds, "epochs": training.epochs_done,
                     "s_per_clip_epoch": round(training.seconds_per_clip_epoch, 3)},
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "options": vars(args) | {"work": str(args.work)}, "figures": figures}, indent=2))


if __name__ == "__main__":
    main()
