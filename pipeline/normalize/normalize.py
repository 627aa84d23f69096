"""Turn what was said into what is written, deterministically, keeping audio times.

The transcript is cut into tokens; each token remembers when it was spoken. Passes then
rewrite the token list: spoken commands → punctuation and layout, number words → digits,
units → symbols, blood pressure → 13/8, spoken corrections applied, dates read. Rendering
applies French typography and records, for every output token, its characters and audio
times.

Quantities, blood pressures and dates become typed tokens (`Reading`), whether they were
said (« cinq milligrammes ») or the recognizer wrote them (« 5 mg », « 13/8 »). Rendering hands
them to extract as annotations, with their characters and audio times: extract does not read
them from the text again.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Iterable, Iterator, Sequence

from text_to_num import text2num

from pipeline.french import MONTH_NUMBERS, UNIT_SYMBOLS, calendar_date, fold
from pipeline.normalize import commands as C
from pipeline.records import Annotation, NormalizedText, Reading, TimedSpan, Word

# Units written with a sign in them (« mg/kg », « °C ») stay one token, as « 13/8 », « 12/03/2024 »
# and « 1er » do: the recognizer writes them so, and they are written back so.
_SIGNED_UNITS = [symbol for symbol in UNIT_SYMBOLS if len(symbol) > 1 and not symbol.isalnum()]
TOKEN_RE = re.compile(
    r"\d{1,2}([/.|-])\d{1,2}\1\d{4}(?!\d)"  # a written date
    r"|(?<![\d/])\d{1,3}/\d{1,3}(?![\d/])"  # a written pair: 13/8, 130/80, a score 3/4
    r"|\d+(?:er|re|ère|e|ème)(?!\w)"  # an ordinal
    r"|\d{1,2}(?:h\d{2}(?!\w)|:\d{2}(?![\d:]))"  # a time: 15h30, 15:30
    r"|(?<![\d.])\d+\.\d+(?![.\d])"  # a decimal point (or « 28.09 »): kept as written, in one piece
    r"|\d+(?:,\d+)?"
    r"|(?:" + "|".join(map(re.escape, _SIGNED_UNITS)) + r")(?!\w)"
    r"|\w+(?:['’-]\w+)*['’]?|\n+|[^\w\s]",
    re.UNICODE,
)
NUMBER = re.compile(r"\d+(?:[,.]\d+)?")
MARK_STRENGTH = {",": 1, ";": 2, ":": 3, ".": 4, "?": 5, "!": 5, "…": 6}


@dataclass(frozen=True, slots=True)
class Token:
    text: str
    start: float | None = None
    end: float | None = None
    mark: bool = False  # punctuation or layout, not a word
    decimal: bool = False  # a spoken "virgule" between two numbers
    reading: Reading | None = None  # a quantity, blood pressure or date, typed

    @property
    def lower(self) -> str:
        return self.text.lower().replace("’", "'")


def normalize_dictation(words: Sequence[Word]) -> NormalizedText:
    """Normalize recognised words, mapping every output span back to audio time."""
    text, times = "", []
    for word in words:
        piece = word.word
        times.extend([(word.start, word.end)] * len(piece))
        text += piece
    return _normalize(tokenize(text.strip(), times[len(text) - len(text.lstrip()):]))


def normalize_text(text: str) -> NormalizedText:
    """Normalize a plain transcript (no audio times)."""
    return _normalize(tokenize(text, None))


def tokenize(text: str, times: Sequence[tuple[float, float]] | None) -> list[Token]:
    tokens = []
    for match in TOKEN_RE.finditer(text):
        piece = match.group()
        start = end = None
        if times:
            covered = times[match.start():match.end()]
            start, end = min(t[0] for t in covered), max(t[1] for t in covered)
        if piece.startswith("\n"):
            piece = "\n\n" if len(piece) > 1 else "\n"
        is_mark = not piece[0].isalnum() and piece not in _SIGNED_UNITS
        tokens.append(Token(piece, start, end, mark=is_mark))
    return tokens


def _normalize(tokens: list[Token]) -> NormalizedText:
    tokens = apply_commands(tokens)
    tokens = words_to_numbers(tokens)
    tokens = merge_decimals(tokens)
    tokens = apply_units(tokens)
    tokens = blood_pressure(tokens)
    tokens, corrections = apply_corrections(tokens)
    tokens = read_dates(tokens)
    tokens = merge_marks(tokens)
    return render(tokens, corrections)


# --- spoken commands -------------------------------------------------------------------

Phrase = tuple[str, ...]


def phrases_of(spoken: Iterable[str]) -> list[Phrase]:
    """Spoken phrases as word tuples, longest first: « point virgule » is tried before « point »."""
    return sorted((tuple(phrase.split()) for phrase in spoken), key=len, reverse=True)


def _match_phrase(tokens: Sequence[Token], index: int, phrase: Phrase) -> bool:
    window = tokens[index:index + len(phrase)]
    return len(window) == len(phrase) and all(t.lower == p for t, p in zip(window, phrase, strict=True))


def phrases_at(tokens: Sequence[Token], index: int, phrases: Iterable[Phrase]) -> Iterator[Phrase]:
    """The phrases spoken at `index`, longest first: each rewrite pass looks its words up here."""
    return (phrase for phrase in phrases if _match_phrase(tokens, index, phrase))


def phrase_at(tokens: Sequence[Token], index: int, phrases: Iterable[Phrase]) -> Phrase | None:
    return next(phrases_at(tokens, index, phrases), None)


def past_marks(tokens: Sequence[Token], index: int) -> int:
    """Past the recognizer's own punctuation right after a spoken command (the command wins)."""
    while index < len(tokens) and tokens[index].mark and tokens[index].text in MARK_STRENGTH:
        index += 1
    return index


