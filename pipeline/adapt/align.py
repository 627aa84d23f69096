"""The final letter aligned to the audio: training segments of at most Whisper's window.

The recognizer's normalized text carries audio times (one span per written token). The letter
as the secretary approved it — or as a practice typed it, for imported archives — is aligned to
that text word by word; each letter word then takes the time of what it was aligned to. Words
she replaced take the time of the words they replace: that is where the recognizer was wrong,
the examples worth most. Long runs the audio does not contain (a letterhead, a closing typed
afterwards) get no time and are left out, and a segment never spans them.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from typing import Sequence

from pipeline.evaluation import word_errors
from pipeline.french import fold
from pipeline.records import TimedSpan

MAX_SEGMENT_S = 28.0  # under Whisper's 30-s window, with the padding below
PAD_BEFORE_S, PAD_AFTER_S = 0.2, 0.4
MIN_SEGMENT_S = 0.5
MAX_SHORT_INSERT = 3  # a few words typed in where the recognizer heard nothing: most likely said
MAX_REPLACED = 6  # longer rewrites are not misheard words but different passages
MAX_SKIPPED_HEARD = 2  # more heard words missing from the letter: speech the target lacks, cut there
MAX_SEGMENT_DISTANCE = 0.6  # word error rate between heard and target above which a segment is misaligned
_SENTENCE_END = re.compile(r"[.?!;:]$")
_TOKEN = re.compile(r"\S+")


@dataclass(frozen=True, slots=True)
class TimedToken:
    text: str
    start: float | None
    end: float | None
    paragraph: bool = False  # a paragraph break comes before this token


@dataclass(frozen=True, slots=True)
class Segment:
    """An example's unit of training: audio [start, end) of the recording, and its text."""

    start: float
    end: float
    text: str


def _key(token: str) -> str:
    return fold(token).strip(".,;:!?«»\"()[]…'’-")


def heard_tokens(text: str, spans: Sequence[TimedSpan]) -> list[TimedToken]:
    """The normalized text's tokens, each with the audio time of the span it lies in."""
    tokens = []
    for match in _TOKEN.finditer(text):
        covering = [s for s in spans if s.start < match.end() and s.end > match.start() and s.audio_start is not None]
        start = min((s.audio_start for s in covering), default=None)
        end = max((s.audio_end for s in covering if s.audio_end is not None), default=None)
        tokens.append(TimedToken(match.group(), start, end))
    return tokens


def letter_tokens(letter: str) -> list[TimedToken]:
    tokens, previous_end = [], 0
    for match in _TOKEN.finditer(letter):
        tokens.append(TimedToken(match.group(), None, None, paragraph="\n" in letter[previous_end:match.start()]))
        previous_end = match.end()
    return tokens


def align(letter: str, heard: Sequence[TimedToken]) -> list[TimedToken | None]:
    """The letter's tokens with times; None marks a cut (speech missing from the letter)."""
    written = letter_tokens(letter)
    matcher = difflib.SequenceMatcher(None, [_key(t.text) for t in heard], [_key(t.text) for t in written],
                                      autojunk=False)
    out: list[TimedToken | None] = []
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "delete":
            if i2 - i1 > MAX_SKIPPED_HEARD:
                out.append(None)
            continue
        if op == "equal":
            out += [_timed(written[j1 + k], heard[i1 + k].start, heard[i1 + k].end) for k in range(i2 - i1)]
            continue
        if op == "replace" and max(i2 - i1, j2 - j1) > MAX_REPLACED:
            out.append(None)  # not a misheard word: another passage, heard or typed
            continue
        if op == "replace":
            start, end = _interval(heard[i1:i2])
        else:  # insert: typed words with nothing heard between their neighbours
            before = heard[i1 - 1].end if i1 > 0 else None
            after = heard[i1].start if i1 < len(heard) else None
            start, end = (before, after) if j2 - j1 <= MAX_SHORT_INSERT else (None, None)
        if start is None or end is None or end < start:
            out.append(None)  # typed text the audio does not hold
            continue
        step = (end - start) / (j2 - j1)
        out += [_timed(written[j], start + step * (j - j1), start + step * (j - j1 + 1)) for j in range(j1, j2)]
    return out


def _timed(token: TimedToken, start: float | None, end: float | None) -> TimedToken | None:
    if start is None or end is None:
        return None
    return TimedToken(token.text, start, end, token.paragraph)


def _interval(tokens: Sequence[TimedToken]) -> tuple[float | None, float | None]:
    starts = [t.start for t in tokens if t.start is not None]
    ends = [t.end for t in tokens if t.end is not None]
    return (min(starts), max(ends)) if starts and ends else (None, None)


def _runs(aligned: Sequence[TimedToken | None]) -> list[list[TimedToken]]:
    runs, current = [], []
    for token in aligned:
        if token is None:
            if current:
                runs.append(current)
            current = []
        else:
            current.append(token)
    if current:
        runs.append(current)
    return runs


def _cut_index(run: Sequence[TimedToken]) -> int:
    """Where to end a segment that would grow past the window: after the last sentence end,
    else at the longest pause, in the run's second half."""
    half = max(1, len(run) // 2)
    for index in range(len(run) - 1, half - 1, -1):
        if _SENTENCE_END.search(run[index - 1].text):
            return index
    gaps = [(run[i].start - run[i - 1].end, i) for i in range(half, len(run))]
    return max(gaps)[1] if gaps else len(run)


def render(tokens: Sequence[TimedToken]) -> str:
    parts = []
    for index, token in enumerate(tokens):
        parts.append(("\n" if token.paragraph and index else " " if index else "") + token.text)
    return "".join(parts)


def segments_of(aligned: Sequence[TimedToken | None], *, duration_s: float) -> list[Segment]:
    segments = []
    for run in _runs(aligned):
        while run:
            window_end = run[0].start + MAX_SEGMENT_S - PAD_BEFORE_S - PAD_AFTER_S
            fits = next((i for i, token in enumerate(run) if token.end > window_end), len(run))
            cut = len(run) if fits == len(run) else _cut_index(run[:fits])
            piece, run = run[:max(cut, 1)], run[max(cut, 1):]
            start, end = round(max(0.0, piece[0].start - PAD_BEFORE_S), 2), round(min(duration_s, piece[-1].end + PAD_AFTER_S), 2)
            if end - start >= MIN_SEGMENT_S:  # word times past the recording's end: nothing to hear
                segments.append(Segment(start, end, render(piece)))
    return segments


def letter_segments(letter: str, heard: Sequence[TimedToken], *, duration_s: float) -> list[Segment]:
    """Training segments of a letter whose words can be placed on the audio; segments whose
    text is far from what was heard there (a misalignment) are left out."""
    kept = []
    for segment in segments_of(align(letter, heard), duration_s=duration_s):
        said = " ".join(t.text for t in heard if t.start is not None and segment.start <= t.start < segment.end)
        errors, length = word_errors(segment.text, said)
        if length and errors / length <= MAX_SEGMENT_DISTANCE:
            kept.append(segment)
    return kept


def distance(letter: str, heard_text: str) -> float:
    """Word error rate between a letter and what the recognizer heard (1.0: nothing in common)."""
    errors, length = word_errors(letter, heard_text)
    return min(1.0, errors / length) if length else 1.0
