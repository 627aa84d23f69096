"""Lexicon data that is small enough to live in code: curated brands, words never taken as terms."""

from __future__ import annotations

import re

from pipeline.french import fold, singular

# « amoxicilline acide clavulanique »: one lexicon name, two INNs for the secretary.
COMBINATION_SPLIT = re.compile(r"\s+(?:et|\+)\s+|\s+(?=acide\s)", re.IGNORECASE)

# Lexicon entries too short or too common in ordinary French to match on their own.
MIN_DRUG_LENGTH = 4
DRUG_STOPWORDS = frozenset(singular(fold(word)) for word in """
    avis mars sous plus soit fort forte voie pour avec dans face test gel spray cure acide sels base
    jour nuit tension cher effet sans aide vital vitale calme rapide long eau sodium potassium calcium
    magnesium fer zinc oxygene alcool huile miel citron menthe vitamine azote glucose sucre sel
""".split())

# Brands the BDPM and edsnlp disagree on, or that prescribers name by habit. Folded brand → INNs.
BRAND_INN: dict[str, tuple[str, ...]] = {
    "doliprane": ("paracétamol",), "dafalgan": ("paracétamol",), "efferalgan": ("paracétamol",),
    "kardegic": ("acide acétylsalicylique",), "aspegic": ("acide acétylsalicylique",),
    "aspirine": ("acide acétylsalicylique",),
    "levothyrox": ("lévothyroxine",), "l thyroxin": ("lévothyroxine",),
    "augmentin": ("amoxicilline", "acide clavulanique"), "clamoxyl": ("amoxicilline",),
    "amlor": ("amlodipine",), "glucophage": ("metformine",), "stagid": ("metformine",),
    "tahor": ("atorvastatine",), "crestor": ("rosuvastatine",), "inexium": ("ésoméprazole",),
    "mopral": ("oméprazole",), "spasfon": ("phloroglucinol",), "xarelto": ("rivaroxaban",),
    "eliquis": ("apixaban",), "ventoline": ("salbutamol",), "seretide": ("salmétérol", "fluticasone"),
    "kenzen": ("candésartan",), "coversyl": ("périndopril",), "triatec": ("ramipril",),
    "lasilix": ("furosémide",), "previscan": ("fluindione",), "lovenox": ("énoxaparine",),
    "solupred": ("prednisolone",), "cortancyl": ("prednisone",), "topalgic": ("tramadol",),
    "ixprim": ("tramadol", "paracétamol"), "lamaline": ("paracétamol", "opium", "caféine"),
    "seresta": ("oxazépam",), "xanax": ("alprazolam",), "stilnox": ("zolpidem",), "deroxat": ("paroxétine",),
    "depakine": ("acide valproïque",), "lixiana": ("édoxaban",), "ozempic": ("sémaglutide",),
    "jardiance": ("empagliflozine",), "forxiga": ("dapagliflozine",), "entresto": ("sacubitril", "valsartan"),
    "trulicity": ("dulaglutide",), "victoza": ("liraglutide",), "januvia": ("sitagliptine",),
    "janumet": ("sitagliptine", "metformine"), "lantus": ("insuline glargine",), "toujeo": ("insuline glargine",),
    "novorapid": ("insuline asparte",), "humalog": ("insuline lispro",), "tresiba": ("insuline dégludec",),
    "pradaxa": ("dabigatran",), "plavix": ("clopidogrel",), "brilique": ("ticagrélor",),
    "efient": ("prasugrel",), "cordarone": ("amiodarone",), "flecaine": ("flécaïnide",),
    "sectral": ("acébutolol",), "tenormine": ("aténolol",), "detensiel": ("bisoprolol",),
    "cardensiel": ("bisoprolol",), "aldactone": ("spironolactone",), "esidrex": ("hydrochlorothiazide",),
    "cozaar": ("losartan",), "aprovel": ("irbésartan",), "tareg": ("valsartan",), "micardis": ("telmisartan",),
}

# ATC codes of substances marketed after edsnlp's 2018 list (WHO ATC index).
RECENT_ATC: dict[str, str] = {
    "semaglutide": "A10BJ06", "dulaglutide": "A10BJ05", "liraglutide": "A10BJ02", "exenatide": "A10BJ01",
    "empagliflozine": "A10BK03", "dapagliflozine": "A10BK01", "canagliflozine": "A10BK02",
    "sitagliptine": "A10BH01", "vildagliptine": "A10BH02", "saxagliptine": "A10BH03",
    "edoxaban": "B01AF03", "sacubitril": "C09DX04", "tirzepatide": "A10BX16",
    "insuline degludec": "A10AE06", "insuline glargine": "A10AE04",
}
