"""Speech → words with timestamps and probabilities (faster-whisper, CPU, int8).

One `Transcriber` per worker process: loading is the expensive part, so callers get it
through `get_transcriber`, which caches by model settings.

Decoding is faster-whisper's batched mode: voice activity detection cuts the recording at
pauses into chunks of up to 30 s, and the chunks of a dictation are decoded together. On
dictation-length recordings this beats the sequential 30-s sliding window (no window is
encoded twice, the beam search runs on a batch); see bench_pipeline.py.

Unlike the sliding window, a chunk is heard once: when the decoder stops early (often on a
sentence cut by a chunk's end) the rest of that chunk is lost. So each transcript is checked
against the speech that voice activity detection found, and speech with no word on it is
heard again on its own. What is still unheard is reported, for the secretary to listen to.
"""

from __future__ import annotations

import functools
import os
import threading
import time
from dataclasses import dataclass, field
from collections.abc import Callable
from typing import Protocol, Sequence
from pathlib import Path

import numpy as np

from pipeline.audio import SAMPLE_RATE
from pipeline.errors import ModelError, NoSpeech
from pipeline.modelstore import INSTALL_HINT, require_model
from pipeline.records import Transcript, Word
from pipeline.settings import Settings

# Speech this close to a recognised word counts as heard: word times are approximate and
# voice activity detection pads speech by 0.4 s.
HEARD_MARGIN_S = 0.5
# Shorter stretches of unheard speech are breaths, fillers ("euh") or clicks.
MIN_UNHEARD_S = 1.5
MAX_CLIP_S = 30.0  # Whisper's window
# Encoder outputs kept for a second listening (1.5 MB a chunk in float16): about 20 minutes of
# speech; a longer recording's later spans are encoded again when heard again.
MAX_KEPT_CHUNKS = 40
CHUNK_EDGE_S = 0.05  # word times are rounded: a word this close to a chunk's edge is inside it
Span = tuple[float, float]  # start, end in seconds on the recording


