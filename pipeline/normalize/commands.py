"""Spoken dictation vocabulary (data only): commands, number words, context cues. Month names
and units are French shared with extract and the letter: pipeline.french."""

from __future__ import annotations

from pipeline.french import MONTHS, NUMBER_WORDS, UNITS  # noqa: F401  (part of this vocabulary, kept in one home)

# Spoken punctuation and layout → what it writes. Longest phrases are matched first.
# "\n" is a line break, "\n\n" a new paragraph.
PUNCTUATION_COMMANDS: dict[str, tuple[str, ...]] = {
    "point à la ligne": (".", "\n"),
    "point a la ligne": (".", "\n"),
    "point virgule": (";",),
    "point-virgule": (";",),
    "point d'interrogation": ("?",),
    "point d'exclamation": ("!",),
    "points de suspension": ("…",),
    "deux points": (":",),
    "deux-points": (":",),
    "virgule": (",",),
    "point final": (".",),
    "point": (".",),
    "à la ligne": ("\n",),
    "retour à la ligne": ("\n",),
    "nouvelle ligne": ("\n",),
    "nouveau paragraphe": ("\n\n",),
    "ouvrez la parenthèse": ("(",),
    "ouvrir la parenthèse": ("(",),
    "ouvrez parenthèse": ("(",),
    "fermez la parenthèse": (")",),
    "fermer la parenthèse": (")",),
    "fermez parenthèse": (")",),
    "ouvrez les guillemets": ("«",),
    "ouvrez guillemets": ("«",),
    "fermez les guillemets": ("»",),
    "fermez guillemets": ("»",),
    "tiret": ("-",),
}

# Commands that undo what was just said.
DELETE_SENTENCE_COMMANDS = ("effacez la dernière phrase", "supprimez la dernière phrase", "annulez la dernière phrase")
# "… 5 mg non pardon 10 mg": the words after the cue replace what they correct (see
# normalize._corrected_length). « non » alone and « plutôt » alone are ordinary words too
# (« non fumeur », « plutôt fatigué »): only in these phrases are they a correction.
CORRECTION_CUES = ("non pardon", "pardon", "je corrige", "je rectifie", "non plutôt", "ou plutôt", "enfin non",
                   "non non")
# A corrected noun phrase starts where the replacement's own kind of determiner stood:
# « un traitement symptomatique, non pardon, une radiographie » replaces « un traitement … ».
DETERMINER_KINDS = (
    frozenset({"un", "une"}), frozenset({"le", "la", "les", "l'"}), frozenset({"du", "des"}),
    frozenset({"ce", "cet", "cette", "ces"}), frozenset({"son", "sa", "ses", "mon", "ma", "mes", "leur", "leurs"}),
)
PREPOSITIONS = frozenset({"à", "au", "aux", "dans", "pendant", "par", "pour", "en", "sur", "sous", "avec", "sans",
                          "chez", "vers", "après", "avant", "depuis"})

# "point" is an ordinary word in these contexts ("mise au point", "point de suture").
POINT_NOT_COMMAND_BEFORE = frozenset({"au", "un", "le", "ce", "du", "de", "à", "en", "mise", "bon", "quel", "chaque", "même"})
POINT_NOT_COMMAND_AFTER = frozenset({"de", "du", "des", "d'", "noir", "culminant", "douloureux", "commun", "fort", "faible"})
# "deux points de suture" is not a colon.
COLON_NOT_COMMAND_AFTER = frozenset({"de", "du", "des", "d'"})

OPENING_MARKS = frozenset({"(", "«"})
CLOSING_MARKS = frozenset({")", "»"})
SENTENCE_ENDS = frozenset({".", "?", "!", "…"})
BREAKS = frozenset({"\n", "\n\n"})
# French typography: a space before these.
SPACED_BEFORE = frozenset({":", ";", "?", "!", "»"})
NO_SPACE_BEFORE = frozenset({",", ".", ")", "…", "°"})  # « n° 12 »

# Units spoken after a number → symbol (pipeline.french). Longest phrases first at match time.

# Small numbers stay in words ("deux fois par jour") unless one of these follows.
NUMERIC_CONTEXT_AFTER = frozenset(
    """ans an mois jours jour semaines semaine heures heure minutes minute secondes ans
    comprimés comprimé gélules gélule sachets sachet gouttes goutte ampoules ampoule bouffées""".split()
) | frozenset(MONTHS)
# Between two numbers of a pair ("12 sur 7", "de 10 à 12").
NUMBER_PAIR_LINKS = frozenset({"sur", "à", "ou", "et"})
# "tension 13 8" / "TA 12 sur 7" → 13/8, 12/7; "TA mesurée à 13/8": within this many words of the cue.
BLOOD_PRESSURE_CUES = frozenset({"tension", "ta", "pression"})
BLOOD_PRESSURE_WINDOW = 5
BLOOD_PRESSURE_MAX = 30  # 13/8: centimetres of mercury
MMHG_SYSTOLIC, MMHG_DIASTOLIC = (50, 300), (20, 200)  # 130/80: millimetres
