"""One adaptation: train a candidate on the practice's examples, measure it, promote it or not.

The practice's model is always trained from the bundled base model (adapting an adapted model
would compound its drift), on every example but the held-out ones, which the gate measures
both models on. An author's own model (`author`: his inbox folder) is trained from the
practice's model in use on his examples only, and measured on his held-out letters against
what his dictations use now. General French is always measured against the bundled model, so
neither a series of versions nor an author's on top of the practice's drifts more than the
gate allows.

The candidate is written to `<versions>/.<version>.partial` and becomes a version only if it
passes the gate; the model in use changes only then, by replacing one small pointer file. A
failed or killed run leaves the model in use as it was and its partial folder is cleared by the
next run. One run at a time per models folder.
"""

from __future__ import annotations

import datetime as dt
import gc
import hashlib
import json
import shutil
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Callable

from filelock import FileLock, Timeout

from pipeline.adapt.examples import Example, ExampleStore, by_author
from pipeline.adapt.gate import (
    Verdict, clip_transcriber, general_french_set, general_wer, judge, only_general_french_lost, recording_transcriber,
    score, term_vocabulary,
)
from pipeline.adapt.learned import learned_words
from pipeline.adapt.train import Progress, TrainingOptions, TrainingReport
from pipeline.errors import DicteeError, ModelError
from pipeline.files import write_bytes_atomic
from pipeline.modelstore import BUNDLED_NAME, VERSION_REPORT, practice_dir, require_model, use_practice_version
from pipeline.settings import Settings
from pipeline.transcribe import TranscriberConfig

MIN_EXAMPLES = 6
# An author's own model needs enough of his letters to hold some aside and still learn his
# voice from the rest: about a week of one practitioner's dictations.
MIN_AUTHOR_EXAMPLES = 30
# Shares of the fine-tuned weights mixed back into the bundled ones, tried in this order: the
# fully adapted model first; a half mix kept general French within a point where the full one
# lost 5.8, and kept most of the medical gain.
MIX_SHARES = (1.0, 0.7, 0.5, 0.3)
HELD_OUT_EVERY = 6  # one example in six is kept aside to measure on
REFUSED_LOG = "refused.jsonl"
QUANTIZATIONS = ("float16", "int8", "int8_float16", "float32")


class AdaptationError(DicteeError):
    """Nothing to adapt on yet, another run going on, or the extra not installed: said, not crashed."""


@dataclass(frozen=True, slots=True)
class Adaptation:
    version: str
    promoted: bool
    verdict: Verdict
    training: TrainingReport
    train_examples: int
    held_out_examples: int
    author: str | None = None


def is_held_out(example: Example) -> bool:
    """Fixed per example (by its id), so the same letters are measured on run after run."""
    return int(hashlib.sha256(example.example_id.encode()).hexdigest(), 16) % HELD_OUT_EVERY == 0


def split(examples: list[Example]) -> tuple[list[Example], list[Example]]:
    held = [e for e in examples if is_held_out(e)]
    if not held:  # few examples: keep the last aside all the same
        held = examples[-1:]
    train = [e for e in examples if e not in held]
    return train, held


def weights_of(model) -> dict:
    return {name: tensor.detach().clone() for name, tensor in model.state_dict().items()}


def mixed(before: dict, after: dict, share: float) -> dict:
    """The weights `share` of the way from the model trained from to the fine-tuned one."""
    return {name: before[name] + share * (after[name] - before[name]) if after[name].is_floating_point()
            else after[name] for name in after}


def require_torch() -> None:
    try:
        import torch  # noqa: F401
        import transformers  # noqa: F401
    except ImportError:
        raise AdaptationError(
            "l'adaptation demande l'option « adapt » : pip install -e '.[adapt]' / "
            "adaptation needs the 'adapt' extra: pip install -e '.[adapt]'") from None


def run_adaptation(settings: Settings, options: TrainingOptions = TrainingOptions(), *,
                   author: str | None = None, quantization: str = "float16",
                   on_stage: Callable[[str], None] = lambda stage: None,
                   on_progress: Progress = lambda step, total, loss, eta: None) -> Adaptation:
    """The practice's model, or with `author` (his inbox folder) his own."""
    if quantization not in QUANTIZATIONS:  # said now, not after half an hour of training
        raise AdaptationError(f"quantification inconnue / unknown quantization {quantization!r} "
                              f"({', '.join(QUANTIZATIONS)})")
    try:
        versions = practice_dir(settings.models_dir, author)
    except ModelError as error:
        raise AdaptationError(str(error)) from None
    require_torch()
    store = ExampleStore(settings.store())
    examples = examples_for(store, author)  # too few: said before any folder is made
    versions.mkdir(parents=True, exist_ok=True)
    lock = practice_dir(settings.models_dir) / ".adapt.lock"  # one training at a time: each takes the machine
    try:
        with FileLock(str(lock), timeout=0):
            return _run(settings, options, author, store, examples, versions, quantization, on_stage, on_progress)
    except Timeout:
        raise AdaptationError("une adaptation est déjà en cours / an adaptation is already running") from None


def examples_for(store: ExampleStore, author: str | None) -> list[Example]:
    """The practice's examples, or an author's; AdaptationError when there are too few."""
    if author is None:
        examples, needed = list(store), MIN_EXAMPLES
        whose = ("", "")
    else:
        examples, needed = by_author(store).get(author, []), MIN_AUTHOR_EXAMPLES
        whose = (" de cet auteur", " of this author")
    if len(examples) < needed:
        raise AdaptationError(
            f"{len(examples)} exemple(s){whose[0]} : il en faut au moins {needed} (lettres approuvées ou "
            f"`dictee adapt import`) / {len(examples)} example(s){whose[1]}: at least {needed} are needed "
            "(approved letters or `dictee adapt import`)")
    return examples


