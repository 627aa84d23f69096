"""Drugs: BDPM substances and brands (brand → INNs), with ATC codes where edsnlp knows them.

The BDPM index is vendored (`data/drugs_bdpm.tsv`, from the ANSM snapshot in PROVENANCE.txt)
and can be replaced by a practice's monthly download (`dictee lexicons update --bdpm DIR`,
written to `<models_dir>/lexicon/`). edsnlp's 2018 list adds names the BDPM lacks and the
ATC codes; a short curated table fixes brands the two disagree on.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from pipeline.french import fold
from pipeline.lexicon import bdpm
from pipeline.lexicon.matcher import Match, TermIndex, term_key
from pipeline.lexicon.patterns import BRAND_INN, COMBINATION_SPLIT, DRUG_STOPWORDS, MIN_DRUG_LENGTH, RECENT_ATC

PACKAGED_INDEX = Path(__file__).parent / "data" / "drugs_bdpm.tsv"


@dataclass(frozen=True, slots=True)
class DrugMatch:
    match: Match
    inns: tuple[str, ...]  # INNs the dictated name stands for (several for a combination brand)
    atc: str | None


class DrugLexicon:
    def __init__(self, rows: list[bdpm.DrugRow]) -> None:
        atc_of = edsnlp_atc_codes()
        self.index = TermIndex()
        self._inns: dict[str, tuple[str, ...]] = {}
        self.brands: set[str] = set()  # labels of brand names, as opposed to substances
        for brand, inns in BRAND_INN.items():
            self._add(brand, inns, atc_of, brand=True)
            for inn in inns:
                self._add(inn, (inn,), atc_of)
        for row in rows:
            self._add(row.name, row.inns, atc_of, brand=row.kind == "brand")
        substances = {fold(row.name) for row in rows if row.kind == "substance"}
        for name, spelled in edsnlp_names().items():  # edsnlp's names the BDPM snapshot lacks
            if name in substances or not bdpm.is_common_french(name):  # « Diane », « Cristal »: ordinary words
                self._add(name, None, atc_of, brand=spelled.isupper())  # edsnlp writes brands in capitals
        self.names = frozenset(inn for inns in self._inns.values() for inn in inns)

    def _add(self, name: str, inns: tuple[str, ...] | None, atc_of: dict[str, str], *, brand: bool = False) -> None:
        key, _ = term_key(name.lower())
        if len(key) < MIN_DRUG_LENGTH or key in DRUG_STOPWORDS or key in self._inns:
            return
        if brand:
            self.brands.add(name)
        inns = inns or tuple(part.lower() for part in COMBINATION_SPLIT.split(name) if part.strip())
        atc = atc_of.get(fold(inns[0])) if len(inns) == 1 else atc_of.get(fold(name))
        self.index.add(name.lower(), atc or "", label=name)
        self._inns[key] = inns

    def __len__(self) -> int:
        return len(self.index)

    def find(self, text: str) -> list[DrugMatch]:
        found = []
        for match in self.index.find(text):
            key, _ = term_key(match.entry.label.lower())
            found.append(DrugMatch(match, self._inns.get(key, (match.entry.label.lower(),)), match.entry.code or None))
        return found


def edsnlp_atc_codes() -> dict[str, str]:
    """Folded drug name → its most specific ATC code, from edsnlp's resource."""
    atc_names: dict[str, list[str]] = json.loads(
        (resources.files("edsnlp") / "resources" / "drugs.json").read_text(encoding="utf-8"))
    codes: dict[str, str] = dict(RECENT_ATC)
    for code in sorted(atc_names, key=len, reverse=True):  # a substance keeps its own, longest code
        for name in atc_names[code]:
            codes.setdefault(fold(name), code)
    return codes


def edsnlp_names() -> dict[str, str]:
    """Folded name → edsnlp's own spelling (brands in capitals, substances in lower case)."""
    atc_names: dict[str, list[str]] = json.loads(
        (resources.files("edsnlp") / "resources" / "drugs.json").read_text(encoding="utf-8"))
    return {fold(name): name for names in atc_names.values() for name in names}


def drug_rows(models_dir: Path | None) -> list[bdpm.DrugRow]:
    """The practice's updated BDPM index if there is one, else the vendored snapshot."""
    updated = updated_index_path(models_dir) if models_dir else None
    return bdpm.read_index(updated if updated and updated.is_file() else PACKAGED_INDEX)


def updated_index_path(models_dir: Path) -> Path:
    return models_dir / "lexicon" / "drugs_bdpm.tsv"
