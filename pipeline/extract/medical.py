"""Drugs (ATC, dose, frequency) and conditions (CIM-10, negated / family / hypothesis).

Terms come from the medical lexicon (`pipeline.lexicon`: BDPM drugs, CIM-10 plus clinicians'
wording); the qualifiers are edsnlp's own rule-based components, run on the spans we found. Negated findings that no lexicon
knows ("pas d'incident peropératoire") are caught by their negation cue.
"""

from __future__ import annotations

import functools
import os
import re
import threading
from pathlib import Path

from pipeline import lexicon
from pipeline.extract import patterns as P
from pipeline.extract.spacy_startup import defer_french_token_match
from pipeline.extract.posology import read_posology
from pipeline.french import fold
from pipeline.records import Condition, Drug, Flag, FlagKind


_building = threading.Lock()


def qualifier_pipeline():
    """edsnlp sentence splitting and qualifiers; built once per process (about a second), by
    one thread: edsnlp registers its spaCy extensions check-then-set, and two threads of a Dask
    worker building it at once failed with « Extension 'value' already exists »."""
    with _building:
        return _built_qualifier_pipeline()


@functools.lru_cache(maxsize=1)
def _built_qualifier_pipeline():
    os.environ.setdefault("TQDM_DISABLE", "1")
    defer_french_token_match()  # before edsnlp imports spacy.lang.fr: saves ~3 s of cold start
    import edsnlp
    import edsnlp.pipes as eds
    from edsnlp.pipes.qualifiers.family import patterns as family_patterns
    from edsnlp.pipes.qualifiers.negation import patterns as negation_patterns
    from loguru import logger

    logger.disable("edsnlp")  # its warnings about absent optional pipes are noise here
    nlp = edsnlp.blank("eds")
    nlp.add_pipe(eds.sentences())
    nlp.add_pipe(eds.negation(pseudo=[*negation_patterns.pseudo, *P.NOT_NEGATING]))
    nlp.add_pipe(eds.family(family=[cue for cue in family_patterns.family if cue not in P.NOT_FAMILY]))
    nlp.add_pipe(eds.hypothesis())
    return nlp


def warm_up(models_dir: Path | None = None) -> None:
    lexicon.warm_up(models_dir)
    qualifier_pipeline()


def _drug_clauses(text: str, models_dir: Path | None):
    """Each drug the lexicon finds, with the words that name it and its dictated clause: what
    follows, to the next drug or the end of the sentence."""
    found = lexicon.drug_lexicon(models_dir).find(text)
    for index, drug in enumerate(found):
        match = drug.match
        window_end = found[index + 1].match.start if index + 1 < len(found) else len(text)
        details = text[match.end:min(window_end, match.end + P.DRUG_DETAIL_WINDOW)]
        yield drug, text[match.start:match.end], re.split(r"[.;\n]", details, maxsplit=1)[0]


def extract_drugs(text: str, *, models_dir: Path | None = None) -> tuple[Drug, ...]:
    drugs: list[Drug] = []
    for drug, spoken, details in _drug_clauses(text, models_dir):
        posology = read_posology(spoken, details)
        for inn in drug.inns:
            # The INN as dictated when it is one (the author's spelling), else the lexicon's.
            said_inn = fold(spoken) == fold(inn)
            name = spoken.lower() if said_inn else inn
            drugs.append(
                Drug(
                    name=name,
                    atc=drug.atc if len(drug.inns) == 1 else None,
                    dose=posology.dose,
                    frequency=posology.frequency,
                    text=(spoken + P.DRUG_CLAUSE_END.split(details, maxsplit=1)[0]).strip(),
                    duration=posology.duration,
                    unit_dose=posology.unit_dose,
                    condition=posology.condition,
                    route=posology.route,
                    renewal=posology.renewal,
                    brand=None if said_inn or fold(spoken) in map(fold, drug.inns) else spoken,
                )
            )
    return tuple(drugs)


def prescription_flags(text: str, *, models_dir: Path | None = None) -> tuple[Flag, ...]:
    """A drug's dictated clause that says more than its printed line would: flagged with the
    words left out, so a prescription never silently prints less than was dictated."""
    flags = []
    for drug, spoken, details in _drug_clauses(text, models_dir):
        left_out = read_posology(spoken, details).left_out
        if left_out:
            flags.append(Flag(FlagKind.PRESCRIPTION_INCOMPLETE,
                              f"« {left_out} » dicté avec {drug.inns[0]} n'est pas sur sa ligne / "
                              f"dictated with {drug.inns[0]}, not on its line"))
    return tuple(flags)


def extract_conditions(text: str) -> tuple[Condition, ...]:
    nlp = qualifier_pipeline()
    doc = nlp.make_doc(text) if hasattr(nlp, "make_doc") else nlp.tokenizer(text)
    spans = []
    for match in lexicon.condition_lexicon().find(text):
        span = doc.char_span(match.start, match.end, label="cim10", alignment_mode="expand")
        if span is not None:
            span.kb_id_ = match.entry.code
            spans.append(span)
    for finding_start, finding_end in negated_findings(text):
        inner = [s for s in spans if s.start_char >= finding_start and s.end_char <= finding_end]
        span = doc.char_span(finding_start, finding_end, label="finding", alignment_mode="expand")
        if span is None:
            continue
        # "pas d'adénopathie cervicale": keep the whole finding, with the code of the term inside.
        span.kb_id_ = inner[0].kb_id_ if inner else ""
        spans = [s for s in spans if s not in inner] + [span]
    doc.ents = sorted(_without_overlaps(spans), key=lambda s: s.start)
    for _, component in nlp.pipeline:
        doc = component(doc)
    conditions = []
    for span in doc.ents:
        cim10 = span.kb_id_ or None
        negated = bool(span._.negation)
        # The negation cue found it; edsnlp's scope may not reach a long finding.
        if span.label_ == "finding":
            negated = True
        conditions.append(
            Condition(
                text=span.text,
                cim10=cim10,
                negated=negated,
                family=bool(span._.family),
                hypothesis=bool(span._.hypothesis),
            )
        )
    return tuple(conditions)


def negated_findings(text: str) -> list[tuple[int, int]]:
    found = []
    for match in P.NEGATION_CUE.finditer(text):
        finding = P.FINDING_STOP.sub("", match.group("finding")).strip()
        words = finding.split()
        if not words or len(words) > P.FINDING_MAX_WORDS or words[0].lower() in P.NOT_A_FINDING:
            continue
        if words[0][0].isdigit():
            continue
        start = match.start("finding")
        found.append((start, start + len(finding)))
    return found


def _without_overlaps(spans):
    kept = []
    for span in sorted(spans, key=lambda s: (-(s.end_char - s.start_char), s.start_char)):
        if all(span.end_char <= other.start_char or span.start_char >= other.end_char for other in kept):
            kept.append(span)
    return kept
