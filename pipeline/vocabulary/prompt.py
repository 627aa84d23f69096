"""The initial prompt that primes Whisper with medical vocabulary, and detection of its echo."""

from __future__ import annotations

from typing import Sequence

from pipeline.vocabulary import patterns as P
from pipeline.vocabulary.corrector import Term


def initial_prompt(practice_names: Sequence[Term] = ()) -> str:
    """Head, common drugs, then the practice's correspondents, cut at PROMPT_MAX_CHARS."""
    prompt = P.PROMPT_HEAD
    for item in [*P.COMMON_DRUGS, *(f"Docteur {t.text}" for t in practice_names)]:
        candidate = f"{prompt} {item}," if prompt.endswith(",") or prompt == P.PROMPT_HEAD else f"{prompt} {item},"
        if len(candidate) > P.PROMPT_MAX_CHARS:
            break
        prompt = candidate
    return prompt.rstrip(",") + "."


def hotwords(specialty: str | None, practice_names: Sequence[Term] = ()) -> str:
    """Words to bias recognition towards, within Whisper's room for them (~223 tokens): the
    practice's correspondents first (no general model knows them), then the specialty's terms."""
    from pipeline.lexicon import specialty_terms

    chosen: list[str] = []
    length = 0
    for item in [*(t.text for t in practice_names), *specialty_terms(specialty)]:
        if length + len(item) + 2 > P.HOTWORDS_MAX_CHARS:
            break
        chosen.append(item)
        length += len(item) + 2
    return ", ".join(chosen)


def echoes_prompt(transcript: str, prompt: str) -> bool:
    """Whisper sometimes recites its prompt instead of the audio: a run of prompt words."""
    said = [w.strip(",.").lower() for w in transcript.split()]
    given = [w.strip(",.").lower() for w in prompt.split()]
    runs = {tuple(given[i:i + P.ECHO_MIN_WORDS]) for i in range(len(given) - P.ECHO_MIN_WORDS + 1)}
    return any(tuple(said[i:i + P.ECHO_MIN_WORDS]) in runs for i in range(len(said) - P.ECHO_MIN_WORDS + 1))
