"""One dictation through every stage, as plain functions (flows.py wraps each as a task)."""

from __future__ import annotations

import datetime as dt
import gc
import logging
import os
import socket
import threading
import time
from dataclasses import dataclass, replace

import numpy as np

from pipeline import audio, guards, hints, ingest, progress, typed
from pipeline.directory import appointments, correspondents, patients
from pipeline.draft import render_draft
from pipeline.errors import BadInput
from pipeline.extract import FLAG_MENTION, extract, warm_up
from pipeline.extract.identity import with_current_identity_flags
from pipeline.normalize import normalize_dictation, normalize_text
from pipeline.records import Dictation, Extraction, Flag, FlagKind, JobOutcome, NormalizedText, Recipient, Timings, Transcript
from pipeline.result import CorrespondentLinkOut, CorrespondentLinksOut, DictationResult, IdentityLinkOut
from pipeline.settings import Settings
from pipeline.transcribe import Listening, TranscriberConfig, get_transcriber
from pipeline.vocabulary import Corrector, Repairer, echoes_prompt, hotwords, initial_prompt
from pipeline.vocabulary.handle import Vocabulary
from pipeline.vocabulary.redecode import redecode

log = logging.getLogger("dictee.job")


@dataclass(frozen=True, slots=True)
class Heard:
    """A dictation after speech recognition."""

    dictation: Dictation
    transcript: Transcript
    timings: Timings
    flags: tuple[Flag, ...] = ()


@dataclass(frozen=True, slots=True)
class Understood:
    heard: Heard
    normalized: NormalizedText
    extraction: Extraction
    timings: Timings
    flags: tuple[Flag, ...] = ()


_loaded: set[TranscriberConfig] = set()
_loading = threading.Lock()  # two tasks of one Dask worker start together: one loads, the other waits


def load_models(settings: Settings) -> None:
    """Load the recognizer and the NLP lexicons once per process, then freeze the heap.

    faster-whisper runs gc.collect() after decoding each file; with spaCy and the lexicons
    loaded, a full collection walks millions of long-lived objects (~150 ms a file).
    Freezing moves them out of the collector's sight.
    """
    config = TranscriberConfig.from_settings(settings)
    with _loading:
        if config in _loaded:
            return
        settings.vault()  # a bad key stops the run before any work, not one job at a time
        get_transcriber(config)
        warm_up(settings.models_dir)
        vocabulary = Vocabulary.from_settings(settings)
        corrector_for(settings, vocabulary)
        repairer_for(settings, vocabulary)
        gc.freeze()
        _loaded.add(config)


def corrector_for(settings: Settings, vocabulary: Vocabulary | None = None) -> Corrector | None:
    if not settings.vocabulary_correction:
        return None
    return (vocabulary or Vocabulary.from_settings(settings)).corrector()


def repairer_for(settings: Settings, vocabulary: Vocabulary | None = None) -> Repairer | None:
    if not settings.vocabulary_repair:
        return None
    return (vocabulary or Vocabulary.from_settings(settings)).repairer()


def hotwords_for(settings: Settings, author: str | None, vocabulary: Vocabulary | None = None) -> str | None:
    if not settings.vocabulary_hotwords:
        return None
    names = (vocabulary or Vocabulary.from_settings(settings)).spoken_names()
    return hotwords(settings.practitioner(author).specialty, names) or None


def prompt_for(settings: Settings, vocabulary: Vocabulary | None = None) -> str | None:
    if not settings.vocabulary_prompt:
        return None
    return initial_prompt((vocabulary or Vocabulary.from_settings(settings)).spoken_names())


def decode_step(dictation: Dictation, settings: Settings) -> np.ndarray:
    if typed.is_typed(dictation.path):
        audio.check_size(dictation.path, max_file_mb=settings.max_file_mb)
        return np.zeros(0, dtype=np.float32)  # typed notes: nothing to hear
    return audio.decode(dictation.path, min_duration_s=settings.min_duration_s,
                        max_duration_s=settings.max_duration_s, max_file_mb=settings.max_file_mb)


