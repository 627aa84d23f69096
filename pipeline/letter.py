"""The parts of a French letter the dictation runs together: the salutation (« Cher confrère, »)
and the closing (« Bien confraternellement. ») become paragraphs of their own, and « Objet : »
says the type and, when dictated, the reason (« pour bilan d'une dyspnée »)."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from pipeline.extract.doctype import SENTENCE
from pipeline.extract.patterns import GREETING
from pipeline.french import MONTHS, fold
from pipeline.records import Condition, Patient

# The salutation opens the letter, ending at its comma.
SALUTATION = re.compile(rf"^\s*(?:{GREETING.pattern})\s*,\s*", re.IGNORECASE)
CLOSING = re.compile(
    r"(?:^|(?<=[.!?])\s+)(?P<closing>(?:bien\s+)?(?:confraternellement|amicalement|cordialement)[^.!?]*[.!?]?"
    r"|(?:avec\s+)?(?:mes|nos)\s+(?:sentiments|salutations|amitiés|remerciements)[^.!?]*[.!?]?"
    r"|amitiés[^.!?]*[.!?]?|bien\s+à\s+(?:vous|toi)[^.!?]*[.!?]?|respectueusement[^.!?]*[.!?]?"
    r"|(?:très\s+)?sincèrement[^.!?]*[.!?]?|(?:avec\s+)?toute\s+ma\s+considération[^.!?]*[.!?]?"
    r"|merci\s+(?:de\s+votre|pour\s+votre)\s+(?:aide|avis|confiance)[^.!?]*[.!?]?"
    r"|je\s+vous\s+prie\s+d'agréer[^.!?]*[.!?]?|en\s+vous\s+remerciant[^.!?]*[.!?]?)\s*$",
    re.IGNORECASE,
)
@dataclass(frozen=True, slots=True)
class LetterParts:
    salutation: str | None
    paragraphs: tuple[str, ...]
    closing: str | None


def split_letter(body: str) -> LetterParts:
    """The body's paragraphs, with the salutation taken off the first and the closing off the last."""
    paragraphs = [paragraph.strip() for paragraph in body.split("\n") if paragraph.strip()]
    salutation = closing = None
    if paragraphs:
        found = SALUTATION.match(paragraphs[0])
        if found:
            salutation = paragraphs[0][: found.end()].strip().rstrip(",") + ","
            rest = paragraphs[0][found.end():].strip()
            paragraphs[0:1] = [rest[:1].upper() + rest[1:]] if rest else []
    if paragraphs:
        found = CLOSING.search(paragraphs[-1])
        if found:
            closing = found.group("closing").strip()
            closing = closing[:1].upper() + closing[1:]
            rest = paragraphs[-1][: found.start("closing")].strip()
            paragraphs[-1:] = [rest] if rest else []
    return LetterParts(salutation, tuple(paragraphs), closing)


def _heading_pattern(heading: str) -> str:
    """« Résultats » heard as « résultat », « resultats » (a lost accent), in any case."""
    base = heading[:-1] if heading.endswith("s") else heading
    return "".join("[ée]" if char in "éÉ" else re.escape(char) for char in base) + "s?"


def report_sections(paragraphs: tuple[str, ...], headings: tuple[str, ...]) -> list[dict]:
    """A report laid out under the headings the practitioner dictated (« Indication : … Technique :
    … Conclusion : … », inline or on lines of their own): [{"heading", "paragraphs"}], what comes
    before the first heading under none. Empty where no heading was dictated."""
    if not headings:
        return []
    def key(said: str) -> str:
        return fold(said).rstrip("s")

    named = {key(heading): heading for heading in headings}
    cue = re.compile(r"(?:^|(?<=[.!?])[ \t]+)(?P<heading>" + "|".join(map(_heading_pattern, headings))
                     + r")[ \t]*:[ \t]*", re.IGNORECASE | re.MULTILINE)
    text = "\n".join(paragraphs)
    found = list(cue.finditer(text))
    if not found:
        return []

    def lines(part: str) -> list[str]:
        return [line.strip() for line in part.split("\n") if line.strip()]

    sections = [{"heading": None, "paragraphs": lines(text[: found[0].start()])}] if lines(text[: found[0].start()]) else []
    for index, match in enumerate(found):
        end = found[index + 1].start() if index + 1 < len(found) else len(text)
        body = lines(text[match.end():end])
        sections.append({"heading": named[key(match.group("heading"))],
                         "paragraphs": [body[0][:1].upper() + body[0][1:], *body[1:]] if body else []})
    return sections