_COMMAND_OUTPUT = {tuple(phrase.split()): output for phrase, output in C.PUNCTUATION_COMMANDS.items()}
_COMMAND_PHRASES = phrases_of(C.PUNCTUATION_COMMANDS)


def _is_numeric(token: Token | None) -> bool:
    return token is not None and (token.text[0].isdigit() or token.lower in C.NUMBER_WORDS - {"et"})


def _command_at(tokens: Sequence[Token], index: int) -> tuple[int, tuple[str, ...]] | None:
    for phrase in phrases_at(tokens, index, _COMMAND_PHRASES):
        before = tokens[index - 1].lower if index else ""
        after_token = tokens[index + len(phrase)] if index + len(phrase) < len(tokens) else None
        after = after_token.lower if after_token else ""
        if phrase == ("point",) and (before in C.POINT_NOT_COMMAND_BEFORE or after in C.POINT_NOT_COMMAND_AFTER or after.startswith("d'")):
            continue
        if phrase == ("deux", "points") and (after in C.COLON_NOT_COMMAND_AFTER or after.startswith("d'")):
            continue
        return len(phrase), _COMMAND_OUTPUT[phrase]
    return None


def apply_commands(tokens: list[Token]) -> list[Token]:
    out: list[Token] = []
    index = 0
    while index < len(tokens):
        token = tokens[index]
        found = None if token.mark else _command_at(tokens, index)
        if found is None:
            out.append(token)
            index += 1
            continue
        length, output = found
        spoken = tokens[index:index + length]
        start, end = spoken[0].start, spoken[-1].end
        following = tokens[index + length] if index + length < len(tokens) else None
        if output == (",",) and _is_numeric(out[-1] if out else None) and _is_numeric(following):
            out.append(Token(",", start, end, mark=True, decimal=True))
            index += length
            continue
        first = output[0]
        # The recognizer often punctuates around a spoken command: the command wins.
        if first in C.BREAKS:
            pass  # keep what ends the previous sentence
        elif first in C.OPENING_MARKS:
            while out and out[-1].mark and out[-1].text in C.SENTENCE_ENDS | {","}:
                out.pop()
        else:
            while out and out[-1].mark and out[-1].text not in C.CLOSING_MARKS | C.BREAKS:
                out.pop()
        out.extend(Token(piece, start, end, mark=piece != "-") for piece in output)
        index += length
        if first in C.CLOSING_MARKS:
            continue  # "(…) fermez la parenthèse. Suite": the period after it is real
        index = past_marks(tokens, index)
    return out


# --- numbers, units, blood pressure ----------------------------------------------------


def _is_number_word(token: Token) -> bool:
    return not token.mark and all(part in C.NUMBER_WORDS for part in token.lower.split("-"))


def _parse_number(tokens: Sequence[Token]) -> int | None:
    phrase = " ".join(t.lower for t in tokens)
    if tokens[0].lower == "et" or tokens[-1].lower == "et":
        return None
    try:
        return int(text2num(phrase, "fr"))
    except (ValueError, TypeError):
        return None


