"""Fine-tune Whisper on the practice's examples, on the CPU (torch + transformers).

Decoder-only by default: the encoder (how the audio sounds) stays as trained on 680 000 hours;
the decoder learns how this practice's words are written. Its outputs are computed once per
clip, so an epoch costs only the decoder's passes (about 0.7 s per 30-s clip on 2 cores).
`full=True` trains the encoder too (2.5–6 s per clip). Token embeddings stay frozen either
way: they are tied to the output layer, and on a few hundred clips moving 26 M parameters
only teaches the model to forget.

Targets are what Whisper decodes in the pipeline's mode: start of transcript, French,
transcribe, then the text between two timestamps.
"""

from __future__ import annotations

import math
import os
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from pipeline.audio import SAMPLE_RATE

MAX_TARGET_TOKENS = 440  # Whisper's decoder holds 448 positions
TIMESTAMP_STEP_S = 0.02


@dataclass(frozen=True, slots=True)
class TrainingOptions:
    # Measured on synthetic dictations (benchmarks/bench_adapt.py): 8 passes at 2e-5 learn the
    # practice's terms (recall 0.26 → 0.88) where 5 at 1e-5 stop at 0.62; both cost general French.
    epochs: int = 8
    learning_rate: float = 2e-5
    batch_size: int = 8
    full: bool = False  # train the encoder too
    max_minutes: float = 30.0  # stop at the step that would pass this budget
    seed: int = 0
    threads: int = 0  # 0: every core


@dataclass(frozen=True, slots=True)
class TrainingReport:
    clips: int
    steps: int
    epochs_done: float
    seconds: float
    first_loss: float
    last_loss: float
    stopped_by_budget: bool

    @property
    def seconds_per_clip_epoch(self) -> float:
        return self.seconds / max(self.clips * self.epochs_done, 1e-9)


Progress = Callable[[int, int, float, float], None]  # step, total steps, loss, eta seconds


class WhisperTokens:
    """The decoder's target sequences, from the model's own tokenizer."""

    def __init__(self, model_dir: Path, *, language: str) -> None:
        import tokenizers
        from faster_whisper.tokenizer import Tokenizer

        self.tokenizer = Tokenizer(tokenizers.Tokenizer.from_file(str(model_dir / "tokenizer.json")),
                                   multilingual=True, task="transcribe", language=language)

    @property
    def prefix(self) -> list[int]:
        return list(self.tokenizer.sot_sequence)

    def target(self, text: str, duration_s: float) -> list[int]:
        end_step = min(round(duration_s / TIMESTAMP_STEP_S), 1500)
        text_tokens = self.tokenizer.encode(" " + text.strip())[:MAX_TARGET_TOKENS - len(self.prefix) - 3]
        begin = self.tokenizer.timestamp_begin
        return [*self.prefix, begin, *text_tokens, begin + end_step, self.tokenizer.eot]


def log_mel(samples: np.ndarray, *, mel_bins: int) -> np.ndarray:
    """Whisper's input: the clip padded to 30 s, as faster-whisper computes it at inference."""
    from faster_whisper.feature_extractor import FeatureExtractor

    extractor = FeatureExtractor(feature_size=mel_bins)
    padded = np.zeros(30 * SAMPLE_RATE, dtype=np.float32)
    padded[:min(len(samples), len(padded))] = samples[:len(padded)]
    return extractor(padded, padding=0)[:, :3000].astype(np.float32)


def _batches(count: int, size: int, rng: random.Random) -> list[list[int]]:
    order = list(range(count))
    rng.shuffle(order)
    return [order[i:i + size] for i in range(0, count, size)]


