"""Vocabulary data: context cues, thresholds, the base of the Whisper prompt. (The phonetic key
is French: pipeline/french.py.)"""

from __future__ import annotations

# A dose after a word says it is a drug: "… 5 milligrammes", "… 1000 mg".
DOSE_UNITS = frozenset(
    """mg g µg ml milligrammes milligramme grammes gramme microgrammes microgramme gammas
    gouttes goutte comprimés comprimé gélules gélule sachets sachet unités ui""".split()
)
# … or words before it: "traité par …", "sous …".
DRUG_CUES = (
    ("traité", "par"), ("traitée", "par"), ("traitement", "par"), ("relais", "par"), ("sous",),
    ("prescription", "de"), ("prescris",), ("introduction", "de"), ("arrêt", "de"), ("arrêt", "du"),
    ("poursuit",), ("poursuivre",), ("reprise", "de"),
)
NAME_CUES = (("docteur",), ("professeur",), ("dr",), ("pr",), ("confrère",), ("consœur",))

MIN_KEY_LENGTH = 5
MIN_SIMILARITY = 0.75
MAX_WINDOW_WORDS = 3

PROMPT_HEAD = "Dictée médicale en français."
PROMPT_MAX_CHARS = 600
# faster-whisper keeps ~223 hotword tokens; French medical words take ~3 characters a token.
HOTWORDS_MAX_CHARS = 600
# Prescribed often enough in French practice to be worth the prompt's limited room.
COMMON_DRUGS = (
    "paracétamol", "amlodipine", "metformine", "lévothyroxine", "atorvastatine", "ramipril", "bisoprolol",
    "furosémide", "kétoprofène", "ibuprofène", "amoxicilline", "acide clavulanique", "oméprazole",
    "ésoméprazole", "apixaban", "rivaroxaban", "prednisone", "tramadol", "périndopril", "lisinopril",
    "rosuvastatine", "salbutamol", "insuline", "colécalciférol", "clopidogrel", "acide acétylsalicylique",
)
# An echoed prompt: this many prompt words in a row in the transcript.
ECHO_MIN_WORDS = 5

# Repair of misheard terms (repair.py). Thresholds measured on our dev pairs and FLEURS.
PUNCTUATION = ",.;:!?…»«\"()"
CLAUSE_PUNCTUATION = ",.;:!?…"
REPAIR_MIN_KEY_LENGTH = 6  # shorter keys match too many words by chance
REPAIR_MIN_WORD_LENGTH = 3
ANCHOR_MIN_KEY_LENGTH = 5  # a word that anchors a term of several words: « maladie », not « de »
ANCHOR_REACH = 2  # words either side of it that may be the rest of the term
REPAIR_MAX_WINDOW = 3  # a term heard as up to three words
REPAIR_JOINABLE_LENGTH = 4  # known words this short may be a piece of a split term
REPAIR_UNSURE_PROBABILITY = 0.4
REPAIR_MIN_SIMILARITY = 0.8
REPAIR_MIN_MARGIN = 0.05
REPAIR_STRICT_SIMILARITY = 0.9  # brands, and real French words the recognizer was unsure of
REPAIR_SUSPECT_SHARE = 0.5  # the unknown words must make at least half of a window's letters
REPAIR_EXACT_SIMILARITY = 1.0  # a window holding a sure, common word must sound exactly like the term
REPAIR_JOINED_MIN_KEY_LENGTH = 8  # correct words joined into a term: long terms only, chance is low
# A word in wordfreq's French list (Zipf ≥ 1: seen about once in 100 million words) is taken as
# a correct word; Whisper's misheard forms are almost never in it (« formines », « Guinal »).
REPAIR_COMMON_ZIPF = 1.0
VOWEL_KEYS = frozenset("aeiouAIOU")
ELIDED_ARTICLES = ("l", "d")
ARTICLES = frozenset({"l", "d", "le", "la", "de", "du", "des", "les"})
