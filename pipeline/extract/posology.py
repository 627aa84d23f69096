"""What a prescription line carries besides the drug and its strength, read from the dictated
clause: what is taken each time, the route, the frequency, the condition, the duration and the
renewal. A clause that names a drug but says more than its line would print is flagged: a
prescription never prints less than was dictated without the secretary being told.

« Paracétamol 1 g, 1 comprimé 3 fois par jour si douleur, pendant 5 jours » →
PARACÉTAMOL — 1 g — 1 comprimé — 3 fois par jour — si douleur — pendant 5 jours
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pipeline.extract import patterns as P

NUMBER = r"(?:\d+(?:,\d+)?|un|une|deux|trois|quatre|cinq|six|demi|un\s+demi|une\s+demie)"
FORMS = (r"comprimés?|gélules?|sachets?|gouttes?|bouffées?|applications?|injections?|ampoules?|"
         r"suppositoires?|patchs?|unités?|doses?|pulvérisations?|capsules?|cuillères?(?:\s+(?:à\s+café|à\s+soupe|mesure))?|"
         r"ovules?|stylos?|seringues?")
UNIT_DOSE = re.compile(rf"\b(?P<unit_dose>{NUMBER}\s+(?:{FORMS}))(?!\w)", re.IGNORECASE)
STRENGTH = re.compile(r"\b(?P<dose>\d+(?:,\d+)?\s*(?:mg|g|µg|mL|L|UI|%|mmol|mg/kg|mg/j|MUI))(?!\w)")
CONDITION = re.compile(
    r"\b(?P<condition>si\s+(?:douleurs?|fièvre|besoin|nausées?|vomissements?|insomnie|anxiété|crise|toux|"
    r"constipation|diarrhée|démangeaisons?|sifflements?|gêne\s+respiratoire)|"
    r"en\s+cas\s+de\s+(?:douleurs?|fièvre|crise|besoin|nausées?|vomissements?|\w+)|"
    r"au\s+coucher|à\s+jeun|(?:pendant|au\s+cours\s+des|avant\s+les|après\s+les|au\s+moment\s+des|au\s+milieu\s+des?)\s+repas|"
    r"au\s+milieu\s+du\s+repas|à\s+la\s+demande)", re.IGNORECASE)
ROUTE = re.compile(
    r"\b(?P<route>par\s+voie\s+(?:orale|rectale|vaginale|intramusculaire|intraveineuse|sous-cutanée|cutanée|nasale|"
    r"auriculaire|ophtalmique|inhalée|sublinguale)|per\s+os|en\s+(?:intramusculaire|intraveineuse|sous-cutanée|"
    r"application\s+locale|applications?\s+locales?|inhalation|collyre|bain\s+de\s+bouche|gargarisme)|"
    r"sous\s+la\s+langue|dans\s+chaque\s+(?:œil|oeil|narine|oreille)|sur\s+la\s+zone\s+\w+)", re.IGNORECASE)
DURATION = re.compile(
    r"\b(?P<duration>(?:pendant|durant|sur|pour)\s+\d+\s+(?:jours?|semaines?|mois)|\d+\s+(?:jours?|semaines?|mois)\s+de\s+traitement)",
    re.IGNORECASE)
RENEWAL = re.compile(
    r"\b(?P<renewal>(?:à\s+renouveler|renouvelable)(?:\s+\d+\s+fois)?|non\s+renouvelable|QSP\s+\d+\s+(?:jours?|semaines?|mois))",
    re.IGNORECASE)
# Words a clause may hold without saying anything its line lacks.
FILLER = frozenset({
    "à", "a", "prendre", "en", "de", "du", "des", "le", "la", "les", "l", "et", "puis", "par", "un", "une", "soit",
    "avec", "prise", "prises", "fois", "jour", "jours", "traitement", "posologie", "dose", "dosé", "dosée", "au",
    "aux", "total", "maximum", "ordonnance", "pour", "lui", "je", "prescris", "prescrit", "sous", "forme",
})
WORD = re.compile(r"[\w'-]+")


@dataclass(frozen=True, slots=True)
class Posology:
    dose: str | None
    unit_dose: str | None
    route: str | None
    frequency: str | None
    condition: str | None
    duration: str | None
    renewal: str | None
    left_out: str | None  # words of the clause its line would not print


def read_posology(name_said: str, details: str) -> Posology:
    """`details`: the dictated clause after the drug's name, to the end of its sentence."""
    taken: list[tuple[int, int]] = []

    def first(pattern: re.Pattern, group: str) -> str | None:
        for found in pattern.finditer(details):
            span = found.span(group)
            if not any(start < span[1] and span[0] < end for start, end in taken):
                taken.append(span)
                return " ".join(found.group(group).split())
        return None

    dose = first(STRENGTH, "dose")
    duration = first(DURATION, "duration")
    renewal = first(RENEWAL, "renewal")
    route = first(ROUTE, "route")
    # « une injection par semaine », « le matin à jeun » whole, before « une injection » or « à jeun » alone.
    frequency = first(P.FREQUENCY, "frequency")
    unit_dose = first(UNIT_DOSE, "unit_dose")
    condition = first(CONDITION, "condition")
    if frequency and condition is None and CONDITION.fullmatch(frequency):
        frequency, condition = None, frequency  # « si besoin », « au coucher »: a condition
    if dose is None and unit_dose is None:
        dose = first(P.DOSE, "dose")
    rest = details
    for start, end in sorted(taken, reverse=True):
        rest = rest[:start] + " " + rest[end:]
    left = [word for word in WORD.findall(rest) if word.lower() not in FILLER and not word.isdigit()
            and word.lower() not in name_said.lower().split()]
    return Posology(dose, unit_dose, route, frequency, condition, duration, renewal, " ".join(left) or None)


PART_PATTERNS = (("dose", STRENGTH), ("unit_dose", UNIT_DOSE), ("route", ROUTE), ("condition", CONDITION),
                 ("frequency", P.FREQUENCY), ("duration", DURATION), ("renewal", RENEWAL), ("dose", P.DOSE))
LINE_PARTS = re.compile(r"\s+[—–-]\s+|\s*;\s*")


def typed_line(line: str) -> tuple[str, dict[str, str | None], bool]:
    """A prescription line typed on the desk (« amlodipine ; 10 mg ; par jour », or the printed
    form « AMLODIPINE — 10 mg — par jour »): its drug name, its parts by kind, and whether every
    part was understood (else the line is printed as typed: nothing she typed is dropped)."""
    name, *parts = [part.strip() for part in LINE_PARTS.split(line.strip()) if part.strip()]
    fields: dict[str, str | None] = {}
    understood = True
    for part in parts:
        kind = next((kind for kind, pattern in PART_PATTERNS
                     if kind not in fields and (found := pattern.fullmatch(part))), None)
        if kind is None:
            understood = False
        else:
            fields[kind] = " ".join(part.split())
    return name, fields, understood