def newest_example(examples: list[Example]) -> str:
    return max(example.created_at for example in examples)


def _attempts(versions: Path) -> list[dict]:
    """The reports of every run kept (promoted versions and refused candidates); a damaged one
    counts as no run, so the author is trained again rather than never."""
    texts = [path.read_text(encoding="utf-8", errors="replace") for path in versions.glob(f"*/{VERSION_REPORT}")]
    refused = versions / REFUSED_LOG
    if refused.is_file():
        texts += refused.read_text(encoding="utf-8", errors="replace").splitlines()
    reports = []
    for text in texts:
        try:
            report = json.loads(text)
        except ValueError:
            continue
        if isinstance(report, dict):
            reports.append(report)
    return reports


def authors_due(settings: Settings) -> list[str]:
    """The authors with enough examples of their own and something new since their last run:
    new letters, or a new practice model to start from."""
    practice_model = settings.whisper_model_dir.name
    due = []
    for author, examples in sorted(by_author(ExampleStore(settings.store())).items()):
        if len(examples) < MIN_AUTHOR_EXAMPLES:
            continue
        try:
            versions = practice_dir(settings.models_dir, author)
        except ModelError:  # not a folder name: never made into a path
            continue
        newest = newest_example(examples)
        last = max(_attempts(versions), key=lambda report: report.get("created_at", ""), default=None)
        if last is None or last.get("newest_example", "") < newest or last.get("trained_from") != practice_model:
            due.append(author)
    return due


def _run(settings: Settings, options: TrainingOptions, author: str | None, store: ExampleStore,
         examples: list[Example], root: Path, quantization: str,
         on_stage: Callable[[str], None], on_progress: Progress) -> Adaptation:
    from pipeline.adapt.ct2 import export_ct2, to_transformers
    from pipeline.adapt.train import WhisperTokens, fine_tune

    for leftover in root.glob(".*.partial"):  # a run killed midway
        shutil.rmtree(leftover, ignore_errors=True)
    train, held = split(examples)
    base = require_model(settings.models_dir / BUNDLED_NAME, bundled=True)
    in_use = settings.whisper_model_dir_for(author)
    start = base if author is None else settings.whisper_model_dir  # an author's: from the practice's
    version = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    staging = root / f".{version}.partial"

    on_stage("lecture des exemples / reading examples")
    train_clips = [clip for example in train for clip in store.clips(example)]
    held_clips = [clip for example in held for clip in store.clips(example)]
    on_stage("entraînement / training")
    whisper = to_transformers(start)
    before = weights_of(whisper)
    training = fine_tune(whisper, train_clips, WhisperTokens(base, language=settings.language), options,
                         progress=on_progress)
    after = weights_of(whisper)

    on_stage("mesure sur les exemples mis de côté / measuring on held-out examples")
    vocabulary = term_vocabulary(settings.models_dir, [word.text for word in learned_words(settings.store())])
    decode = dict(language=settings.language, beam_size=settings.beam_size, compute_type=settings.compute_type,
                  device=settings.device)
    general, hearing = general_french_set(), TranscriberConfig.from_settings(settings)

    def measure(model: Path):
        scores = score(clip_transcriber(model, **decode), held_clips, vocabulary)
        return replace(scores, general_wer=general_wer(recording_transcriber(model, hearing), general))

    current, tried = measure(in_use), []
    # General French is held to the bundled model's figure, whatever the model in use lost before.
    general_reference = current.general_wer if in_use == base else \
        general_wer(recording_transcriber(base, hearing), general)
    for share in MIX_SHARES:  # the most adapted mix the gate accepts (WiSE-FT: Wortsman et al., 2022)
        on_stage(f"mesure du mélange / measuring the mix {share:.0%}")
        whisper.load_state_dict(mixed(before, after, share))
        shutil.rmtree(staging, ignore_errors=True)
        export_ct2(whisper, base, staging, quantization=quantization)
        verdict = judge(current, measure(staging), general_reference=general_reference)
        tried.append({"share": share, "candidate": verdict.candidate.as_dict(), "reason": verdict.reason})
        # A mix is the remedy for general French lost, not a search: a model no better on the
        # practice's own letters is refused as it is (trying mixes of it would only try noise).
        if verdict.promote or not only_general_french_lost(current, verdict.candidate, general_reference):
            break
    del whisper, before, after
    gc.collect()
    report = {
        "version": version, "created_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "author": author, "base": BUNDLED_NAME, "trained_from": start.name, "compared_with": in_use.name,
        "general_reference": general_reference, "newest_example": newest_example(examples),
        "quantization": quantization,
        "examples": {"train": len(train), "held_out": len(held), "train_clips": len(train_clips),
                     "held_out_clips": len(held_clips)},
        "options": asdict(options), "training": asdict(training), "mix": tried[-1]["share"], "mixes_tried": tried,
        "current": verdict.current.as_dict(), "candidate": verdict.candidate.as_dict(),
        "promoted": verdict.promote, "reason": verdict.reason,
    }
    if verdict.promote:
        write_bytes_atomic(staging / VERSION_REPORT, json.dumps(report, indent=2, ensure_ascii=False).encode("utf-8"))
        staging.replace(root / version)
        use_practice_version(settings.models_dir, version, author)
    else:
        shutil.rmtree(staging, ignore_errors=True)
        with (root / REFUSED_LOG).open("a", encoding="utf-8") as log:
            log.write(json.dumps(report, ensure_ascii=False) + "\n")
    return Adaptation(version, verdict.promote, verdict, training, len(train), len(held), author)