# A prescription for a child gives its age and weight; the dictation says the weight.
WEIGHT = re.compile(r"\b(?:poids|pès?e|pesant)\b\D{0,20}?(?P<kg>\d+(?:,\d+)?)\s*(?:kg|kilos?|kilogrammes?)\b", re.IGNORECASE)
CHILD_UNTIL = 18


def weight_kg(body: str) -> str | None:
    found = WEIGHT.search(body)
    return found.group("kg") if found else None


def age_line(birth_date: str | None, on: dt.date) -> str | None:
    """« 6 ans » / « 18 mois » for a child; None for an adult or an unknown birth date."""
    if not birth_date:
        return None
    born = dt.date.fromisoformat(birth_date)
    months = (on.year - born.year) * 12 + on.month - born.month - (on.day < born.day)
    if months < 0 or months >= CHILD_UNTIL * 12:
        return None
    return f"{months} mois" if months < 24 else f"{months // 12} ans"


# The bizone prescription (ordonnance bizone, Cerfa 12555): the drugs for the patient's long-term
# condition (ALD, fully reimbursed) above, the others below. A drug belongs to the zone its own
# sentence names, else to the zone the dictation last announced.
OUTSIDE_ALD = re.compile(r"\bhors\s+(?:ALD|affection\s+de\s+longue\s+durée)\b|\bsans\s+rapport\s+avec\s+(?:l'|son\s+|sa\s+)?"
                         r"(?:ALD|affection)|\bmaladies?\s+intercurrentes?\b", re.IGNORECASE)
FOR_ALD = re.compile(r"\bALD\b|\baffection\s+de\s+longue\s+durée\b|\b(?:pris\s+en\s+charge\s+)?à\s+(?:100|cent)\s*%",
                     re.IGNORECASE)


def _zone_cues(text: str) -> list[tuple[int, bool]]:
    """(position, for the ALD?) of each cue, « hors ALD » read before the « ALD » inside it."""
    outside = [(m.start(), m.end()) for m in OUTSIDE_ALD.finditer(text)]
    cues = [(start, False) for start, _ in outside]
    cues += [(m.start(), True) for m in FOR_ALD.finditer(text)
             if not any(start <= m.start() < end for start, end in outside)]
    return sorted(cues)


def ald_zones(body: str, drug_texts: list[str]) -> list[bool] | None:
    """For each drug (by the words that prescribed it), whether it is for the ALD; None when the
    dictation puts no drug under the ALD (an ordinary prescription).

    « metformine …, en rapport avec l'ALD »: a cue after a drug in its sentence is said of that
    drug. « Dans le cadre de l'ALD : metformine … »: any other cue opens a zone for the drugs after it."""
    cues = _zone_cues(body)
    if not any(for_ald for _, for_ald in cues):
        return None
    sentences = [(m.start(), m.end()) for m in SENTENCE.finditer(body)]

    def sentence_of(position: int) -> tuple[int, int]:
        return next((span for span in sentences if span[0] <= position < span[1]), (position, position + 1))

    where = [body.find(text) if text else -1 for text in drug_texts]
    said_of = set()  # the cues that follow a drug in its sentence
    for position, _ in cues:
        start, _end = sentence_of(position)
        if any(start <= at < position for at in where if at >= 0):
            said_of.add(position)
    zones = []
    for at in where:
        if at < 0:
            zones.append(False)
            continue
        start, end = sentence_of(at)
        own = [for_ald for position, for_ald in cues if at < position < end and position in said_of]
        opened = [for_ald for position, for_ald in cues if position < at and position not in said_of]
        zones.append(own[0] if own else opened[-1] if opened else False)
    return zones if any(zones) else None


