"""Synthetic French medical dictations: text from templates and the product's lexicon, speech
from espeak-ng with MBROLA's French voices (recorded human diphones; Debian non-free packages
mbrola-fr1 … fr7, ca1, ca2).

There is no open French medical speech corpus we may use here. Formant speech (espeak-ng's own
voices) is unintelligible to Whisper; MBROLA's is not, so these recordings measure what depends
on the words — medical terms heard, learned, repaired — on speech. They do not measure accents,
noise or real speaking style: figures from them are labelled « synthetic » in the README.

Every sentence is fictitious; nothing here comes from a patient.
"""

from __future__ import annotations

import random
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "pipeline" / "lexicon" / "data"
TRAIN_VOICES = ("mb-fr1", "mb-fr2", "mb-fr3", "mb-fr6", "mb-ca1")
TEST_VOICES = ("mb-fr4", "mb-fr5", "mb-fr7")  # never heard in training
DOSES = (5, 10, 20, 25, 40, 75, 100, 160, 250, 500, 1000)

DRUG_SENTENCES = (
    "Il est traité par {drug} {dose} mg une fois par jour.",
    "Je propose d'introduire {drug} {dose} mg matin et soir.",
    "Elle prend du {drug} {dose} mg depuis trois mois, bien toléré.",
    "Nous avons arrêté le {drug} en raison d'une mauvaise tolérance.",
    "Poursuite du {drug} {dose} mg sans modification.",
    "Le {drug} a été remplacé par un autre traitement la semaine dernière.",
    "Ordonnance de {drug} {dose} mg pour une durée d'un mois.",
)
CONDITION_SENTENCES = (
    "Elle présente une {condition} connue depuis plusieurs années.",
    "On retient le diagnostic de {condition}.",
    "Antécédents notables de {condition}.",
    "Pas de signe évocateur de {condition} à l'examen.",
    "Il est suivi pour une {condition} stable.",
    "La {condition} reste le problème principal.",
)
PROCEDURE_SENTENCES = (
    "Une {procedure} est prévue le mois prochain.",
    "La {procedure} réalisée hier est rassurante.",
    "Je demande une {procedure} de contrôle.",
    "Les résultats de la {procedure} sont attendus.",
    "Nous discuterons de la {procedure} lors de la prochaine consultation.",
)
OPENINGS = (
    "Cher confrère, je vous adresse ce patient pour avis.",
    "Je revois en consultation ce patient de soixante ans.",
    "Compte rendu de consultation de ce jour.",
    "Je vous remercie de recevoir cette patiente.",
)


@dataclass(frozen=True, slots=True)
class Dictation:
    name: str
    text: str  # as typed in the letter
    spoken: str  # as read aloud
    voice: str
    speed: int
    terms: tuple[str, ...]


def _brands() -> list[str]:
    names = []
    for line in (DATA / "drugs_bdpm.tsv").read_text(encoding="utf-8").splitlines():
        fields = line.split("\t")
        if len(fields) > 1 and fields[1] == "brand":
            name = fields[0]
            if re.fullmatch(r"[A-ZÉ][a-zéèêëïîôç]{5,11}", name):
                names.append(name)
    return sorted(set(names))


def _conditions() -> list[str]:
    wordings = []
    for line in (DATA / "conditions_fr.tsv").read_text(encoding="utf-8").splitlines():
        if line.startswith("#") or "\t" not in line:
            continue
        for wording in line.split("\t")[1].split("|"):
            wording = wording.strip()
            if (wording.islower() and 1 <= len(wording.split()) <= 3 and len(wording) >= 9
                    and wording.split()[0].endswith("e") and "'" not in wording):
                wordings.append(wording)
    return sorted(set(wordings))


def _procedures() -> list[str]:
    lines = (DATA / "procedures_fr.txt").read_text(encoding="utf-8").splitlines()
    return sorted({line.strip() for line in lines if line.strip().islower() and line.strip().endswith("ie")
                   and len(line.strip()) >= 9 and " " not in line.strip()})


def term_pools(seed: int = 7) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """(terms dictated in training and again in the test, terms only in the test)."""
    rng = random.Random(seed)
    seen: dict[str, list[str]] = {}
    unseen: dict[str, list[str]] = {}
    for kind, pool, size in (("drug", _brands(), 50), ("condition", _conditions(), 40), ("procedure", _procedures(), 30)):
        picked = rng.sample(pool, min(len(pool), size + size // 3))
        seen[kind], unseen[kind] = picked[:size], picked[size:]
    return seen, unseen


def _sentence(kind: str, term: str, rng: random.Random, templates_used: set[str], *, avoid: set[str]) -> str:
    templates = {"drug": DRUG_SENTENCES, "condition": CONDITION_SENTENCES, "procedure": PROCEDURE_SENTENCES}[kind]
    choices = [t for t in templates if (t, term) not in avoid] or list(templates)
    template = rng.choice(choices)
    templates_used.add((template, term))
    return _elide(template.format(drug=term, condition=term, procedure=term, dose=rng.choice(DOSES)))


def _elide(sentence: str) -> str:
    """« le Azilect » → « l'Azilect », « du œ… » → « de l'œ… », as French writes them."""
    sentence = re.sub(r"\bdu (?=[AEIOUYÉHaeiouyéèêœh])", "de l'", sentence)
    return re.sub(r"\b([Ll])[ea] (?=[AEIOUYÉHaeiouyéèêœh])", r"\1'", sentence)


def dictations(pools: dict[str, list[str]], count: int, *, voices: tuple[str, ...], seed: int, prefix: str,
               avoid: set | None = None) -> tuple[list[Dictation], set]:
    """`count` dictations of an opening and three sentences, each naming a term of the pools;
    every term comes back in turn. Returns them and the (template, term) pairs used."""
    rng = random.Random(seed)
    queue: list[tuple[str, str]] = []
    used: set = set()
    out = []
    for index in range(count):
        picked = []
        for _ in range(3):
            if not queue:
                queue = [(kind, term) for kind, terms in pools.items() for term in terms]
                rng.shuffle(queue)
            picked.append(queue.pop())
        text = " ".join([rng.choice(OPENINGS), *(_sentence(k, t, rng, used, avoid=avoid or set()) for k, t in picked)])
        spoken = text.replace(" mg ", " milligrammes ")
        out.append(Dictation(f"{prefix}-{index:03d}", text, spoken, voices[index % len(voices)],
                             rng.choice((140, 150, 160, 170)), tuple(t for _, t in picked)))
    return out, used


def have_voices() -> str | None:
    """Why synthetic speech cannot be made here, or None."""
    if shutil.which("espeak-ng") is None:
        return "espeak-ng is not installed (apt-get install espeak-ng)"
    missing = [v for v in (*TRAIN_VOICES, *TEST_VOICES) if not Path(f"/usr/share/mbrola/{v[3:]}").exists()]
    if missing:
        return f"MBROLA voices missing: {', '.join(missing)} (Debian non-free: apt-get install mbrola-fr1 …)"
    return None


def synthesize(dictation: Dictation, folder: Path) -> Path:
    """folder/<name>.wav (the speech) and folder/<name>.txt (the letter as typed)."""
    folder.mkdir(parents=True, exist_ok=True)
    wav = folder / f"{dictation.name}.wav"
    subprocess.run(["espeak-ng", "-v", dictation.voice, "-s", str(dictation.speed), "-w", str(wav), dictation.spoken],
                   check=True, capture_output=True)
    (folder / f"{dictation.name}.txt").write_text(dictation.text + "\n", encoding="utf-8")
    return wav
