"""Conditions: CIM-10 (edsnlp's resource) plus the way clinicians say them (data/conditions_fr.tsv).

The curated wordings come first, so « HTA » or « diabétique de type 2 » find their category even
where CIM-10's official label says it otherwise; CIM-10's own labels fill the rest.
"""

from __future__ import annotations

import csv
import gzip
import re
from importlib import resources
from pathlib import Path

from pipeline.lexicon.cache import cached
from pipeline.lexicon.matcher import TermIndex, term_key

CLINICIANS_WORDING = Path(__file__).parent / "data" / "conditions_fr.tsv"
CIM10_NOISE = re.compile(r",?\s*(?:sans précision|SAI|non classée? ailleurs|NCA)\b.*$|\s*\(.*?\)", re.IGNORECASE)
MIN_LABEL_LENGTH = 4
ORDINARY_WORD_ZIPF = 4.0


def read_wordings(path: Path = CLINICIANS_WORDING) -> list[tuple[str, str]]:
    """(wording, CIM-10 code) pairs of the curated file, in file order."""
    pairs = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        code, wordings = line.split("\t")
        pairs += [(wording.strip(), code.replace(".", "")) for wording in wordings.split("|") if wording.strip()]
    return pairs


def _ordinary_word(label: str) -> bool:
    """A one-word official label that is everyday French (« Épaule », « Grossesse »): a category
    heading, not a diagnosis a dictation names by that word alone."""
    from wordfreq import zipf_frequency

    key, _ = term_key(label)
    return " " not in key and zipf_frequency(key, "fr") >= ORDINARY_WORD_ZIPF


def _cim10_index() -> TermIndex:
    index = TermIndex()
    source = resources.files("edsnlp") / "resources" / "cim10.csv.gz"
    with source.open("rb") as raw, gzip.open(raw, mode="rt", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            # Short labels abbreviate with a dot (« LES. DE L'EPAULE »): only the long one then.
            for label in (row["long"], *([] if "." in row["short"] else [row["short"]])):
                cleaned = CIM10_NOISE.sub("", label).strip()
                if len(cleaned) >= MIN_LABEL_LENGTH and not _ordinary_word(cleaned):
                    index.add(cleaned.lower(), row["code"], label=label)  # official labels: no abbreviations
    return index


def condition_index() -> TermIndex:
    index = TermIndex()
    for wording, code in read_wordings():
        index.add(wording, code)
    index.update(cached("cim10-index", _cim10_index))
    return index