def transcribe_step(dictation: Dictation, samples: np.ndarray, settings: Settings, *, decode_s: float = 0.0) -> Heard:
    if typed.is_typed(dictation.path):
        text = typed.read_typed(dictation.path.read_bytes(), dictation.path.suffix)
        return Heard(dictation, typed.typed_transcript(text), Timings(decode_s=decode_s))
    transcriber = get_transcriber(TranscriberConfig.from_settings(settings, author=dictation.author))
    vocabulary = Vocabulary.from_settings(settings)
    prompt = prompt_for(settings, vocabulary)
    bias = hotwords_for(settings, dictation.author, vocabulary)
    repairer = repairer_for(settings, vocabulary) if settings.vocabulary_redecode else None
    # Kept for re-decoding only: scoring a doubtful span on its chunk's encoding costs no new encoding.
    listening = Listening() if repairer is not None else None
    transcript = transcriber.transcribe(samples, initial_prompt=prompt, hotwords=bias, listening=listening)
    flags: tuple[Flag, ...] = ()
    recognition_s = transcript.elapsed_s
    if any(given and echoes_prompt(transcript.raw, given) for given in (prompt, bias)):
        # Whisper recited the vocabulary it was given: hear the audio again without it.
        listening = Listening() if listening is not None else None
        transcript = transcriber.transcribe(samples, listening=listening)
        recognition_s += transcript.elapsed_s
        flags = (Flag(FlagKind.PROMPT_ECHO, "le prompt de vocabulaire a été répété ; retranscrit sans / prompt echoed; re-transcribed without it"),)
    if settings.language_check:
        flags += language_flags(transcriber.detect_language(samples), expected=settings.language)
    guarded_words, guard_flags = guards.guard(transcript.words, samples)
    flags += guard_flags + guards.unheard_flags(transcript.unheard)
    if repairer is not None:
        started = time.perf_counter()
        guarded_words, heard_again, _ = redecode(guarded_words, samples, transcriber, repairer, listening)
        flags += heard_again
        recognition_s += time.perf_counter() - started
    transcript = replace(transcript, words=guarded_words)
    timings = Timings(decode_s=decode_s, transcribe_s=recognition_s)
    return Heard(replace(dictation, duration_s=transcript.duration_s), transcript, timings, flags)


def language_flags(detected: tuple[str, float], *, expected: str) -> tuple[Flag, ...]:
    language, probability = detected
    if language == expected or probability < 0.5:
        return ()
    return (Flag(FlagKind.LANGUAGE, f"langue détectée / detected language: {language} ({probability:.0%})"),)


def understand_step(heard: Heard, settings: Settings) -> Understood:
    started = time.perf_counter()
    words, flags = heard.transcript.words, heard.flags
    vocabulary = Vocabulary.from_settings(settings)
    corrector = corrector_for(settings, vocabulary)
    if corrector is not None:
        words, corrections = corrector.correct(words)
        flags += corrections
    repairer = repairer_for(settings, vocabulary)
    if repairer is not None:
        words, repairs = repairer.repair(words)
        flags += repairs
    # Typed notes have no words, only their text: written dictation still says « virgule », « point à la ligne ».
    normalized = normalize_dictation(words) if words else normalize_text(heard.transcript.raw)
    normalized_at = time.perf_counter()
    extraction = extract(normalized, models_dir=settings.models_dir)
    timings = replace(
        heard.timings, normalize_s=normalized_at - started, extract_s=time.perf_counter() - normalized_at
    )
    return Understood(heard, normalized, extraction, timings, flags)


def returned_if_changed(dictation: Dictation, settings: Settings) -> JobOutcome | None:
    """Checked just before anything is published: a file that grew after its claim goes back to
    the inbox whole, to be processed again, instead of a draft of its first part."""
    if not ingest.changed_since_claim(dictation):
        return None
    ingest.return_to_inbox(dictation, inbox=settings.inbox)
    log.warning("job %s changed while being processed: back in the inbox", dictation.job_id)
    return JobOutcome(job_id=dictation.job_id, status="still_writing",
                      reason="modifié pendant le traitement, remis dans la boîte / changed while processed, back in the inbox")


