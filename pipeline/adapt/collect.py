"""Where examples and learned words come from: each approved letter, and a practice's archive.

`learn_from_approved` runs when a letter is filed: the words the secretary corrected join the
practice lexicon, and the audio with the final text becomes a training example. It never
stands in the way of filing: a failure is logged by job id and the letter stays filed.

`import_archive` takes a folder of recordings with their typed letters beside them
(`name.wav` + `name.txt`): each recording is heard by the current recognizer, for the word
times the letter is aligned to. Pairs that cannot teach anything are skipped with a reason.
"""

from __future__ import annotations

import functools
import hashlib
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from pipeline import audio
from pipeline.adapt.align import distance, heard_tokens, letter_segments
from pipeline.adapt.examples import ExampleStore, decode_bytes
from pipeline.adapt.learned import PracticeLexicon, corrected_words, learned_words
from pipeline.errors import BadInput
from pipeline.result import letter_text
from pipeline.french import fold
from pipeline.records import TimedSpan
from pipeline.settings import Settings
from pipeline.transcribe import Recognizer
from pipeline.typed import read_typed
from pipeline.store import JobFiles, Outbox
from pipeline.vocabulary.corrector import practice_terms

log = logging.getLogger("dictee.adapt")

# A letter whose words are more than this far from what the recognizer heard is another
# text, or a recording of something else: it would teach the model to invent.
MAX_IMPORT_DISTANCE = 0.7
TEXT_SUFFIX = ".txt"


@functools.lru_cache(maxsize=2)
def _lexicon_words(models_dir: Path | None) -> frozenset[str]:
    from pipeline.lexicon import medical_terms

    return frozenset(fold(word) for term in medical_terms(models_dir) for word in term.split())


def is_known_word(word: str, models_dir: Path | None, practice: frozenset[str] = frozenset()) -> bool:
    from pipeline.vocabulary.repair import is_common_french

    folded = fold(word)
    return folded in practice or folded in _lexicon_words(models_dir) or is_common_french(word.lower())


def _practice_words(settings: Settings, outbox: Outbox) -> frozenset[str]:
    """What the practice already knows: its list of names and the words learned so far."""
    listed = practice_terms(settings.practice_vocabulary)
    return frozenset(fold(word.text) for word in learned_words(outbox)) | {fold(t.text) for t in listed}


def _spans(result: dict) -> list[TimedSpan]:
    return [TimedSpan(s["start"], s["end"], s.get("audio_start"), s.get("audio_end"))
            for s in result["transcript"].get("spans", [])]


def learn_from_approved(settings: Settings, files: JobFiles, result: dict) -> None:
    """The lexicon first (cheap, and what the next dictation needs), then the example."""
    outbox = files.outbox
    job_id = result["job_id"]
    try:
        heard, final = result["transcript"]["text"], letter_text(result)
        practice = _practice_words(settings, outbox)
        found = corrected_words(heard, final, is_known=lambda word: is_known_word(word, settings.models_dir, practice))
        new = PracticeLexicon(outbox).add(found, job_id=job_id)
        if new:
            log.info("job %s: %d word(s) added to the practice lexicon", job_id, len(new))
        recording = files.audio
        if recording is None:
            return  # typed notes: nothing to hear
        samples = decode_bytes(outbox.read_bytes(recording))
        segments = letter_segments(final, heard_tokens(heard, _spans(result)), duration_s=len(samples) / audio.SAMPLE_RATE)
        if segments:
            ExampleStore(outbox).add(job_id, samples, segments, origin="approved", author=result.get("author_folder"))
    except Exception as error:  # learning is a bonus; the letter is filed whatever happens here
        log.warning("job %s: not kept for adaptation (%s)", job_id, type(error).__name__)


@dataclass(slots=True)
class ImportReport:
    imported: int = 0
    segments: int = 0
    audio_s: float = 0.0
    skipped: dict[str, list[str]] = field(default_factory=dict)  # reason → file names (shown to the user only)

    def skip(self, reason: str, name: str) -> None:
        self.skipped.setdefault(reason, []).append(name)


SKIP_REASONS = {
    "no_text": "pas de texte à côté (nom.txt) / no text beside it (name.txt)",
    "empty_text": "texte vide / empty text",
    "unreadable_text": "texte illisible / unreadable text",
    "unreadable_audio": "audio illisible / unreadable audio",
    "far_from_audio": "texte trop éloigné de ce qui est entendu / text far from what is heard",
    "already_imported": "déjà importé / already imported",
}


def example_id_of(data: bytes) -> str:
    return "imp-" + hashlib.sha256(data).hexdigest()[:16]


def import_archive(directory: Path, settings: Settings, *, recognizer: Recognizer | None = None,
                   author: str | None = None,
                   on_file: Callable[[int, int], None] = lambda done, total: None) -> ImportReport:
    """Every recording of `directory` with a `.txt` of the same name becomes an example, its
    words timed by `recognizer` (default: the one the settings load), dictated by `author` (his
    inbox folder; None: not said)."""
    from pipeline.normalize import normalize_dictation
    from pipeline.transcribe import TranscriberConfig, get_transcriber

    store = ExampleStore(settings.store())
    report = ImportReport()
    recordings = sorted(p for p in directory.iterdir() if p.is_file() and p.suffix.lower() != TEXT_SUFFIX
                        and not p.name.startswith("."))
    for done, recording in enumerate(recordings):
        on_file(done, len(recordings))
        text_file = recording.with_suffix(TEXT_SUFFIX)
        if not text_file.is_file():
            report.skip("no_text", recording.name)
            continue
        try:  # read as typed notes are: UTF-8, or Windows-1252 as practice software writes it
            letter = read_typed(text_file.read_bytes(), TEXT_SUFFIX)
        except BadInput as error:
            report.skip("empty_text" if error.code == "empty_text" else "unreadable_text", recording.name)
            continue
        example_id = example_id_of(recording.read_bytes())
        if example_id in store:
            report.skip("already_imported", recording.name)
            continue
        try:
            samples = audio.decode(recording, min_duration_s=settings.min_duration_s, max_duration_s=settings.max_duration_s,
                                   max_file_mb=settings.max_file_mb)
            recognizer = recognizer or get_transcriber(TranscriberConfig.from_settings(settings))
            transcript = recognizer.transcribe(samples)
        except BadInput as error:  # unreadable, silent, or nothing recognised in it
            report.skip("unreadable_audio" if error.code != "no_speech" else "far_from_audio", recording.name)
            continue
        heard = normalize_dictation(transcript.words)
        if distance(letter, heard.text) > MAX_IMPORT_DISTANCE:
            report.skip("far_from_audio", recording.name)
            continue
        segments = letter_segments(letter, heard_tokens(heard.text, heard.spans), duration_s=transcript.duration_s)
        if not segments:
            report.skip("far_from_audio", recording.name)
            continue
        store.add(example_id, samples, segments, origin="imported", author=author)
        report.imported += 1
        report.segments += len(segments)
        report.audio_s += sum(segment.end - segment.start for segment in segments)
    on_file(len(recordings), len(recordings))
    return report