@dataclass(frozen=True, slots=True)
class TranscriberConfig:
    """The settings that change the loaded model or its decoding, hashable for the cache."""

    model_dir: str
    bundled: bool
    compute_type: str
    device: str
    cpu_threads: int
    beam_size: int
    chunk_batch_size: int  # chunks of one dictation decoded together
    language: str
    parallel: int  # decodings at once, each on its own CPU threads (CTranslate2 inter_threads)
    engine: str = "faster-whisper"

    @property
    def threads_per_decoding(self) -> int:
        """On 2 cores, two decodings with one thread each beat one decoding with two (measured:
        1.26× on minute-long recordings, same words): the decoder's matrices are too small to share."""
        if self.cpu_threads or self.parallel == 1:
            return self.cpu_threads  # 0 lets CTranslate2 decide
        return max(1, (os.cpu_count() or 1) // self.parallel)

    @classmethod
    def from_settings(cls, settings: Settings, *, author: str | None = None) -> TranscriberConfig:
        """For an author's dictations (his inbox folder): his own adapted model if he has one in use."""
        from pipeline.modelstore import BUNDLED_NAME

        model_dir = settings.whisper_model_dir_for(author)
        return cls(
            model_dir=str(model_dir),
            bundled=model_dir == settings.models_dir / BUNDLED_NAME,
            compute_type=settings.compute_type,
            device=settings.device,
            cpu_threads=settings.cpu_threads,
            beam_size=settings.beam_size,
            chunk_batch_size=settings.chunk_batch_size,
            language=settings.language,
            parallel=settings.workers,
            engine=settings.engine,
        )


@dataclass(frozen=True, slots=True)
class TranscriptionOptions:
    """What we ask of the recogniser, as faster-whisper's own options are (a dataclass), for its
    sequential sliding window (the benchmark's baseline) or its batched decoder (ours)."""

    language: str
    beam_size: int
    vad_filter: bool = True
    word_timestamps: bool = True
    condition_on_previous_text: bool | None = None
    batch_size: int | None = None
    without_timestamps: bool | None = None

    @classmethod
    def sequential(cls, config: TranscriberConfig) -> TranscriptionOptions:
        # Dictations are long monologues: conditioning on previous text feeds loops.
        return cls(config.language, config.beam_size, condition_on_previous_text=False)

    @classmethod
    def batched(cls, config: TranscriberConfig) -> TranscriptionOptions:
        # Timestamp tokens keep the decoder going to the end of a 30-s chunk; without them it
        # sometimes stops after the first sentence (measured: +2.3 WER points on 1-min recordings).
        return cls(config.language, config.beam_size, batch_size=config.chunk_batch_size, without_timestamps=False)

    def as_kwargs(self) -> dict:
        """The keyword arguments of faster-whisper's transcribe (unset ones left to its defaults)."""
        return {name: getattr(self, name) for name in self.__slots__ if getattr(self, name) is not None}


def speech_spans(audio: np.ndarray) -> list[Span]:
    """Where voice activity detection hears speech, in seconds (the batched decoder's settings)."""
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    options = VadOptions(min_silence_duration_ms=160, max_speech_duration_s=MAX_CLIP_S)
    return [(span["start"] / SAMPLE_RATE, span["end"] / SAMPLE_RATE) for span in get_speech_timestamps(audio, options)]


def unheard_spans(speech: list[Span], words: list[Span]) -> list[Span]:
    """Stretches of speech no recognised word covers, each at least MIN_UNHEARD_S long.
    `words` are (start, end) sorted by start."""
    unheard = []
    for speech_start, speech_end in speech:
        cursor = speech_start
        for word_start, word_end in words:
            if word_end + HEARD_MARGIN_S <= cursor or word_start - HEARD_MARGIN_S >= speech_end:
                continue
            if word_start - HEARD_MARGIN_S > cursor:
                unheard.append((cursor, word_start - HEARD_MARGIN_S))
            cursor = max(cursor, word_end + HEARD_MARGIN_S)
        if speech_end > cursor:
            unheard.append((cursor, speech_end))
    return [(start, end) for start, end in unheard if end - start >= MIN_UNHEARD_S]


def word_spans(segments) -> list[Span]:
    """(start, end) of every recognised word, in time order."""
    return sorted((word.start, word.end) for segment in segments for word in segment.words or ())


def clips_for(spans: list[Span], duration_s: float) -> list[dict]:
    """The spans as the decoder's clips: a little wider (not past the words already heard,
    HEARD_MARGIN_S away), none longer than Whisper's window."""
    clips = []
    for start, end in spans:
        start, end = max(0.0, start - 0.2), min(duration_s, end + 0.2)
        while start < end:
            clips.append({"start": start, "end": min(end, start + MAX_CLIP_S)})
            start += MAX_CLIP_S
    return clips


@dataclass(frozen=True, slots=True)
class HeardChunk:
    offset_s: float
    duration_s: float
    encoded: np.ndarray = field(repr=False)  # the encoder's output on the chunk: (1, 1500, width), float16


@dataclass(slots=True)
class Listening:
    """What the first pass's encoder made of each chunk of one recording, kept (only when asked,
    only for the time of one dictation's recognition: never stored) so that scoring a doubtful
    span again costs the decoder only — a 30-s window's encoding is most of a short listening."""

    chunks: list[HeardChunk] = field(default_factory=list)

    def chunk_holding(self, start_s: float, end_s: float) -> HeardChunk | None:
        for chunk in self.chunks:
            if chunk.offset_s - CHUNK_EDGE_S <= start_s and end_s <= chunk.offset_s + chunk.duration_s + CHUNK_EDGE_S:
                return chunk
        return None


def _keeping_pipeline(model, listening: Listening):
    """faster-whisper's batched pipeline, keeping each chunk's encoder output in `listening`."""
    from faster_whisper import BatchedInferencePipeline

    class KeepingPipeline(BatchedInferencePipeline):
        def forward(self, features, tokenizer, chunks_metadata, options):
            self._chunks_metadata = chunks_metadata
            return super().forward(features, tokenizer, chunks_metadata, options)

        def generate_segment_batched(self, features, tokenizer, options):
            encoder_output, outputs = super().generate_segment_batched(features, tokenizer, options)
            try:
                encoded = np.array(encoder_output)  # on the CPU; on a GPU this copy fails: nothing kept
            except (TypeError, ValueError, RuntimeError):
                return encoder_output, outputs
            for index, metadata in enumerate(self._chunks_metadata[:max(0, MAX_KEPT_CHUNKS - len(listening.chunks))]):
                listening.chunks.append(HeardChunk(float(metadata["offset"]), float(metadata["duration"]),
                                                   encoded[index:index + 1].astype(np.float16)))
            return encoder_output, outputs

    return KeepingPipeline(model)


class Recognizer(Protocol):
    """What the pipeline asks of a speech recognizer: faster-whisper here, a fake in tests."""

    def transcribe(self, audio: np.ndarray, *, initial_prompt: str | None = None,
                   hotwords: str | None = None, listening: Listening | None = None) -> Transcript: ...

    def detect_language(self, audio: np.ndarray) -> tuple[str, float]: ...

    def score_readings(self, audio: np.ndarray, readings: Sequence[str], *, prompt: str | None = None,
                       heard: HeardChunk | None = None, context: str = "") -> list[float]: ...


class Transcriber:
    def __init__(self, config: TranscriberConfig) -> None:
        from faster_whisper import WhisperModel  # heavy import, kept off the CLI's start-up path

        model_dir = require_model(Path(config.model_dir), bundled=config.bundled)
        self.config = config
        try:
            self._model = WhisperModel(
                str(model_dir), device=config.device, compute_type=config.compute_type,
                cpu_threads=config.threads_per_decoding, num_workers=config.parallel,
            )
        except (RuntimeError, ValueError, OSError) as error:  # CTranslate2 on a damaged or foreign file
            raise ModelError(f"modèle de reconnaissance illisible / speech model unreadable at {model_dir} "
                             f"({type(error).__name__}); {INSTALL_HINT}") from None
        # As many decodings at once as the model has workers; more would only queue inside it.
        self._lock = threading.BoundedSemaphore(config.parallel)

    def transcribe(self, audio: np.ndarray, *, initial_prompt: str | None = None,
                   hotwords: str | None = None, listening: Listening | None = None) -> Transcript:
        """With `listening`, each chunk's encoder output is kept there for `score_readings`."""
        from faster_whisper import BatchedInferencePipeline  # already loaded with the model

        with self._lock:
            started = time.perf_counter()
            # A pipeline per call: it keeps per-recording state (last word end) between chunks.
            options = TranscriptionOptions.batched(self.config).as_kwargs()
            pipeline = BatchedInferencePipeline(self._model) if listening is None else \
                _keeping_pipeline(self._model, listening)
            segments, info = pipeline.transcribe(
                audio, initial_prompt=initial_prompt, hotwords=hotwords, **options
            )
            segments, unheard = self._hear_gaps_again(audio, list(segments), initial_prompt, hotwords, info.duration)
            elapsed = time.perf_counter() - started
        words = tuple(
            Word(
                start=round(float(word.start), 2),
                end=round(float(word.end), 2),
                word=word.word,
                probability=round(float(word.probability), 3),
            )
            for segment in segments
            for word in (segment.words or ())
        )
        raw = "".join(segment.text for segment in segments).strip()
        if not raw:
            raise NoSpeech(
                "no_speech",
                "Aucune parole reconnue dans l'enregistrement (silence ou bruit).",
                "No speech was recognised in the recording (silence or noise).",
            )
        return Transcript(
            raw=raw,
            language=info.language,
            language_probability=round(float(info.language_probability), 3),
            words=words,
            duration_s=round(float(info.duration), 2),
            elapsed_s=elapsed,
            unheard=tuple((round(start, 2), round(end, 2)) for start, end in unheard),
        )

    def _hear_gaps_again(self, audio: np.ndarray, segments: list, initial_prompt: str | None,
                         hotwords: str | None, duration_s: float) -> tuple[list, list[Span]]:
        """Decode again, on their own, the stretches of speech the first pass left without words.
        Returns all segments in time order and the speech still unheard."""
        from faster_whisper import BatchedInferencePipeline

        heard = word_spans(segments)
        if not heard:
            return segments, []  # nothing heard at all: silence or noise, not a gap
        gaps = unheard_spans(speech_spans(audio), heard)
        if not gaps:
            return segments, []
        # Given clips, faster-whisper decodes each as it is: no voice activity detection again.
        again, _ = BatchedInferencePipeline(self._model).transcribe(
            audio, initial_prompt=initial_prompt, hotwords=hotwords, clip_timestamps=clips_for(gaps, duration_s),
            **TranscriptionOptions.batched(self.config).as_kwargs(),
        )
        segments = sorted(segments + [segment for segment in again if segment.words], key=lambda segment: segment.start)
        return segments, unheard_spans(gaps, word_spans(segments))

    def score_readings(self, audio: np.ndarray, readings: Sequence[str], *, prompt: str | None = None,
                       heard: HeardChunk | None = None, context: str = "") -> list[float]:
        """How likely the model finds each reading of one short clip (at most Whisper's window):
        the log-probability of its tokens, forced one after the other (CTranslate2's align), after
        `prompt` as previous text. Readings of the same clip compare; nothing else does.

        With `heard` (the first pass's chunk holding the clip, its encoder output kept), the
        chunk is not encoded again: the readings are scored after `context`, what the chunk says
        before them, forced and not counted."""
        import ctranslate2
        from faster_whisper.tokenizer import Tokenizer

        model = self._model
        tokenizer = Tokenizer(model.hf_tokenizer, model.model.is_multilingual, task="transcribe",
                              language=self.config.language)
        start = list(tokenizer.sot_sequence)
        if prompt:
            start = [tokenizer.sot_prev, *tokenizer.encode(" " + prompt.strip())[-(model.max_length // 2 - 1):], *start]
        with self._lock:
            if heard is not None:
                encoded = ctranslate2.StorageView.from_array(heard.encoded.astype(np.float32))
                frames = min(round(heard.duration_s * model.feature_extractor.sampling_rate
                                   / model.feature_extractor.hop_length), model.feature_extractor.nb_max_frames)
                if context.strip():  # its end only, if the window would not hold it all
                    start += tokenizer.encode(" " + context.strip())[-(model.max_length // 3):]
            else:
                features = model.feature_extractor(audio)
                frames = min(features.shape[-1], model.feature_extractor.nb_max_frames)
                padded = np.zeros((features.shape[0], model.feature_extractor.nb_max_frames), dtype=features.dtype)
                padded[:, :frames] = features[:, :frames]
                encoded = model.encode(padded)
            scores = []
            for reading in readings:
                tokens = tokenizer.encode(" " + reading.strip()) if reading.strip() else []
                if not tokens or len(start) + len(tokens) >= model.max_length:  # nothing, or more than a window holds
                    scores.append(float("-inf"))
                    continue
                (aligned,) = model.model.align(encoded, start, [tokens], frames)
                scores.append(float(np.sum(np.log(np.maximum(aligned.text_token_probs, 1e-12)))))
        return scores

    def detect_language(self, audio: np.ndarray) -> tuple[str, float]:
        with self._lock:
            language, probability, _ = self._model.detect_language(audio)
        return language, round(float(probability), 3)


# The recognizers the pipeline can run, by the `engine` setting: a second one is a class behind
# `Recognizer` and its entry here. Tests put a fake in through this same seam.
ENGINES: dict[str, Callable[[TranscriberConfig], Recognizer]] = {"faster-whisper": Transcriber}


@functools.lru_cache(maxsize=4)  # the practice's model and a few authors' own
def get_transcriber(config: TranscriberConfig) -> Recognizer:
    """The recognizer for these settings, loaded once per process."""
    return ENGINES[config.engine](config)
