"""The gate: a candidate model replaces the one in use only if it measures better on held-out
examples — letters of this practice it was not trained on.

Two figures, on the same clips, decoded the same way by both models:
- word error rate against the approved text (pipeline.evaluation, as for FLEURS);
- medical-term recall: of the words of the references that are medical terms (in the medical
  lexicon or the practice's, and rare in general French), how many the model wrote.
Better means no worse on either, and better on one.

A third guards what letters are mostly made of: ordinary French. Both models read a small
shipped set of read French (`general_french/`, FLEURS, CC BY 4.0) — the clips, and minute-long
recordings joined from them heard as the pipeline hears a dictation — and a candidate that loses
more than MAX_GENERAL_LOSS of WER there is refused, whatever it gains on medical words (a model
adapted on 180 dictations lost 5.8 points on FLEURS while its medical recall doubled; one adapted
on short synthetic dictations lost 1.3 points on the clips and 8.4 on minute-long recordings).
"""

from __future__ import annotations

import dataclasses
import functools
from collections import Counter
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from pipeline.evaluation import corpus_wer, normalize_for_wer
from pipeline.french import fold

# Rarer than this in general French (wordfreq's zipf scale): « hypertension » 3.3, « fibrillation »
# 2.5 count; « cardiaque » 4.2, « traitement » 4.9 are everyday words a model already knows.
MEDICAL_MAX_ZIPF = 4.0
MIN_TERM_LETTERS = 5
GENERAL_FRENCH = Path(__file__).parent / "general_french"
JOINED_CLIPS = 5  # clips per minute-long recording of the general-French set
JOINED_PAUSE_S = 0.7
MAX_GENERAL_LOSS = 0.01  # one point of WER on ordinary French


@dataclass(frozen=True, slots=True)
class Scores:
    wer: float
    term_recall: float | None  # None: no medical term in the references
    terms: int
    clips: int
    general_wer: float | None = None  # on the general-French set; None: not measured

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class Verdict:
    current: Scores
    candidate: Scores
    promote: bool
    reason: str


@functools.lru_cache(maxsize=2)
def _medical_words(models_dir: Path | None) -> frozenset[str]:
    from wordfreq import zipf_frequency

    from pipeline.lexicon import medical_terms

    words = {word for term in medical_terms(models_dir) for word in normalize_for_wer(term)}
    return frozenset(fold(word) for word in words
                     if len(word) >= MIN_TERM_LETTERS and zipf_frequency(word, "fr") < MEDICAL_MAX_ZIPF)


def medical_words_of(text: str, vocabulary: frozenset[str]) -> Counter:
    return Counter(folded for word in normalize_for_wer(text) if (folded := fold(word)) in vocabulary)


def term_recall(pairs: Sequence[tuple[str, str]], vocabulary: frozenset[str]) -> tuple[float | None, int]:
    """(share of the references' medical-term occurrences found in the hypotheses, their number)."""
    found = total = 0
    for reference, hypothesis in pairs:
        wanted, written = medical_words_of(reference, vocabulary), Counter(map(fold, normalize_for_wer(hypothesis)))
        total += sum(wanted.values())
        found += sum(min(count, written[word]) for word, count in wanted.items())
    return (found / total if total else None), total


def term_vocabulary(models_dir: Path | None, practice_words: Sequence[str] = ()) -> frozenset[str]:
    return _medical_words(models_dir) | {fold(word) for text in practice_words for word in normalize_for_wer(text)}


def score(transcribe: Callable[[np.ndarray], str], clips: Sequence[tuple[np.ndarray, str]],
          vocabulary: frozenset[str]) -> Scores:
    pairs = [(text, transcribe(samples)) for samples, text in clips]
    recall, terms = term_recall(pairs, vocabulary)
    return Scores(round(corpus_wer(pairs), 4), None if recall is None else round(recall, 4), terms, len(clips))