def fine_tune(whisper, clips: Sequence[tuple[np.ndarray, str]], tokens: WhisperTokens, options: TrainingOptions,
              *, progress: Progress = lambda step, total, loss, eta: None):
    """Train `whisper` (transformers, float32) in place on (samples, text) clips."""
    import torch

    torch.manual_seed(options.seed)
    torch.set_num_threads(options.threads or os.cpu_count() or 1)
    rng = random.Random(options.seed)
    mel_bins = whisper.config.num_mel_bins
    features = [torch.from_numpy(log_mel(samples, mel_bins=mel_bins)) for samples, _ in clips]
    targets = [tokens.target(text, len(samples) / SAMPLE_RATE) for samples, text in clips]

    whisper.train()
    whisper.model.encoder.requires_grad_(options.full)
    whisper.model.decoder.embed_tokens.requires_grad_(False)
    encoded = None
    if not options.full:
        whisper.model.encoder.eval()
        with torch.no_grad():  # once: the encoder does not change
            encoded = [whisper.model.encoder(f[None]).last_hidden_state[0].to(torch.float16) for f in features]
    prefix_length = len(tokens.prefix)
    trainable = [p for p in whisper.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=options.learning_rate, weight_decay=0.01)
    steps_per_epoch = math.ceil(len(clips) / options.batch_size)
    total = steps_per_epoch * options.epochs
    warmup = max(1, total // 10)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: min((step + 1) / warmup, max(0.0, (total - step) / max(total - warmup, 1))))
    started, step, losses, stopped = time.perf_counter(), 0, [], False
    for _ in range(options.epochs):
        for batch in _batches(len(clips), options.batch_size, rng):
            elapsed = time.perf_counter() - started
            if step and elapsed / step * (step + 1) > options.max_minutes * 60:
                stopped = True
                break
            loss = _step(whisper, batch, targets, features, encoded, prefix_length)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(trainable, 1.0)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            step += 1
            losses.append(loss.item())
            elapsed = time.perf_counter() - started
            progress(step, total, losses[-1], elapsed / step * (total - step))
        if stopped:
            break
    whisper.eval()
    return TrainingReport(
        clips=len(clips), steps=step, epochs_done=round(step / steps_per_epoch, 2),
        seconds=round(time.perf_counter() - started, 1),
        first_loss=round(losses[0], 4) if losses else math.nan, last_loss=round(_tail_mean(losses), 4),
        stopped_by_budget=stopped,
    )


def _tail_mean(losses: list[float]) -> float:
    tail = losses[-max(1, len(losses) // 10):] if losses else [math.nan]
    return sum(tail) / len(tail)


def _step(whisper, batch: list[int], targets, features, encoded, prefix_length: int):
    """The batch's loss: cross-entropy of its target sequences."""
    import torch

    logits, labels = _forward(whisper, batch, targets, features, encoded, prefix_length)
    return torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1), ignore_index=-100)


def _forward(whisper, batch: list[int], targets, features, encoded, prefix_length: int):
    """The model's logits on the batch's target sequences, and the labels they are scored against."""
    import torch

    length = max(len(targets[i]) for i in batch)
    pad = targets[batch[0]][-1]  # end of text: never attended to after the sequence ends
    ids = torch.full((len(batch), length), pad, dtype=torch.long)
    labels = torch.full((len(batch), length - 1), -100, dtype=torch.long)
    for row, index in enumerate(batch):
        sequence = torch.tensor(targets[index])
        ids[row, :len(sequence)] = sequence
        # The prefix (language, task) is given, not learned; the loss starts at the first timestamp.
        labels[row, prefix_length - 1:len(sequence) - 1] = sequence[prefix_length:]
    if encoded is not None:
        states = torch.stack([encoded[i] for i in batch]).to(torch.float32)
    else:
        states = whisper.model.encoder(torch.stack([features[i] for i in batch])).last_hidden_state
    return whisper(encoder_outputs=(states,), decoder_input_ids=ids[:, :-1]).logits, labels


def clip_loss(whisper, clips: Sequence[tuple[np.ndarray, str]], tokens: WhisperTokens) -> float:
    """Mean loss of the clips' targets under the model (for tests and reports)."""
    import torch

    mel_bins = whisper.config.num_mel_bins
    features = [torch.from_numpy(log_mel(samples, mel_bins=mel_bins)) for samples, _ in clips]
    targets = [tokens.target(text, len(samples) / SAMPLE_RATE) for samples, text in clips]
    with torch.no_grad():
        losses = [_step(whisper, [i], targets, features, None, len(tokens.prefix)).item() for i in range(len(clips))]
    return sum(losses) / len(losses)
