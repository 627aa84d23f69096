"""Repair of misheard medical terms after recognition, by sound, flagged, never silent.

Whisper base hears a rare medical word as a near miss (« émostase ») or as common words
(« la pandisectomie », « mes formines », « Hermien Guinal »). Candidates are the words a
general-French list does not know (or that the recognizer was unsure of), with up to two
neighbours so split words join again; each is compared by French phonetic key with every
term of the medical lexicon, and replaced only when one term is clearly the best. A correct
common word, and any word the lexicon knows, is never a candidate on its own.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

from rapidfuzz import process
from rapidfuzz.distance import Levenshtein

from pipeline.records import Flag, FlagKind, Word
from pipeline.vocabulary import patterns as P
from pipeline.french import fold, phonetic_key, singular
from pipeline.vocabulary.corrector import glue_pieces


@dataclass(frozen=True, slots=True)
class Candidate:
    written: str  # what replaces the heard words: « l'appendicectomie »
    key: str
    strict: bool = False  # a brand: thousands of short, arbitrary names, so a closer sound is needed


def phrase_key(text: str) -> str:
    """The phonetic key of each word, joined: silent endings go word by word, so « coloscopie de »
    keeps its « de » and « kinésie thérapie » meets « kinésithérapie »."""
    return "".join(phonetic_key(part) for part in text.replace("'", "' ").replace("’", "' ").split())


def spelling(text: str) -> str:
    """A spelling up to accents, case, hyphens and apostrophes: « séro-muqueuse » is
    « séromuqueuse », but « chimio thérapie » is not « chimiothérapie »."""
    return " ".join(singular("".join(char for char in word if char.isalpha())) for word in fold(text).split())


def without_article(text: str) -> str:
    """The spelling without a leading article: « de hernie » and « d'hernie » say the same."""
    words = spelling(text.replace("'", "' ").replace("’", "' ")).split()
    return " ".join(words[1:] if len(words) > 1 and words[0] in P.ARTICLES else words)


def plain(word: Word) -> str:
    return fold(word.word.strip().strip(P.PUNCTUATION)).replace("’", "'")


def ends_clause(word: Word) -> bool:
    return word.word.rstrip().endswith(tuple(P.CLAUSE_PUNCTUATION))


