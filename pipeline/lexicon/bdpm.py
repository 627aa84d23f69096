"""The ANSM public drug database (BDPM) → a compact drug index: brands and substances → INNs.

Source files (tab-separated, no header, Latin-1 or UTF-8), as the ANSM publishes them monthly:
- CIS_bdpm.txt: one specialty a row — CIS code, denomination « BRAND dose, form », form, routes,
  authorisation status, procedure, marketing status, …
- CIS_COMPO_bdpm.txt: its composition — CIS code, element, substance code, substance name,
  dosage, reference, nature (SA active substance / FT therapeutic fraction), link number.

The index keeps, for each substance, its INN as prescribers write it (lower case, salt removed:
« LÉVOTHYROXINE SODIQUE » → « lévothyroxine »), and for each brand the INNs it contains
(« OZEMPIC » → sémaglutide). Source: ANSM, base de données publique des médicaments.
"""

from __future__ import annotations

import csv
import io
import os
import re
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from pipeline.errors import DicteeError
from pipeline.french import fold

SPECIALTIES_FILE = "CIS_bdpm.txt"
COMPOSITION_FILE = "CIS_COMPO_bdpm.txt"
CIS = re.compile(r"^\d{8}$")
# A real monthly file holds ~15,000 specialties; far fewer means a wrong or truncated file.
MIN_SPECIALTIES = 5_000
MIN_WELL_FORMED = 0.95
MAX_INN_WORDS = 4
# Brands as frequent as this in general French (wordfreq's Zipf scale) are ordinary words.
COMMON_WORD_ZIPF = 3.3

# Words naming the salt, hydrate or form of a substance rather than the substance itself.
SALT_WORDS = frozenset(fold(word) for word in """
    sodique disodique potassique dipotassique calcique magnésique lithique ferreux ferrique zincique
    chlorhydrate dichlorhydrate bromhydrate maléate mésilate mésylate bésilate tartrate bitartrate succinate
    fumarate hémifumarate citrate acétate sulfate hémisulfate phosphate diphosphate nitrate lactate gluconate
    trihydraté trihydratée monohydraté monohydratée dihydraté dihydratée hémihydraté hémihydratée
    sesquihydraté sesquihydratée pentahydraté heptahydraté hexahydraté anhydre base propanediol
    arginine erbumine tert-butylamine hyclate hydrochlorothiazide-free embonate pamoate stéarate
    palmitate dipropionate propionate valérate butyrate furoate xinafoate décanoate énanthate
    micronisé micronisée hydrogénotartrate monosodique trométamol méglumine sel
""".split()) - {fold("hydrochlorothiazide-free")}
# Substances whose usual prescribing name is not their salt's name.
SUBSTANCE_RENAMES = {
    "clavulanate potassium": "acide clavulanique",
    "acetylsalicylate lysine": "acide acétylsalicylique",
    "acetylsalicylate dl lysine": "acide acétylsalicylique",
    "valproate sodium": "acide valproïque",
}
# Brand words that are a laboratory's or a generic's, not a brand: « AMLODIPINE ARROW ».
NOT_A_BRAND = re.compile(r"^(?:[A-Z]\b|.*\bPOUR PRÉPARATIONS HOMÉOPATHIQUES\b)")
HOMEOPATHY = re.compile(r"HOMÉOPATHIQUE|HOMEOPATHIQUE|\b\d+\s*(?:CH|DH|K)\b")


class BdpmError(DicteeError):
    """The files given are not a usable BDPM extract."""


@dataclass(frozen=True, slots=True)
class DrugRow:
    """One line of the derived index."""

    name: str  # as written in prescriptions: « sémaglutide », « Ozempic »
    kind: str  # "substance" or "brand"
    inns: tuple[str, ...]


def read_table(path: Path) -> list[list[str]]:
    """Rows of a BDPM file, decoded as UTF-8 when it is, else Latin-1 (the ANSM's historic encoding)."""
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    return [row for row in csv.reader(io.StringIO(text), delimiter="\t", quoting=csv.QUOTE_NONE) if any(row)]


def _well_formed(rows: list[list[str]], *, min_fields: int, check) -> list[list[str]]:
    good = [row for row in rows if len(row) >= min_fields and CIS.match(row[0].strip()) and check(row)]
    return good


def load_bdpm(folder: Path, *, min_specialties: int = MIN_SPECIALTIES) -> list[DrugRow]:
    """Read and validate a BDPM extract; raise BdpmError (French + English) if it is not one."""
    paths = {name: folder / name for name in (SPECIALTIES_FILE, COMPOSITION_FILE)}
    missing = [name for name, path in paths.items() if not path.is_file()]
    if missing:
        raise BdpmError(f"fichier(s) BDPM absent(s) / missing BDPM file(s): {', '.join(missing)} in {folder}")
    specialties_rows = read_table(paths[SPECIALTIES_FILE])
    composition_rows = read_table(paths[COMPOSITION_FILE])
    specialties = _well_formed(specialties_rows, min_fields=7, check=lambda row: bool(row[1].strip()))
    composition = _well_formed(composition_rows, min_fields=8, check=lambda row: row[6].strip() in {"SA", "FT"})
    for name, rows, good in ((SPECIALTIES_FILE, specialties_rows, specialties),
                             (COMPOSITION_FILE, composition_rows, composition)):
        if not rows or len(good) < MIN_WELL_FORMED * len(rows):
            raise BdpmError(f"{name} n'a pas le format BDPM de l'ANSM ({len(good)}/{len(rows)} lignes valides) / "
                            f"{name} is not in the ANSM BDPM format ({len(good)}/{len(rows)} valid rows)")
    if len(specialties) < min_specialties:
        raise BdpmError(f"{SPECIALTIES_FILE} ne contient que {len(specialties)} spécialités (au moins {min_specialties} "
                        f"attendues) / only {len(specialties)} specialties (expected at least {min_specialties})")
    known = {row[0].strip() for row in specialties}
    linked = sum(row[0].strip() in known for row in composition)
    if linked < MIN_WELL_FORMED * len(composition):
        raise BdpmError("les deux fichiers ne sont pas du même export (codes CIS sans spécialité) / "
                        "the two files are not from the same extract (CIS codes without a specialty)")
    return derive_index(specialties, composition)


