"""Cue words and regexes for French dictation understanding (data only, no logic)."""

from __future__ import annotations

import re

from pipeline.documents import KINDS
from pipeline.french import MONTH_NUMBERS

UPPER = "A-ZÀ-ÖØ-Þ"
# A capitalised name word: Dupont, Jean-Pierre, N'Diaye, DUBOIS, O'Neil.
# Two letters at least ("X." is an initial), or an elided capital: N'Diaye, O'Neil.
NAME_WORD = rf"[{UPPER}](?:\w+|(?=['’][{UPPER}]))(?:['’-][{UPPER}\w]\w*)*"
NAME_PARTICLE = r"(?:de\s+la|de\s+l'|de|du|des|van|von|ben|bin|el|al|da|di|dos|del|le|la)"
# Names never run across a line break.
FULL_NAME = rf"{NAME_WORD}(?:(?:[ \t]+{NAME_PARTICLE})?[ \t]+{NAME_WORD}|[ \t]+d['’]{NAME_WORD})*"
# Capitalised words that begin a surname rather than being a first name: "Madame Le Goff".
SURNAME_PARTICLES = frozenset({"le", "la", "de", "du", "des", "van", "von", "ben", "el", "al", "da", "di", "d'"})

CIVILITIES: dict[str, str] = {
    "monsieur": "M", "m.": "M", "mr": "M", "mr.": "M",
    "madame": "F", "mme": "F", "mme.": "F", "mademoiselle": "F", "mlle": "F",
}
CIVILITY_WORDS = r"(?:Monsieur|Madame|Mademoiselle|M\.|Mr\.?|Mme\.?|Mlle\.?)"
CIVILITY = rf"(?P<civility>{CIVILITY_WORDS})"
# "le patient Jean Dupont", "la patiente Claire Dumas", "l'enfant Hugo Blanc"
PATIENT_NOUN = (
    r"(?P<noun>(?:[Ll]e|[Ll]a|[Vv]otre|[Mm]on|[Mm]a|[Nn]otre)\s+(?:patiente?|petite?|jeune|nourrisson|bébé|fillette|garçon)"
    r"|[Pp]atiente?|[Ll]'enfant|[Ee]nfant|[Bb]ébé|[Nn]ourrisson)"
)
# The sex a patient noun says: « la patiente », « le petit », « la jeune » (a child's name alone does not).
PATIENT_NOUN_SEX = {
    "patient": "M", "patiente": "F", "petit": "M", "petite": "F", "fillette": "F", "garçon": "M",
    "le jeune": "M", "la jeune": "F",
}

# A civility right after these words belongs to a doctor or a relative, not to the patient.
NOT_PATIENT_BEFORE = re.compile(
    r"(?:docteur|professeur|\bDr\.?|\bPr\.?|soussignée?|"
    r"\bsa\s+(?:mère|fille|sœur|femme|épouse|tante|grand-mère|compagne)|"
    r"\bson\s+(?:père|fils|frère|mari|époux|oncle|grand-père|compagnon|épouse)|"
    r"accompagnée?\s+(?:de|par))\s*(?:,\s*)?(?:le\s+|la\s+)?$",
    re.IGNORECASE,
)
BIRTH_NAME = re.compile(rf"^\s*,?\s*née\s+(?!le\b|l'|en\b)(?P<birth_name>{NAME_WORD})")
# « Madame Claire Dubois épouse Martin »: the name given is the birth name, the husband's is used.
MARRIED_NAME = re.compile(rf"^\s*,?\s*(?:épouse|ép\.|veuve|vve)\s+(?P<used_name>{NAME_WORD}(?:[ \t-]+{NAME_WORD})?)")
# A name spelt letter by letter for the secretary: « Dupont, D U P O N T », « D-U-P-O-N-T ».
SPELLED_NAME = re.compile(
    r"^\s*,?\s*(?:(?:je\s+(?:vous\s+)?)?(?:épelle|épelé|j'épelle)\s*:?\s*)?"
    r"(?P<letters>(?:\b[A-Za-zÀ-ÖØ-öø-ÿ]\b\.?(?:\s*[-–]\s*|\s+|(?=[,;:.]|$))){3,})"
)