class Repairer:
    def __init__(self, terms: Iterable[str], *, is_common_french, invariable: Iterable[str] = (),
                 strict: Iterable[str] = (), drugs: Iterable[str] = ()) -> None:
        """`invariable`: terms never put in the plural (drug and people's names); `strict`: terms
        that must sound closer to be chosen (brands); `drugs`: the drug names among the terms,
        what a word where a drug is named may be."""
        self.is_common_french = is_common_french
        self.invariable = frozenset(invariable)
        strict = frozenset(strict)
        candidates: dict[str, Candidate] = {}
        known: set[str] = set()
        for term in terms:
            if any(char.isdigit() for char in term):
                continue  # « diabète de type 1 »: a sound key cannot hear the number
            known.update(fold(part) for part in term.replace("'", " ").replace("-", " ").split())
            for key in dict.fromkeys((phrase_key(term), phonetic_key(term))):  # word by word, then as one sound
                if len(key) < P.REPAIR_MIN_KEY_LENGTH:
                    continue
                candidates.setdefault(key, Candidate(term, key, term in strict))
                if key[0] in P.VOWEL_KEYS:  # « la pandisectomie » is « l'appendicectomie »
                    for article in P.ELIDED_ARTICLES:
                        candidates.setdefault(article + key, Candidate(f"{article}'{term}", article + key, term in strict))
        self.known = frozenset(known)
        self._spellings = frozenset(without_article(candidate.written) for candidate in candidates.values())
        self._candidates = list(candidates.values())
        self._by_key = candidates
        self._keys = [candidate.key for candidate in self._candidates]
        # A word of a term of several words, by its sound (« bipolaire », « cervical »): heard
        # surely, it anchors that term, whose other words may have been misheard around it.
        anchors: dict[str, set[str]] = {}
        for term in terms:
            parts = term.replace("'", " ").replace("-", " ").split()
            if len(parts) < 2 or any(char.isdigit() for char in term):
                continue
            for part in parts:
                if fold(part) not in P.ARTICLES and len(key := phonetic_key(part)) >= P.ANCHOR_MIN_KEY_LENGTH:
                    anchors.setdefault(key, set()).add(term)
        self._anchors = {key: tuple(sorted(found)) for key, found in anchors.items()}
        drugs = frozenset(without_article(drug) for drug in drugs)
        self._drug_keys = {position: candidate.key for position, candidate in enumerate(self._candidates)
                           if without_article(candidate.written) in drugs}

    def is_suspect(self, words: Sequence[Word], index: int) -> bool:
        """A word worth a second look: unknown to general French and to the lexicon, or unsure.
        Capitals say a name or an abbreviation (« Boissel », « EU-TIRADS »): left alone unless
        the recognizer itself was unsure, or the word starts a sentence."""
        word = words[index]
        raw = word.word.strip().strip(P.PUNCTUATION).replace("’", "'")
        text = fold(raw)
        if len(text) < P.REPAIR_MIN_WORD_LENGTH or not all(char.isalpha() or char in "'-" for char in raw):
            return False
        if text in self.known or text.replace("'", "") in self.known:
            return False
        unsure = word.probability < P.REPAIR_UNSURE_PROBABILITY
        starts_sentence = index == 0 or words[index - 1].word.rstrip().endswith(tuple(".!?:"))
        if raw.isupper() or (raw[0].isupper() and not starts_sentence and not unsure):
            return False
        return unsure or not self.is_french(raw)

    def is_french(self, text: str) -> bool:
        """Every part of `text` (« l'hypercafnise »: « l », « hypercafnise ») is common French."""
        parts = [part for part in text.lower().replace("’", "'").replace("-", "'").split("'") if part]
        return all(self.is_common_french(part) for part in parts)

    def repair(self, words: Sequence[Word]) -> tuple[tuple[Word, ...], tuple[Flag, ...]]:
        words = glue_pieces(words)
        suspects = [self.is_suspect(words, index) for index in range(len(words))]
        out: list[Word] = []
        flags: list[Flag] = []
        index = 0
        while index < len(words):
            found = self._best_repair(words, suspects, index)
            if found is None:
                out.append(words[index])
                index += 1
                continue
            start, end, written = found
            out.extend(words[index:start])
            span = words[start:end]
            heard = "".join(w.word for w in span).strip().rstrip(P.PUNCTUATION)
            written = cased_like(written if written in self.invariable else _plural_like(written, heard), heard)
            out.append(Word(span[0].start, span[-1].end, " " + written + trailing_punctuation(span[-1]),
                            min(w.probability for w in span)))
            flags.append(Flag(FlagKind.VOCABULARY_CORRECTION, f"« {heard} » → « {written} »", span[0].start,
                              heard=heard, written=written))
            index = end
        return tuple(out), tuple(flags)

    def _best_repair(self, words: Sequence[Word], suspects: Sequence[bool], index: int) -> tuple[int, int, str] | None:
        """The clearest repair starting within reach of `index`: a term split into words that are
        each correct (« chimio thérapie »), or the best-sounding window of up to three words holding
        the first suspect word (on a tie, the narrowest). A window with a sure, common word in it
        (« polyarthrite rumatoïde ») must sound exactly like the term."""
        first = next((i for i in range(index, min(index + P.REPAIR_MAX_WINDOW, len(words))) if suspects[i]), None)
        best = None
        for start in range(index, (first + 1) if first is not None else index + 1):
            joined = self._joined_term(words, start)
            if joined is not None and (best is None or joined[0] > best[0]):
                best = joined
        for start in range(index, (first + 1) if first is not None else index):
            for end in range(first + 1, min(start + P.REPAIR_MAX_WINDOW, len(words)) + 1):
                span = words[start:end]
                if any(ends_clause(w) for w in span[:-1]) or any(char.isdigit() for w in span for char in w.word):
                    break  # never across a comma, a sentence end or a number
                if not self._mostly_suspect(words, suspects, start, end):
                    continue  # « state de développement »: the unknown word is too small a part to tell
                match = self._match(" ".join(w.word.strip().strip(P.PUNCTUATION) for w in span),
                                    sure=self._only_unsure(words, suspects, start, end))
                loose = any(not suspects[i] and not self.may_join(words[i]) for i in range(start, end))
                if match is None or (loose and match[0] < P.REPAIR_EXACT_SIMILARITY):
                    continue
                if best is None or match[0] > best[0]:
                    best = (match[0], start, end, match[1])
        return (best[1], best[2], best[3]) if best else None

    @staticmethod
    def _mostly_suspect(words: Sequence[Word], suspects: Sequence[bool], start: int, end: int) -> bool:
        lengths = [len(plain(words[i])) for i in range(start, end)]
        suspect = sum(length for i, length in zip(range(start, end), lengths) if suspects[i])
        return suspect >= P.REPAIR_SUSPECT_SHARE * sum(lengths)

    def _only_unsure(self, words: Sequence[Word], suspects: Sequence[bool], start: int, end: int) -> bool:
        """Every suspect word of the window is a real French word the recognizer was only unsure
        of (« versions »): then only a closer sound may replace it."""
        return all(self.is_common_french(words[i].word.strip().strip(P.PUNCTUATION).lower())
                   for i in range(start, end) if suspects[i])

    def _joined_term(self, words: Sequence[Word], index: int) -> tuple[float, int, int, str] | None:
        """Two or three words that, said together, are exactly a long lexicon term."""
        for end in range(min(index + P.REPAIR_MAX_WINDOW, len(words)), index + 1, -1):
            span = words[index:end]
            if any(ends_clause(w) for w in span[:-1]) or any(char.isdigit() for w in span for char in w.word):
                continue
            text = " ".join(w.word.strip().strip(P.PUNCTUATION) for w in span)
            candidate = self._by_key.get(phrase_key(text))
            if candidate is not None and len(candidate.key) >= P.REPAIR_JOINED_MIN_KEY_LENGTH \
                    and without_article(candidate.written) != without_article(text):
                return 1.0, index, end, candidate.written
        return None

    def may_join(self, word: Word) -> bool:
        """A word beside a suspect one may be a piece of the same split term when it is short
        (« la », « mes », « par », « en »), unsure, or unknown French (« Hermien Guinal »)."""
        text = plain(word)
        if not text or any(char.isdigit() for char in text):
            return False
        return (len(text) <= P.REPAIR_JOINABLE_LENGTH or word.probability < P.REPAIR_UNSURE_PROBABILITY
                or not self.is_common_french(word.word.strip().strip(P.PUNCTUATION).lower()))

    def _match(self, text: str, *, sure: bool = False) -> tuple[float, str] | None:
        """The clearly best term for `text`; `sure` words (real French) need a closer sound."""
        found = max((self._closest(key) for key in dict.fromkeys((phrase_key(text), phonetic_key(text)))
                     if len(key) >= P.REPAIR_MIN_KEY_LENGTH), key=lambda hits: hits[0][1] if hits else 0, default=[])
        if not found:
            return None
        (best_key, score, position), *others = found
        candidate = self._candidates[position]
        if (candidate.strict or sure) and score < P.REPAIR_STRICT_SIMILARITY:
            return None
        written = candidate.written
        rivals = [s for k, s, p in others if fold(self._candidates[p].written).lstrip("ld'") != fold(written).lstrip("ld'")]
        if rivals and score - rivals[0] < P.REPAIR_MIN_MARGIN:
            return None  # two terms sound alike: not clear enough to choose for the secretary
        if without_article(written) == without_article(text):
            return None  # already right, spelt another way (« séro-muqueuse »)
        return score, written


    def neighbours(self, text: str, limit: int = 5, cutoff: float = P.REPAIR_MIN_SIMILARITY, *,
                   drugs_only: bool = False) -> list[tuple[float, str]]:
        """Lexicon terms (or only its drug names) that sound like `text` ((similarity, term),
        closest first): what a second listening of the span is primed with
        (pipeline/vocabulary/redecode.py)."""
        keys = self._drug_keys if drugs_only else self._keys
        hits = [hit for key in dict.fromkeys((phrase_key(text), phonetic_key(text))) if len(key) >= P.REPAIR_MIN_KEY_LENGTH
                for hit in process.extract(key, keys, scorer=Levenshtein.normalized_similarity, limit=limit,
                                           score_cutoff=cutoff)]
        best: dict[str, float] = {}
        for _, score, position in hits:
            term = self._candidates[position].written.split("'")[-1]  # « l'appendicectomie »: the term
            best[term] = max(score, best.get(term, 0.0))
        return sorted(((score, term) for term, score in best.items()), reverse=True)[:limit]

    def anchored(self, word: Word) -> tuple[str, ...]:
        """The terms of several words one of whose words sounds exactly like `word`."""
        text = plain(word)
        if not text or any(char.isdigit() for char in text):
            return ()
        return self._anchors.get(phonetic_key(text), ())

    def likeness(self, text: str, term: str) -> float:
        """How closely `text` sounds like `term`, 0 to 1 (their phrase keys compared)."""
        return Levenshtein.normalized_similarity(phrase_key(text), phrase_key(term))

    def knows(self, text: str) -> bool:
        """`text` is a lexicon term, up to accents, case, plural and a leading article."""
        return without_article(text) in self._spellings

    def _closest(self, key: str) -> list:
        return process.extract(key, self._keys, scorer=Levenshtein.normalized_similarity, limit=4,
                               score_cutoff=P.REPAIR_MIN_SIMILARITY)