# A certificate ends with the formula French certificates carry, unless the dictation said it;
# a minor's is asked for by the legal representative.
CERTIFICATE_FORMULA = ("Certificat établi à la demande de l'intéressé(e) et remis en main propre "
                       "pour servir et valoir ce que de droit.")
MINOR_CERTIFICATE_FORMULA = ("Certificat établi à la demande de son représentant légal et remis en main propre "
                             "pour servir et valoir ce que de droit.")
HAS_FORMULA = re.compile(r"valoir\s+ce\s+que\s+de\s+droit|remis\s+en\s+main(?:s)?\s+propres?", re.IGNORECASE)


def certificate_formula(body: str, *, minor: bool = False) -> str | None:
    if HAS_FORMULA.search(body):
        return None
    return MINOR_CERTIFICATE_FORMULA if minor else CERTIFICATE_FORMULA


PRESCRIPTION_TITLE = re.compile(r"\W*(?:ordonnance|prescription\s+médicale)\b", re.IGNORECASE)


def prescription_remarks(paragraphs: tuple[str, ...], drug_texts: list[str]) -> list[str]:
    """What a prescription says besides its drugs: the sentences that prescribe a drug are its
    numbered lines already, and « Ordonnance pour … » its title and patient line."""
    texts = [text for text in drug_texts if text]
    kept = []
    for paragraph in paragraphs:
        rest = " ".join(m.group().strip() for m in SENTENCE.finditer(paragraph)
                        if m.group().strip() and not any(text in m.group() for text in texts)
                        and not PRESCRIPTION_TITLE.match(m.group()))
        if rest:
            kept.append(rest)
    return kept


# « Objet : » as a practitioner writes it: the dictated reason, short, without its articles.
REASON = re.compile(
    r"\b(?:vous\s+adresse|vous\s+confie|te\s+confie|t'adresse|vu(?:e)?\s+en\s+consultation|consulte|revu(?:e)?)\b"
    r"[^.]*?\bpour\s+(?P<reason>[^.;:!?]+)"
    r"|\b(?:motif|intervention|indication)\s*:\s*(?P<stated>[^.;!?\n]+)",
    re.IGNORECASE)
REQUEST = (  # what is asked of the colleague, said before what it is about
    (re.compile(r"^(?:un\s+|votre\s+)?(?:avis|demande\s+d'avis)\s+(?:concernant|sur|pour|au\s+sujet\s+d(?:e|u|es|')|"
                r"à\s+propos\s+d(?:e|u|es|'))\s*", re.I), "demande d'avis"),
    (re.compile(r"^(?:la\s+)?prise\s+en\s+charge\s+(?:de\s+la\s+|de\s+l'|d(?:e|u|es)\s+|d')", re.I), "prise en charge"),
    (re.compile(r"^(?:un\s+|le\s+)?bilan\s+(?:de\s+la\s+|de\s+l'|d(?:e|u|es)\s+|d')", re.I), "bilan"),
)
# Where the reason goes on to explain itself: « …, son frère ayant eu … », « … car … ».
REASON_END = re.compile(r",|\s+(?:car|qui|que|dont|afin|puisque|depuis|chez|avec\s+un\s+antécédent)\s+", re.I)
ARTICLE = re.compile(r"^(?:(?:une?|des|le|la|les|du|de\s+la|son|sa|ses|votre|vos)\s+|de\s+l'|l'|d')(?=\w)", re.I)
MAX_SUBJECT = 80


def _bare(words: str) -> str:
    """« des palpitations et une dyspnée d'effort » → « palpitations et dyspnée d'effort »."""
    parts = re.split(r"(\s+et\s+|\s*,\s*)", words.strip())
    return "".join(part if index % 2 else ARTICLE.sub("", part, count=1) for index, part in enumerate(parts))