DATE_WORDS = r"(?P<day>\d{1,2})(?:er)?\s+(?P<month_name>" + "|".join(MONTH_NUMBERS) + r")\s+(?P<year>\d{4})"
DATE_NUMERIC = r"(?P<nday>\d{1,2})\s*[/.|-]\s*(?P<nmonth>\d{1,2})\s*[/.|-]\s*(?P<nyear>\d{4})"
DATE = rf"(?:{DATE_WORDS}|{DATE_NUMERIC})"
BIRTH_DATE = re.compile(
    rf"(?:\bnée?\s+le|\bdate\s+de\s+nais(?:sance|s?\.?)?\s*:?|\bDDN\s*:?|\bnée?\s+du"
    rf"|\bnée?\s+(?:[^\s,.;]+\s+){{1,3}}le)\s*(?:le\s+)?{DATE}",  # « née Dubois le … », « né à Lyon le … »
    re.IGNORECASE,
)
NIR_CUE = re.compile(
    r"(?:sécurité\s+sociale|\bNIR\b|\bINS\b|numéro\s+de\s+sécu|\bsécu\b)\s*:?\s*(?:est\s+le\s+)?"
    r"(?P<nir>[12](?:\s*(?:\d|2A|2B)){12,16})",
    re.IGNORECASE,
)
IPP = re.compile(r"\bIPP\s*:?\s*(?:numéro\s*)?(?P<ipp>\d[\d\s]{4,14}\d)", re.IGNORECASE)

TITLES = {"docteur": "Dr", "dr": "Dr", "dr.": "Dr", "professeur": "Pr", "pr": "Pr", "pr.": "Pr"}
# A title opening what someone typed or an address book wrote: « Dr Martin », « Professeur Lenoir ».
TITLE_FIRST = re.compile(r"^\s*(docteur|professeur|dr\.?|pr\.?)\s+", re.IGNORECASE)
RECIPIENT_HEADER = re.compile(
    r"(?:courrier|lettre|mot|réponse|courriel|compte\s+rendu)\s+(?:adressée?\s+)?(?:au|à|pour|destinée?\s+au)\s+"
    r"(?:l[ea]\s+|mon\s+|ma\s+|(?:madame|monsieur)\s+l[ea]\s+)?(?:cher\s+|chère\s+)?"
    r"(?P<title>docteur|professeur|Dr\.?|Pr\.?)\s+(?P<name>" + FULL_NAME + r")"
    r"(?P<rest>[^.\n]*)",
    re.IGNORECASE,
)
# « Copie au docteur Durand, cardiologue. » / « Double à son médecin traitant le docteur Roux et au
# professeur Lenoir. »: a sentence that opens on the cue, then each colleague it names.
COPY_SENTENCE = re.compile(r"(?:^|(?<=[.!?\n]))[ \t]*(?:avec\s+)?(?:une\s+)?(?:copies?|doubles?)\s+(?:de\s+ce\s+courrier\s+)?"
                           r"(?:au|aux|à|pour)\b[^.!?\n]*[.!?]?", re.IGNORECASE)
# Case matters in the name (a capital starts it), not in the words around it.
COPY_NAMED = re.compile(r"(?P<title>(?i:docteur|professeur|Dr\.?|Pr\.?))\s+(?P<name>" + FULL_NAME + r")"
                        r"(?P<rest>[^.;\n]*?)(?=\s+(?i:et)\s+|[.;\n]|$)")
GREETING = re.compile(
    r"\b(?P<greeting>(?:mon\s+)?cher\s+confrère|(?:ma\s+)?chère\s+consœur|chère\s+consoeur|cher\s+ami|chère\s+amie|"
    r"chers\s+confrères|cher\s+collègue|chère\s+collègue|chère\s+madame|cher\s+monsieur|madame,\s*monsieur)\b",
    re.IGNORECASE,
)
SPECIALTIES = (
    "médecin traitant", "médecin généraliste", "généraliste", "cardiologue", "dermatologue", "pneumologue",
    "gastro-entérologue", "gastroentérologue", "endocrinologue", "diabétologue", "néphrologue", "neurologue",
    "neurochirurgien", "rhumatologue", "oncologue", "hématologue", "urologue", "gynécologue",
    "gynécologue-obstétricien", "obstétricien", "pédiatre", "psychiatre", "ophtalmologue", "ophtalmologiste",
    "oto-rhino-laryngologiste", "ORL", "chirurgien", "chirurgien orthopédiste", "chirurgien viscéral",
    "chirurgien vasculaire", "orthopédiste", "radiologue", "anesthésiste", "gériatre", "infectiologue",
    "allergologue", "angiologue", "médecin vasculaire", "phlébologue", "interniste", "stomatologue",
    "kinésithérapeute", "sage-femme", "médecin du travail", "médecin du sport", "addictologue",
)
SPECIALTY = re.compile(r"\b(?P<specialty>" + "|".join(sorted(map(re.escape, SPECIALTIES), key=len, reverse=True)) + r")\b", re.IGNORECASE)
SERVICE = re.compile(r"\bservice\s+(?:de\s+|d'|des\s+)(?P<service>[\w' -]+)", re.IGNORECASE)
CITY = re.compile(rf"(?:^|\s)(?:à|au|sur)\s+(?P<city>{NAME_WORD}(?:[\s-]+(?:sur|sous|en|le|la|les|de)?[\s-]*{NAME_WORD})*)")