def cased_like(written: str, heard: str) -> str:
    """A repaired term starts with a capital where the heard words did (sentence start)."""
    return written[0].upper() + written[1:] if heard[:1].isupper() and written[:1].islower() else written


def _plural_like(written: str, heard: str) -> str:
    """« adénopaties axillaires » → « adénopathies axillaires »: the phonetic key cannot hear a
    plural, the spelling can (word by word when the counts agree)."""
    written_words, heard_words = written.split(), heard.split()
    if len(written_words) != len(heard_words):
        return written
    return " ".join(w + "s" if h[-1:] in "sx" and w[-1:] not in "sxz" else w
                    for w, h in zip(written_words, heard_words))


def trailing_punctuation(word: Word) -> str:
    stripped = word.word.rstrip()
    return stripped[len(stripped.rstrip(P.PUNCTUATION)):]


@functools.lru_cache(maxsize=1)
def _french_frequencies():
    from wordfreq import zipf_frequency

    return zipf_frequency


def is_common_french(word: str) -> bool:
    return _french_frequencies()(word, "fr") >= P.REPAIR_COMMON_ZIPF


def get_repairer(models_dir: Path | None, practice_csv: str | None, learned: tuple[str, ...] = ()) -> Repairer:
    """The repairer of the medical lexicon and the practice's own words (its list, and the words
    its secretary corrected), built once per process and again when either changes."""
    from pipeline.vocabulary.corrector import practice_terms

    practice = practice_terms(Path(practice_csv) if practice_csv else None)
    return _repairer_for(models_dir, (*learned, *(term.text for term in practice)))


@functools.lru_cache(maxsize=4)
def _repairer_for(models_dir: Path | None, practice: tuple[str, ...]) -> Repairer:
    from pipeline.lexicon import medical_terms

    from pipeline.lexicon import drug_lexicon

    drugs = drug_lexicon(models_dir)
    names = [entry.label for entry in drugs.index.entries()]
    return Repairer((*medical_terms(models_dir), *practice), is_common_french=is_common_french,
                    invariable=(*names, *practice), strict=drugs.brands, drugs=names)