def subject_line(body: str, conditions: tuple[Condition, ...] = ()) -> str:
    """« Objet : » — from the dictated reason (« pour avis concernant des palpitations et une
    dyspnée d'effort » → « Palpitations et dyspnée d'effort — demande d'avis », « pour une
    coloscopie de dépistage, son frère ayant eu… » → « Coloscopie de dépistage »), else the
    conditions the lexicon recognised (not negated, not family history); empty when neither says
    anything: the letter then has no « Objet » line, never one repeating its title."""
    found = REASON.search(body)
    if found:
        reason = REASON_END.split(found.group("reason") or found.group("stated"), maxsplit=1)[0].strip()
        asked = None
        for request, said in REQUEST:
            if (opening := request.match(reason)) is not None and reason[opening.end():].strip():
                reason, asked = reason[opening.end():], said
                break
        subject = f"{_bare(reason)} — {asked}" if asked else _bare(reason)
    else:
        said = [c.text for c in conditions if not (c.negated or c.family or c.hypothesis)]
        subject = " ; ".join(dict.fromkeys(text.lower() for text in said[:2]))
    if len(subject) > MAX_SUBJECT:
        subject = subject[:MAX_SUBJECT].rsplit(" ", 1)[0] + "…"
    return subject[:1].upper() + subject[1:]


# A sentence that only says who the patient is, which the « Patient : » line already says.
IDENTITY_FILLER = re.compile(
    r"\b(?:patiente?|monsieur|madame|mademoiselle|m|mme|mlle|l'enfant|enfant|née?|le|la|du|de|en|"
    r"numéro|n°|sécurité|sociale|nir|ins|ipp|âgée?|ans|mois|épouse|nom|d'usage|utilisé|de\s+naissance|"
    + "|".join(MONTHS) + r")\b|\d+|[^\w\s]", re.IGNORECASE)


def is_identity_only(sentence: str, patient: Patient) -> bool:
    names = [name for name in (patient.first_name, patient.last_name, patient.birth_name) if name]
    if not patient.last_name or patient.last_name.lower() not in sentence.lower():
        return False
    rest = sentence
    for name in names:
        rest = re.sub(re.escape(name), " ", rest, flags=re.IGNORECASE)
    return not re.search(r"\w", IDENTITY_FILLER.sub(" ", rest))


def without_identity_sentences(paragraphs: tuple[str, ...], patient: Patient) -> tuple[str, ...]:
    """The opening paragraph without its sentences that only name the patient (« Patiente
    Madame Claire Dumas, née le 29 février 1964. »), printed once on the « Patient : » line."""
    if not paragraphs:
        return paragraphs
    first = paragraphs[0]
    for found in reversed([m for m in SENTENCE.finditer(first) if m.group().strip()]):
        if is_identity_only(found.group(), patient):  # cut out as it stands: the rest keeps its own text
            first = (first[:found.start()] + first[found.end():]).strip()
    return ((first,) if first else ()) + paragraphs[1:]


def dated_title(paragraphs: tuple[str, ...], title: str, cue: re.Pattern[str] | None) -> tuple[str, tuple[str, ...]]:
    """« Compte rendu opératoire du 18 novembre 2026. » opening the text: the date goes into the
    title (« Compte rendu opératoire du 18 novembre 2026 »), the sentence out of the body, where
    it repeated the title."""
    if not paragraphs or cue is None:
        return title, paragraphs
    first = next((m for m in SENTENCE.finditer(paragraphs[0]) if m.group().strip()), None)
    announced = cue.match(first.group().strip()) if first else None
    rest = first.group().strip()[announced.end():] if announced else ""
    dated = re.fullmatch(r"\s*(?:du|le)\s+(?P<date>[^.!?]*\d[^.!?]*?)\s*[.!?]?\s*", rest)
    if dated is None:
        return title, paragraphs
    remaining = paragraphs[0][first.end():].strip()
    return f"{title} du {dated.group('date')}", ((remaining,) if remaining else ()) + paragraphs[1:]