# Document type: first cue found in the opening sentences wins, in the registry's order.
DOCUMENT_TYPE_CUES: tuple[tuple[str, re.Pattern[str]], ...] = tuple((kind.key, kind.cue) for kind in KINDS if kind.cue)
# Fallback when no opening cue: a collegial greeting means a letter.
LETTER_GREETING = re.compile(r"\b(?:cher\s+confrère|chère\s+consœur|chère\s+consoeur)\b", re.I)
# An opening sentence that only states the type (and possibly the addressee) is not body text.
MAX_HEADER_WORDS = 12

# Negated findings: "pas de dyspnée", "sans asthénie", "absence d'adénopathie".
NEGATION_CUE = re.compile(
    r"\b(?:pas\s+d[e']|pas\s+de\s+|sans\s+|absence\s+d[e']|absence\s+de\s+|aucune?\s+|ni\s+|n'a\s+pas\s+de\s+|ne\s+présente\s+pas\s+d[e'])\s*"
    r"(?P<finding>[^.,;:!?\n()]+)",
    re.IGNORECASE,
)
FINDING_STOP = re.compile(r"\s+(?:et|ni|mais|ou|car|qui|donc|puis|avec|chez|depuis|pour|en|à|au|ce|cette)\b.*$", re.IGNORECASE)
FINDING_MAX_WORDS = 6
NOT_A_FINDING = frozenset({"particularité", "particularités", "traitement", "autre", "doute", "problème", "changement", "modification"})

# Drug details, searched in the words that follow a drug name.
DOSE = re.compile(
    r"\b(?P<dose>\d+(?:,\d+)?\s*(?:mg|g|µg|mL|L|UI|%|mmol|mg/kg|mg/j|gouttes?|comprimés?|gélules?|sachets?|bouffées?|ampoules?))(?!\w)",
)
FREQUENCY = re.compile(
    r"\b(?P<frequency>(?:\d+|une|deux|trois|quatre|cinq|six)\s+fois\s+par\s+(?:jour|semaine|mois|an)|"
    r"toutes\s+les\s+\d+\s+(?:heures|h|jours|semaines)|"
    r"(?:une|deux|trois|\d+)\s+(?:application|prise|injection|bouffée|goutte|ampoule)s?\s+par\s+(?:jour|semaine)|"
    r"matin,?\s+midi\s+et\s+soir|matin\s+et\s+soir|le\s+matin(?:\s+à\s+jeun)?|le\s+soir|le\s+midi|au\s+coucher|"
    r"par\s+(?:jour|semaine|mois)|à\s+la\s+demande|si\s+besoin|en\s+cas\s+de\s+douleurs?)"
)
DURATION = re.compile(r"\b(?P<duration>pendant\s+\d+\s+(?:jours?|semaines?|mois)|(?:durant|sur)\s+\d+\s+(?:jours?|semaines?|mois))")
# A drug's details stop at the end of its clause.
DRUG_DETAIL_WINDOW = 200  # to the end of its sentence: dose, route, frequency, condition, duration, renewal
# Where the quoted drug text stops: the next clause.
DRUG_CLAUSE_END = re.compile(r",|\s(?:et|puis|sous|avec)\s")

# Qualifier cues that mislead in dictations. « non compliquée » qualifies, it does not negate;
# « hypercholestérolémie familiale » names a disease, and « chez l'enfant » is often the patient.
NOT_NEGATING = ("non compliqué", "non compliquée", "non compliqués", "non compliquées", "non sévère", "non grave")
NOT_FAMILY = frozenset({"enfant", "familial", "familiale", "familiales", "familiaux"})