def draft_step(understood: Understood, settings: Settings) -> JobOutcome:
    dictation = understood.heard.dictation
    returned = returned_if_changed(dictation, settings)
    if returned is not None:
        return returned
    started = time.perf_counter()
    practitioner = settings.practitioner(dictation.author)
    typed = hints.load_hints(settings.store(), dictation.job_id)  # « Dicter »: typed beside the audio
    extraction, identity_link = checked_against_register(hints.with_hints(understood.extraction, typed), settings,
                                                         day=local_day(dictation.received_at))
    extraction, correspondent_links = resolved_in_address_book(extraction, settings)
    flags = with_current_identity_flags(extraction.flags, extraction.patient)  # after hints and register
    extraction = replace(extraction, flags=timed(flags, extraction.mentions, understood.normalized))
    docx = render_draft(extraction, settings, practitioner=practitioner)
    timings = replace(understood.timings, draft_s=time.perf_counter() - started)
    result = DictationResult.build(
        dictation, understood.heard.transcript, understood.normalized, extraction, timings,
        low_confidence=settings.low_confidence, practitioner=practitioner,
        extra_flags=understood.flags,
        decodings_at_once=settings.workers,
        identity_link=identity_link,
        correspondent_links=correspondent_links,
    )
    outbox = settings.store()
    outbox.publish(dictation, docx, result.to_json())
    hints.discard_hints(outbox, dictation.job_id)
    return JobOutcome(
        job_id=dictation.job_id,
        status="drafted",
        duration_s=dictation.duration_s,
        document_type=understood.extraction.document_type,
        flags=len(result.flags),
        timings=timings,
        worker=f"{socket.gethostname()}:{os.getpid()}",
    )


def local_day(received_at: str | None) -> str:
    """The day a dictation was received, where the practice is (its appointments' day)."""
    when = dt.datetime.fromisoformat(received_at).astimezone() if received_at else dt.datetime.now()
    return when.date().isoformat()


def checked_against_register(extraction: Extraction, settings: Settings, *, day: str | None = None
                             ) -> tuple[Extraction, IdentityLinkOut | None]:
    """The dictated patient against the practice's register, when one is imported: linked
    (the letter then names them as the register does), or candidates flagged for the desk."""
    register = patients.cached(settings.store())
    if register is None:
        return extraction, None
    link = register.link(extraction.patient, agenda=appointments.cached(settings.store()), day=day)
    flags = list(extraction.flags) + list(link.flags)
    patient = extraction.patient
    if link.status == "automatic":
        patient = patients.registered_patient(link.patient, patient)
    elif link.status == "to_choose":
        flags.append(Flag(FlagKind.PATIENT_TO_CHOOSE, f"{len(link.candidates)} patient(s) possible(s) dans le registre"))
    return replace(extraction, patient=patient, flags=tuple(flags)), link.out()


def timed(flags: tuple[Flag, ...], mentions: dict[str, tuple[int, int]], normalized: NormalizedText
          ) -> tuple[Flag, ...]:
    """Each flag about something said (the patient, the NIR, the recipient) gets the time it was
    said: one click on the desk plays it."""
    def at(flag: Flag) -> Flag:
        span = mentions.get(FLAG_MENTION.get(flag.kind, ""))
        if flag.start is not None or span is None:
            return flag
        return replace(flag, start=normalized.audio_time(span[0]))

    return tuple(at(flag) for flag in flags)


def resolved_in_address_book(extraction: Extraction, settings: Settings
                             ) -> tuple[Extraction, CorrespondentLinksOut | None]:
    """The recipient and each « copie à » looked up in the practice's address book, when one is
    imported: resolved (the letter gets their address), or candidates flagged for the desk."""
    book = correspondents.cached(settings.store())
    if book is None:
        return extraction, None
    flags = list(extraction.flags)

    def resolved(dictated: Recipient | None) -> tuple[Recipient | None, CorrespondentLinkOut | None]:
        if dictated is None or not dictated.last_name:
            return dictated, None
        recipient, link = book.lookup(dictated)
        if link.status == "to_choose":
            flags.append(Flag(FlagKind.CORRESPONDENT_TO_CHOOSE, f"{len(link.candidates)} correspondant(s) possible(s)"))
        return recipient, link.out()

    recipient, recipient_link = resolved(extraction.recipient)
    copies, copy_links = zip(*(resolved(copy) for copy in extraction.copies)) if extraction.copies else ((), ())
    return (replace(extraction, recipient=recipient, copies=tuple(copies), flags=tuple(flags)),
            CorrespondentLinksOut(recipient=recipient_link, copies=list(copy_links)))