def _wants_digits(value: int, written: Sequence[Token], following: Token | None) -> bool:
    if value >= 10:
        return True
    previous = written[-1] if written else None
    if previous is not None and (previous.decimal or previous.text[0].isdigit()):
        return True
    # "12 sur 7", "de 10 à 12": the second number of a pair follows the first's form
    if len(written) >= 2 and previous.lower in C.NUMBER_PAIR_LINKS and written[-2].text[0].isdigit():
        return True
    if following is None:
        return False
    return following.decimal or following.lower in C.NUMERIC_CONTEXT_AFTER or following.lower in _UNIT_FIRST_WORDS


def words_to_numbers(tokens: list[Token]) -> list[Token]:
    out: list[Token] = []
    index = 0
    while index < len(tokens):
        token = tokens[index]
        following_word = tokens[index + 1].lower if index + 1 < len(tokens) else ""
        if token.lower == "premier" and following_word in C.MONTHS:
            out.append(replace(token, text="1er"))
            index += 1
            continue
        if token.lower == "pour" and following_word == "cent":
            out.extend(tokens[index:index + 2])  # "pour cent" is a unit, not a hundred
            index += 2
            continue
        if not _is_number_word(token) or token.lower == "et":
            out.append(token)
            index += 1
            continue
        run_end = index
        while run_end < len(tokens) and _is_number_word(tokens[run_end]):
            run_end += 1
        # Longest prefix that parses: "treize huit" is two numbers, not one.
        for stop in range(run_end, index, -1):
            value = _parse_number(tokens[index:stop])
            if value is not None:
                break
        else:
            out.append(token)
            index += 1
            continue
        following = tokens[stop] if stop < len(tokens) else None
        if _wants_digits(value, out, following):
            out.append(Token(str(value), tokens[index].start, tokens[stop - 1].end))
        else:
            out.extend(tokens[index:stop])
        index = stop
    return out


def merge_decimals(tokens: list[Token]) -> list[Token]:
    out: list[Token] = []
    for token in tokens:
        if len(out) >= 2 and out[-1].decimal and out[-2].text.isdigit() and token.text.isdigit():
            mark = out.pop()
            whole = out.pop()
            out.append(Token(f"{whole.text},{token.text}", whole.start, token.end or mark.end))
        else:
            out.append(token)
    return out


_UNIT_SYMBOL = {tuple(phrase.split()): symbol for phrase, symbol in C.UNITS.items()}
_UNIT_PHRASES = phrases_of(C.UNITS)
_UNIT_FIRST_WORDS = frozenset(phrase[0] for phrase in _UNIT_PHRASES)


def _unit_at(tokens: Sequence[Token], index: int) -> tuple[str, int] | None:
    """The unit said (« milligrammes ») or written (« mg ») at `index`: its symbol, and how many tokens it takes."""
    spoken = phrase_at(tokens, index, _UNIT_PHRASES)
    if spoken:
        return _UNIT_SYMBOL[spoken], len(spoken)
    return (tokens[index].text, 1) if tokens[index].text in UNIT_SYMBOLS else None


def apply_units(tokens: list[Token]) -> list[Token]:
    """A number and its unit become one quantity: « 5 mg »."""
    out: list[Token] = []
    index = 0
    while index < len(tokens):
        unit = _unit_at(tokens, index) if out and NUMBER.fullmatch(out[-1].text) else None
        if unit is None:
            out.append(tokens[index])
            index += 1
            continue
        symbol, length = unit
        number = out.pop()
        out.append(Token(f"{number.text} {symbol}", number.start, tokens[index + length - 1].end,
                         reading=Reading("quantity", number.text, symbol)))
        index += length
    return out


WRITTEN_PAIR = re.compile(r"(\d{1,3})/(\d{1,3})")


def pressure_unit(systolic: int, diastolic: int) -> str | None:
    """13/8 is in cmHg, 130/80 in mmHg; anything else (« 1/2 », « 8/13 ») is not a blood pressure."""
    if systolic <= diastolic:
        return None
    if systolic <= C.BLOOD_PRESSURE_MAX and diastolic <= C.BLOOD_PRESSURE_MAX:
        return "cmHg"
    if C.MMHG_SYSTOLIC[0] <= systolic <= C.MMHG_SYSTOLIC[1] and C.MMHG_DIASTOLIC[0] <= diastolic <= C.MMHG_DIASTOLIC[1]:
        return "mmHg"
    return None


