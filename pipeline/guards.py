"""Guards on recognised words: loops removed and flagged, text over silence flagged, speech
without text flagged.

Whisper can loop ("je vous remercie je vous remercie …"), write words where nothing was
said, or say nothing where something was. A loop is cut back to one occurrence; a word over
near-silent audio is kept but flagged, and so is speech left without words, since only a
listener can tell.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from pipeline.audio import SAMPLE_RATE
from pipeline.records import Flag, FlagKind, Word

MAX_LOOP_WORDS = 8
# Consecutive repeats that make a loop: single words repeat legitimately ("très très").
MIN_REPEATS = {1: 4}
DEFAULT_MIN_REPEATS = 3
# A word whose audio is this much quieter than the recording's typical word is suspicious.
SILENCE_RATIO = 0.05


def _plain(word: Word) -> str:
    return word.word.strip().strip(",.;:!?…").lower()


def remove_loops(words: Sequence[Word]) -> tuple[list[Word], list[Flag]]:
    out: list[Word] = []
    flags: list[Flag] = []
    index = 0
    plain = [_plain(w) for w in words]
    while index < len(words):
        for size in range(MAX_LOOP_WORDS, 0, -1):
            unit = plain[index:index + size]
            if len(unit) < size or not any(unit):
                continue
            repeats = 1
            while plain[index + repeats * size:index + (repeats + 1) * size] == unit:
                repeats += 1
            if repeats >= MIN_REPEATS.get(size, DEFAULT_MIN_REPEATS):
                out.extend(words[index:index + size])
                flags.append(Flag(FlagKind.REPETITION_LOOP, f"« {' '.join(unit)} » ×{repeats} → ×1", words[index].start))
                index += repeats * size
                break
        else:
            out.append(words[index])
            index += 1
    return out, flags


def words_over_silence(words: Sequence[Word], samples: np.ndarray) -> list[Flag]:
    if not words or samples.size == 0:
        return []
    energies = []
    for word in words:
        chunk = samples[int(word.start * SAMPLE_RATE):max(int(word.end * SAMPLE_RATE), int(word.start * SAMPLE_RATE) + 1)]
        energies.append(float(np.sqrt(np.mean(np.square(chunk)))) if chunk.size else 0.0)
    typical = float(np.median(energies))
    return [
        Flag(FlagKind.TEXT_IN_SILENCE, word.word.strip(), word.start)
        for word, energy in zip(words, energies, strict=True)
        if typical > 0 and energy < typical * SILENCE_RATIO
    ]


def guard(words: Sequence[Word], samples: np.ndarray) -> tuple[tuple[Word, ...], tuple[Flag, ...]]:
    kept, flags = remove_loops(words)
    return tuple(kept), tuple(flags + words_over_silence(kept, samples))


def _clock(seconds: float) -> str:
    return f"{int(seconds // 60)}:{int(seconds % 60):02d}"


def unheard_flags(unheard: Sequence[tuple[float, float]]) -> tuple[Flag, ...]:
    """Speech the recogniser left without words, even when heard a second time on its own."""
    return tuple(
        Flag(FlagKind.UNHEARD_SPEECH, f"parole non transcrite / speech not transcribed {_clock(start)}–{_clock(end)}", start)
        for start, end in unheard
    )