# What a file still being written looks like: held back, not quarantined, while it is fresh.
STILL_ARRIVING = frozenset({"truncated", "empty_file"})


def quarantine_step(dictation: Dictation, error: BadInput, settings: Settings) -> JobOutcome:
    returned = returned_if_changed(dictation, settings)  # « truncated » may only mean « still arriving »
    if returned is not None:
        return returned
    if error.code in STILL_ARRIVING and ingest.written_within(dictation, settings.write_wait_s):
        # A copy paused longer than the stability window: it goes back whole to the inbox, and is
        # quarantined only once it has stayed like this for `write_wait_s`.
        ingest.return_to_inbox(dictation, inbox=settings.inbox)
        log.warning("job %s looks unfinished (%s) and was written to lately: back in the inbox",
                    dictation.job_id, error.code)
        return JobOutcome(job_id=dictation.job_id, status="still_writing",
                          reason="encore en écriture, remis dans la boîte / still being written, back in the inbox")
    settings.store().quarantine(dictation, error)
    return JobOutcome(job_id=dictation.job_id, status="quarantined", reason=error.code)


def run_job(dictation: Dictation, settings: Settings) -> JobOutcome:
    """All stages in sequence, without Prefect (used by `dictee watch` and tests)."""
    try:
        started = time.perf_counter()
        samples = decode_step(dictation, settings)
        heard = transcribe_step(dictation, samples, settings, decode_s=time.perf_counter() - started)
        return draft_step(understand_step(heard, settings), settings)
    except BadInput as error:
        return quarantine_step(dictation, error, settings)


def begin_backlog(settings: Settings) -> tuple[list[Dictation], list[JobOutcome]]:
    """Claim the backlog and announce it to the progress listeners. Returns the jobs to run
    and the outcomes already known (re-dropped duplicates, files left because they kept changing).
    Shared by the flow and its fallback."""
    backlog = ingest.claim_backlog(settings)
    dictations = backlog.dictations
    progress.backlog_started(jobs=len(dictations), audio_s=sum(audio.probe_duration(d.path) for d in dictations))
    known = [JobOutcome(job_id="-", status="duplicate") for _ in range(backlog.duplicates)]
    known += [
        JobOutcome(job_id=f"#{position}", status="still_writing",
                   reason=f"fichier n° {position} de la boîte, encore en écriture / inbox file #{position}, still being written")
        for position in backlog.still_writing
    ]
    return dictations, known


def run_backlog(settings: Settings) -> list[JobOutcome]:
    """The whole inbox, one dictation after another, without Prefect (its fallback)."""
    settings = settings.model_copy(update={"workers": 1})  # one at a time: each decoding gets every core
    dictations, outcomes = begin_backlog(settings)
    if dictations:
        load_models(settings)
    for dictation in dictations:
        outcome = run_job_or_defer(dictation, settings)
        progress.job_finished(outcome)
        outcomes.append(outcome)
    return outcomes


def run_job_or_defer(dictation: Dictation, settings: Settings) -> JobOutcome:
    """run_job, but an unexpected failure (disk full, I/O) leaves the claim for the next run
    instead of stopping the others. Only the error's type is logged: no patient data."""
    try:
        return run_job(dictation, settings)
    except Exception as error:
        return deferred(dictation.job_id, error)


def deferred(job_id: str, error: Exception) -> JobOutcome:
    """A job that failed for a reason other than its input: its claim stays, the next run
    resumes it. The outcome says why in French and English when the error knows (a full or
    read-only outbox), its type otherwise; neither holds patient data."""
    log.error("job %s deferred to the next run: %s", job_id, type(error).__name__)
    return JobOutcome(job_id=job_id, status="failed", reason=getattr(error, "short", None) or type(error).__name__)
