"""The one French medical lexicon: drugs (BDPM + edsnlp), conditions (CIM-10 + clinicians'
wording), procedures and anatomy, and the practice's own words.

Three stages read it: recognition biasing (pipeline.vocabulary.prompt), repair of misheard
terms (pipeline.vocabulary.repair) and extraction (pipeline.extract.medical).
"""

from __future__ import annotations

import functools
from pathlib import Path

from pipeline.french import fold
from pipeline.lexicon.conditions import condition_index, read_wordings
from pipeline.lexicon.drugs import DrugLexicon, drug_rows
from pipeline.lexicon.matcher import Entry, Match, TermIndex, is_abbreviation

PROCEDURES = Path(__file__).parent / "data" / "procedures_fr.txt"
SPECIALTY_TERMS = Path(__file__).parent / "data" / "specialty_terms.tsv"
GENERAL_PRACTICE = "generale"


@functools.lru_cache(maxsize=4)
def drug_lexicon(models_dir: Path | None = None) -> DrugLexicon:
    return DrugLexicon(drug_rows(models_dir))


@functools.lru_cache(maxsize=1)
def condition_lexicon() -> TermIndex:
    return condition_index()


@functools.lru_cache(maxsize=1)
def procedure_terms() -> tuple[str, ...]:
    """Procedures, examinations and anatomy: for biasing and repair (no code to extract)."""
    lines = PROCEDURES.read_text(encoding="utf-8").splitlines()
    return tuple(line.strip() for line in lines if line.strip() and not line.startswith("#"))


@functools.lru_cache(maxsize=1)
def _specialties() -> dict[str, tuple[tuple[str, ...], tuple[str, ...]]]:
    """specialty → (folded name prefixes that select it, terms most useful first)."""
    table = {}
    for line in SPECIALTY_TERMS.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            name, prefixes, terms = line.split("\t")
            table[name] = (tuple(prefixes.split("|")), tuple(terms.split("|")))
    return table


def specialty_terms(specialty: str | None) -> tuple[str, ...]:
    """The terms a practitioner of this specialty dictates every day (« Cardiologie »,
    « cardiologue », « Chirurgie viscérale »…), general practice when unknown."""
    folded = fold(specialty or "")
    for prefixes, terms in _specialties().values():
        if folded and any(folded.startswith(prefix) or prefix in folded for prefix in prefixes):
            return terms
    return _specialties()[GENERAL_PRACTICE][1]


@functools.lru_cache(maxsize=4)
def medical_terms(models_dir: Path | None = None) -> tuple[str, ...]:
    """Every term as written, for biasing and repair: procedures and anatomy, conditions as
    clinicians say them (abbreviations aside: too short to hear by sound), drug INNs and brands
    (curated, then the BDPM's French spellings, then edsnlp's)."""
    terms = [*procedure_terms()]
    terms += [wording for wording, _ in read_wordings() if not any(is_abbreviation(w) for w in wording.split())]
    terms += [term for _, listed in _specialties().values() for term in listed
              if not any(is_abbreviation(w) for w in term.split())]
    terms += [entry.label for entry in drug_lexicon(models_dir).index.entries()]
    return tuple(dict.fromkeys(terms))  # in order of trust: where two sound alike, the first is written


def warm_up(models_dir: Path | None = None) -> None:
    drug_lexicon(models_dir)
    condition_lexicon()


__all__ = ["DrugLexicon", "Entry", "Match", "TermIndex", "condition_lexicon", "drug_lexicon", "medical_terms",
           "procedure_terms", "specialty_terms", "warm_up"]