def derive_index(specialties: list[list[str]], composition: list[list[str]]) -> list[DrugRow]:
    inns_of = _inns_by_cis(composition)
    substances = {inn for inns in inns_of.values() for inn in inns}
    brands: dict[str, set[str]] = defaultdict(set)
    for row in specialties:
        cis, denomination = row[0].strip(), row[1].strip()
        inns = inns_of.get(cis)
        brand = brand_name(denomination)
        if not inns or not brand or HOMEOPATHY.search(denomination.upper()):
            continue
        if any(fold(brand).startswith(fold(inn).split()[0]) for inn in inns):
            continue  # a generic named after its substance: « AMLODIPINE ARROW »
        if is_common_french(brand):
            continue  # « Diane », « Cristal », « Item »: a brand heard everywhere in ordinary speech
        brands[brand].update(inns)
    rows = [DrugRow(inn, "substance", (inn,)) for inn in sorted(substances)]
    rows += [DrugRow(brand, "brand", tuple(sorted(inns))) for brand, inns in sorted(brands.items())
             if len(inns) <= 4]  # a brand of many substances (vitamins, ointments) names no INN usefully
    return rows


def is_common_french(name: str) -> bool:
    from wordfreq import zipf_frequency

    return zipf_frequency(name.lower(), "fr") >= COMMON_WORD_ZIPF


def _inns_by_cis(composition: list[list[str]]) -> dict[str, tuple[str, ...]]:
    """Per specialty, its INNs: the therapeutic fraction (FT) of a link when there is one, else
    the active substance (SA)."""
    by_link: dict[tuple[str, str], dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for row in composition:
        cis, name, nature, link = row[0].strip(), row[3].strip(), row[6].strip(), row[7].strip()
        if name and not HOMEOPATHY.search(name.upper()):
            by_link[(cis, link)][nature].append(name)
    inns: dict[str, list[str]] = defaultdict(list)
    for (cis, _), natures in by_link.items():
        for name in natures.get("FT") or natures.get("SA", []):  # « ENTRESTO »: two fractions of one complex
            inn = substance_inn(name)
            if is_plausible_inn(inn) and inn not in inns[cis]:
                inns[cis].append(inn)
    return {cis: tuple(names) for cis, names in inns.items()}


def is_plausible_inn(name: str) -> bool:
    """A prescribable substance name: not a bare salt, not a vaccine strain's description."""
    words = name.split()
    return 1 <= len(words) <= MAX_INN_WORDS and len(re.sub(r"\W", "", name)) >= 5 and not any(
        char.isdigit() or char in "[]/" for char in name)


def substance_inn(name: str) -> str:
    """« LÉVOTHYROXINE SODIQUE » → « lévothyroxine »; « AMLODIPINE (BÉSILATE D') » → « amlodipine »;
    « CHLORHYDRATE DE METFORMINE » → « metformine »."""
    name = re.sub(r"\(.*?\)", " ", name).lower()
    name = re.sub(r"^(?:\w+ate|chlorhydrate|bromhydrate|dichlorhydrate)\s+(?:de\s+|d')(?=\w)", "", name) \
        if fold(name.split()[0]) in SALT_WORDS else name
    words = [word for word in re.split(r"\s+", name.replace("’", "'")) if word]
    kept = [word for word in words if fold(word) not in SALT_WORDS]
    cleaned = " ".join(kept).strip(" ,;-")
    key = " ".join(re.findall(r"\w+", fold(cleaned)))
    key = re.sub(r"\b(?:de|d)\b", " ", key)
    return SUBSTANCE_RENAMES.get(" ".join(key.split()), cleaned)


def brand_name(denomination: str) -> str | None:
    """« OZEMPIC 0,25 mg, solution injectable » → « Ozempic »; « KARDEGIC 160 mg » → « Kardegic »."""
    head = re.split(r",|\s(?=\d)|\s(?:pour|enfants?|adultes?|nourrissons?|LP|L\.P\.)\b", denomination, maxsplit=1)[0]
    head = head.strip(" -")
    if len(re.sub(r"\W", "", head)) < 4 or NOT_A_BRAND.match(head):
        return None
    return " ".join(word.capitalize() if word.isupper() else word for word in head.split())


def write_index(rows: list[DrugRow], target: Path) -> None:
    """Write the index atomically: a failed write leaves the previous one in place."""
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.{os.getpid()}.partial")
    with partial.open("w", encoding="utf-8", newline="") as handle:
        handle.write("# Derived from the ANSM BDPM (Licence Ouverte): name, kind, INNs separated by |\n")
        for row in rows:
            handle.write(f"{row.name}\t{row.kind}\t{'|'.join(row.inns)}\n")
    os.replace(partial, target)


def read_index(path: Path) -> list[DrugRow]:
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            name, kind, inns = line.split("\t")
            rows.append(DrugRow(name, kind, tuple(inns.split("|"))))
    return rows