def _pair_at(tokens: Sequence[Token], first: int) -> tuple[int, int, int] | None:
    """Two numbers at `first`, written « 13/8 » or said « 13 [sur] 8 »: both, and the tokens they take."""
    written = WRITTEN_PAIR.fullmatch(tokens[first].text)
    if written:
        return int(written[1]), int(written[2]), 1
    second = first + 1
    if second < len(tokens) and tokens[second].lower == "sur":
        second += 1
    if tokens[first].text.isdigit() and second < len(tokens) and tokens[second].text.isdigit():
        return int(tokens[first].text), int(tokens[second].text), second - first + 1
    return None


def blood_pressure(tokens: list[Token]) -> list[Token]:
    """« tension [artérielle] 13 [sur] 8 » or « TA à 13/8 »: the first numbers within a few words of the cue."""
    out = list(tokens)
    for index, token in enumerate(tokens):
        if token.lower not in C.BLOOD_PRESSURE_CUES:
            continue
        for first in range(index + 1, min(index + 1 + C.BLOOD_PRESSURE_WINDOW, len(out))):
            if not out[first].text[:1].isdigit():
                continue
            pair = _pair_at(out, first)
            unit = pressure_unit(*pair[:2]) if pair else None
            if pair and unit:
                systolic, diastolic, length = pair
                value = f"{systolic}/{diastolic}"
                merged = Token(value, out[first].start, out[first + length - 1].end,
                               reading=Reading("blood_pressure", value, unit))
                out[first:first + length] = [merged] + [Token("", mark=True)] * (length - 1)
            break
    return [t for t in out if t.text]


# --- spoken corrections -----------------------------------------------------------------

_DELETE_PHRASES = phrases_of(C.DELETE_SENTENCE_COMMANDS)
_CORRECTION_PHRASES = phrases_of(C.CORRECTION_CUES)


def _is_boundary(token: Token) -> bool:
    return token.text in C.SENTENCE_ENDS or token.text in C.BREAKS


def apply_corrections(tokens: list[Token]) -> tuple[list[Token], tuple[str, ...]]:
    out: list[Token] = []
    notes: list[str] = []
    index = 0
    while index < len(tokens):
        deleted = phrase_at(tokens, index, _DELETE_PHRASES)
        if deleted:
            removed: list[Token] = []
            while out and out[-1].mark and out[-1].text in MARK_STRENGTH:
                out.pop()
            while out and not _is_boundary(out[-1]):
                removed.insert(0, out.pop())
            notes.append("phrase effacée : " + " ".join(t.text for t in removed if not t.mark))
            index = past_marks(tokens, index + len(deleted))
            continue
        cue = phrase_at(tokens, index, _CORRECTION_PHRASES)
        if cue is None:
            out.append(tokens[index])
            index += 1
            continue
        after = index + len(cue)
        while after < len(tokens) and tokens[after].text == ",":
            after += 1
        replacement_end = after
        while replacement_end < len(tokens) and not tokens[replacement_end].mark:
            replacement_end += 1
        while out and out[-1].text == ",":
            out.pop()
        count = _corrected_length(out, tokens[after:replacement_end])
        replaced_words = out[-count:] if count else []
        if count and not any(t.mark for t in replaced_words):
            del out[-count:]
            notes.append(
                "correction dictée : "
                + " ".join(t.text for t in replaced_words)
                + " → "
                + " ".join(t.text for t in tokens[after:replacement_end])
            )
        index = after
    return out, tuple(notes)


def _corrected_length(written: Sequence[Token], replacement: Sequence[Token]) -> int:
    """How many words before "non pardon" the replacement stands for, never past the previous
    punctuation: a number (with its unit) replaces the last number (with its unit); a phrase
    starting with a determiner or a preposition replaces back to the last of its kind (« un
    traitement symptomatique » ← « une radiographie de thorax », the verb before it kept); a
    word said again replaces back to it; otherwise as many words as it has."""
    clause = 0
    while clause < len(written) and not written[-1 - clause].mark:
        clause += 1
    if not replacement or not clause:
        return 0
    first = replacement[0].text.lower()
    if first[0].isdigit():
        for back in range(1, min(clause, 2) + 1):
            if written[-back].text[0].isdigit():
                return back
        return 0
    kind = next((kind for kind in (*C.DETERMINER_KINDS, C.PREPOSITIONS) if first in kind), None)
    for back in range(1, clause + 1):
        said = written[-back].text.lower()
        if (kind is not None and said in kind) or said == first:
            return back
    return len(replacement) if len(replacement) < clause else 0


