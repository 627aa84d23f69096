"""Shared fixtures: isolated folders and settings, a fake transcriber, generated audio."""

from __future__ import annotations

import math
import os
import struct
import wave
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_EVAL = REPO.parent / "shared" / "eval"
FLEURS = SHARED_EVAL / "audio-fleurs-fr"
DEV_DICTATIONS = SHARED_EVAL / "dictations_dev.json"

os.environ.setdefault("TQDM_DISABLE", "1")


def write_tone(path: Path, *, seconds: float = 2.0, rate: int = 16_000, amplitude: float = 0.3) -> Path:
    """A plain sine tone: decodes, is not silent, and has no speech."""
    frames = b"".join(
        struct.pack("<h", int(amplitude * 32767 * math.sin(2 * math.pi * 440 * i / rate)))
        for i in range(int(seconds * rate))
    )
    with wave.open(str(path), "wb") as handle:
        handle.setnchannels(1)
        handle.setsampwidth(2)
        handle.setframerate(rate)
        handle.writeframes(frames)
    return path


@pytest.fixture
def settings(tmp_path, monkeypatch):
    from pipeline.settings import Settings

    monkeypatch.chdir(tmp_path)  # no stray dictee.toml from the repo or the user
    for name in list(os.environ):
        if name.startswith("DICTEE_"):
            monkeypatch.delenv(name)
    (tmp_path / "inbox").mkdir()
    return Settings(
        inbox=tmp_path / "inbox",
        outbox=tmp_path / "outbox",
        models_dir=REPO / "models",
        letter_templates=REPO / "letter_templates",
        stable_seconds=0,
    )


class FakeTranscriber:
    """Returns a fixed dictation, one word per 0.4 s; the real one is tested end to end."""

    def __init__(self, text: str, probability: float = 0.9) -> None:
        self.text = text
        self.probability = probability
        self.calls = 0

    def transcribe(self, samples, *, initial_prompt=None):
        from pipeline.records import Transcript, Word

        self.calls += 1
        words = tuple(
            Word(start=round(i * 0.4, 2), end=round(i * 0.4 + 0.35, 2), word=" " + token, probability=self.probability)
            for i, token in enumerate(self.text.split())
        )
        return Transcript(raw=self.text, language="fr", language_probability=1.0, words=words, duration_s=len(samples) / 16_000)


SAMPLE_DICTATION = (
    "Courrier au docteur Martin, cardiologue à Lyon. Cher confrère, virgule, je vous adresse Monsieur Jean Dupont, "
    "né le douze mars mille neuf cent cinquante-six. Il est traité par amlodipine cinq milligrammes par jour. "
    "Pas de dyspnée. Point. Bien confraternellement."
)


@pytest.fixture
def fake_transcriber(monkeypatch):
    fake = FakeTranscriber(SAMPLE_DICTATION)
    monkeypatch.setattr("pipeline.job.get_transcriber", lambda config: fake)
    return fake


def require(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"evaluation data not found at {path} (expected ../shared/eval beside the repo)")
    return path