def clip_transcriber(model_dir: Path, *, language: str, beam_size: int, compute_type: str = "int8",
                     device: str = "auto") -> Callable[[np.ndarray], str]:
    """One clip (at most 30 s) as the pipeline decodes a chunk: with timestamps, no prompt."""
    from faster_whisper import WhisperModel

    model = WhisperModel(str(model_dir), device=device, compute_type=compute_type)

    def transcribe(samples: np.ndarray) -> str:
        segments, _ = model.transcribe(samples, language=language, beam_size=beam_size, vad_filter=False,
                                       condition_on_previous_text=False)
        return " ".join(segment.text.strip() for segment in segments)

    return transcribe


def general_french_clips() -> list[tuple[np.ndarray, str]]:
    """The shipped read-French clips (16 kHz samples) with their reference text."""
    from faster_whisper.audio import decode_audio

    return [(decode_audio(str(path), sampling_rate=16_000), path.with_suffix(".txt").read_text(encoding="utf-8").strip())
            for path in sorted(GENERAL_FRENCH.glob("*.ogg"))]


def general_french_set() -> list[tuple[np.ndarray, str]]:
    """The clips, then the same clips joined JOINED_CLIPS at a time with a pause between them:
    minute-long recordings, as dictations are (a model trained on short segments may forget how
    to go on through a long one, and the clips alone do not show it)."""
    clips = general_french_clips()
    pause = np.zeros(int(JOINED_PAUSE_S * 16_000), dtype=np.float32)
    joined = [(np.concatenate([part for samples, _ in group for part in (samples, pause)]),
               " ".join(text for _, text in group))
              for group in (clips[start:start + JOINED_CLIPS] for start in range(0, len(clips), JOINED_CLIPS))]
    return clips + joined


def recording_transcriber(model_dir: Path, config) -> Callable[[np.ndarray], str]:
    """A clip or a whole recording as the pipeline hears a dictation (`config`: its
    TranscriberConfig; the batched decoder, speech left without words heard again)."""
    from pipeline.transcribe import NoSpeech, Transcriber

    transcriber = Transcriber(dataclasses.replace(config, model_dir=str(model_dir), bundled=False))

    def transcribe(samples: np.ndarray) -> str:
        try:
            return transcriber.transcribe(samples).raw
        except NoSpeech:
            return ""

    return transcribe


def general_wer(transcribe: Callable[[np.ndarray], str], clips: Sequence[tuple[np.ndarray, str]]) -> float:
    return round(corpus_wer([(text, transcribe(samples)) for samples, text in clips]), 4)


def loses_general_french(reference: float | None, candidate: Scores) -> bool:
    return None not in (reference, candidate.general_wer) and candidate.general_wer > reference + MAX_GENERAL_LOSS


def only_general_french_lost(current: Scores, candidate: Scores, general_reference: float | None = None) -> bool:
    """Better on the practice's letters, refused for the general French it lost: a mix of it with
    the bundled weights may keep both."""
    reference = current.general_wer if general_reference is None else general_reference
    return loses_general_french(reference, candidate) and \
        judge(replace(current, general_wer=None), replace(candidate, general_wer=None)).promote


def judge(current: Scores, candidate: Scores, *, general_reference: float | None = None) -> Verdict:
    """`general_reference`: the general-French WER not to lose more than a point of (default:
    the current model's; the run passes the bundled model's)."""
    recall_now, recall_new = current.term_recall or 0.0, candidate.term_recall or 0.0
    reference = current.general_wer if general_reference is None else general_reference
    if loses_general_french(reference, candidate):
        return Verdict(current, candidate, False,
                       f"moins bon en français courant / worse on general French (WER {reference:.3f} → "
                       f"{candidate.general_wer:.3f}, plus de {MAX_GENERAL_LOSS * 100:.0f} point)")
    if candidate.wer > current.wer:
        return Verdict(current, candidate, False,
                       f"WER plus élevé / higher WER ({candidate.wer:.3f} > {current.wer:.3f})")
    if recall_new < recall_now:
        return Verdict(current, candidate, False,
                       f"moins de termes médicaux reconnus / lower term recall ({recall_new:.2f} < {recall_now:.2f})")
    if candidate.wer == current.wer and recall_new == recall_now:
        return Verdict(current, candidate, False, "pas meilleur / not better")
    return Verdict(current, candidate, True, "meilleur / better")