# --- dates ------------------------------------------------------------------------------

WRITTEN_DATE = re.compile(r"(\d{1,2})[/.|-](\d{1,2})[/.|-](\d{4})")
DATE_PIECES = 5  # « 01/09/ 2020 », « 08 . 04 . 1941 »: a written date the recognizer or a typist spaced
DAY = re.compile(r"(\d{1,2})(?:er)?")
YEAR = re.compile(r"\d{4}")


def _date_at(tokens: Sequence[Token], index: int) -> tuple[str, str, int] | None:
    """A date at `index`, written « 12/03/2024 » or said « 12 mars 2024 »: ISO, how it is written
    back (a written date in one piece, its spaces gone), and the tokens it takes."""
    if not tokens[index].text[:1].isdigit():
        return None  # both forms start with the day
    for length in range(1, DATE_PIECES + 1):
        written = "".join(t.text for t in tokens[index:index + length])
        found = WRITTEN_DATE.fullmatch(written)
        if found:
            iso = calendar_date(found[1], int(found[2]), found[3])
            return (iso, written, length) if iso else None
    said = tokens[index:index + 3]
    day = DAY.fullmatch(said[0].text)
    if len(said) == 3 and day and YEAR.fullmatch(said[2].text):
        iso = calendar_date(day[1], MONTH_NUMBERS.get(fold(said[1].text)), said[2].text)
        return (iso, " ".join(t.text for t in said), 3) if iso else None
    return None


def read_dates(tokens: list[Token]) -> list[Token]:
    out: list[Token] = []
    index = 0
    while index < len(tokens):
        found = _date_at(tokens, index)
        if found is None:
            out.append(tokens[index])
            index += 1
            continue
        iso, text, length = found
        out.append(Token(text, tokens[index].start, tokens[index + length - 1].end, reading=Reading("date", iso)))
        index += length
    return out


# --- typography -------------------------------------------------------------------------


def merge_marks(tokens: Iterable[Token]) -> list[Token]:
    """Collapse runs of punctuation to the strongest; none at the start of a line."""
    out: list[Token] = []
    for token in tokens:
        if token.mark and token.text in MARK_STRENGTH:
            if not out or out[-1].text in C.BREAKS:
                continue
            if out[-1].mark and out[-1].text in MARK_STRENGTH:
                if MARK_STRENGTH[token.text] > MARK_STRENGTH[out[-1].text]:
                    out[-1] = token
                continue
        if token.text in C.BREAKS:
            while out and out[-1].text in C.BREAKS:
                token = token if len(token.text) >= len(out[-1].text) else out[-1]
                out.pop()
            if not out:
                continue
        out.append(token)
    while out and out[-1].text in C.BREAKS:
        out.pop()
    return out


def _needs_space(previous: Token | None, token: Token) -> bool:
    if previous is None or previous.text in C.BREAKS or token.text in C.BREAKS:
        return False
    if token.text in C.NO_SPACE_BEFORE:
        return False
    if previous.text == "(" or previous.text.endswith(("'", "’")):
        return False
    return True


def render(tokens: Sequence[Token], corrections: tuple[str, ...] = ()) -> NormalizedText:
    pieces: list[str] = []
    spans: list[TimedSpan] = []
    annotations: list[Annotation] = []
    length = 0
    capitalize = True
    previous: Token | None = None
    for token in tokens:
        text = token.text
        if _needs_space(previous, token):
            pieces.append(" ")
            length += 1
        if not token.mark:
            if capitalize and text[0].islower():
                text = text[0].upper() + text[1:]
            capitalize = False
        if token.text in C.SENTENCE_ENDS or token.text in C.BREAKS:
            capitalize = True
        pieces.append(text)
        if not token.mark and token.start is not None:
            spans.append(TimedSpan(length, length + len(text), token.start, token.end))
        if token.reading is not None:
            annotations.append(Annotation(token.reading, length, length + len(text), token.start, token.end))
        length += len(text)
        previous = token
    return NormalizedText(text="".join(pieces), spans=tuple(spans), corrections=corrections,
                          annotations=tuple(annotations))
