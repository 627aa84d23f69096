"""Training examples: the audio of a reviewed letter and its final text, cut into segments.

Each example lives in `outbox/adaptation/examples/<id>/`: `audio.wav` (16 kHz mono, what the
trainer reads) and `example.json` (origin, date, segments with their audio times and text).
Both are sealed when encryption at rest is on, covered by retention and removed by `purge`:
they are patient data like the letters they come from. An example is written in a staging
folder and renamed into place, so a half-written one is never read.
"""

from __future__ import annotations

import datetime as dt
import io
import os
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterable, Iterator, Literal

import numpy as np

from pipeline.adapt.align import Segment
from pipeline.audio import SAMPLE_RATE, read_wav, wav_bytes
from pipeline.store import Outbox

EXAMPLES_DIR = "examples"  # in the outbox's adaptation folder
Origin = Literal["approved", "imported"]


@dataclass(frozen=True, slots=True)
class Example:
    example_id: str
    origin: Origin
    created_at: str
    duration_s: float
    segments: tuple[Segment, ...]
    author: str | None = None  # who dictated it: his inbox folder; None: the inbox root, or not known

    @property
    def text(self) -> str:
        return " ".join(segment.text for segment in self.segments)


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


class ExampleStore:
    def __init__(self, outbox: Outbox) -> None:
        self.root = outbox.adaptation_folder() / EXAMPLES_DIR
        self.outbox = outbox

    def add(self, example_id: str, samples: np.ndarray, segments: list[Segment], *, origin: Origin,
            author: str | None = None) -> Example:
        example = Example(example_id, origin, _now(), round(len(samples) / SAMPLE_RATE, 2), tuple(segments), author)
        staging = self.root / f".{example_id}.partial"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        self.outbox.write_bytes(staging / "audio.wav", wav_bytes(samples))
        self.outbox.write_json(staging / "example.json", asdict(example))
        target = self.root / example_id
        shutil.rmtree(target, ignore_errors=True)  # a letter approved again replaces its example
        os.replace(staging, target)
        return example

    def __contains__(self, example_id: str) -> bool:
        return (self.root / example_id / "example.json").is_file()

    def __iter__(self) -> Iterator[Example]:
        for meta in sorted(self.root.glob("*/example.json")):
            data = self.outbox.read_json(meta)
            yield Example(**{**data, "segments": tuple(Segment(**segment) for segment in data["segments"])})

    def __len__(self) -> int:
        return sum(1 for _ in self.root.glob("*/example.json"))

    def audio(self, example: Example) -> np.ndarray:
        return read_wav(self.outbox.read_bytes(self.root / example.example_id / "audio.wav"))

    def clips(self, example: Example) -> Iterator[tuple[np.ndarray, str]]:
        """Each segment's samples and text."""
        samples = self.audio(example)
        for segment in example.segments:
            yield samples[int(segment.start * SAMPLE_RATE):int(segment.end * SAMPLE_RATE)], segment.text

    def folder(self, example_id: str) -> Path:
        return self.root / example_id

    def remove(self, example_id: str) -> None:
        shutil.rmtree(self.root / example_id, ignore_errors=True)


def by_author(examples: Iterable[Example]) -> dict[str, list[Example]]:
    """The examples whose author is known, by his inbox folder."""
    grouped: dict[str, list[Example]] = {}
    for example in examples:
        if example.author is not None:
            grouped.setdefault(example.author, []).append(example)
    return grouped


def decode_bytes(data: bytes) -> np.ndarray:
    """16 kHz mono samples of an audio file's bytes (opened from the vault: never a plain copy on disk)."""
    from faster_whisper.audio import decode_audio

    return decode_audio(io.BytesIO(data), sampling_rate=SAMPLE_RATE)
