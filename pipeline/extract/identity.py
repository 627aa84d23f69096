"""Who the dictation is about: civility, names, birth date, NIR, IPP.

The patient is the first person introduced with a civility ("Monsieur Jean Dupont") or as
"le patient …", who is neither the signing doctor, the recipient, nor a relative.
"""

from __future__ import annotations

import re

from pipeline.extract import patterns as P
from pipeline.extract.dates import matched_date, nir_digits, nir_key_is_valid
from pipeline.extract.names import split_name
from pipeline.records import Flag, FlagKind, Patient

PERSON = re.compile(
    rf"(?:{P.CIVILITY}|{P.PATIENT_NOUN})\s+(?:(?P<civility2>{P.CIVILITY_WORDS})\s+)?(?P<name>{P.FULL_NAME})"
)


def extract_patient(text: str, *, exclude: tuple[int, int] | None = None
                    ) -> tuple[Patient, tuple[Flag, ...], tuple[int, int] | None]:
    """The patient, flags for the secretary, and where the patient is named in `text`."""
    flags: list[Flag] = []
    for match in PERSON.finditer(text):
        if exclude and exclude[0] <= match.start() < exclude[1]:
            continue  # inside the recipient header
        if P.NOT_PATIENT_BEFORE.search(text[max(0, match.start() - 40):match.start()]):
            continue
        first, last = split_name(match.group("name"))
        sex = _sex(match, text)
        after = text[match.end():]
        last, after = _spelled(last, after)
        birth_name = P.BIRTH_NAME.match(after)
        married = P.MARRIED_NAME.match(after)
        if married and not birth_name:  # « Claire Dubois épouse Martin »: born Dubois, uses Martin
            birth_name_text, last = last, married.group("used_name")
        else:
            birth_name_text = birth_name.group("birth_name") if birth_name else None
        birth_date = _birth_date(text, match.end())
        nir, nir_flags = _nir(text, sex)
        flags.extend(nir_flags)
        ipp = P.IPP.search(text)
        patient = Patient(
            sex=sex,
            last_name=last,
            first_name=first,
            birth_date=birth_date,
            nir=nir,
            birth_name=birth_name_text,
            ipp=re.sub(r"\s+", "", ipp.group("ipp")) if ipp else None,
        )
        return patient, (*flags, *identity_flags(patient)), match.span()
    return Patient(), (*flags, *identity_flags(Patient())), None


def identity_flags(patient: Patient) -> tuple[Flag, ...]:
    """What the secretary must still complete: no patient at all, or an incomplete identity.
    Recomputed on the desk after each edit."""
    if not patient.last_name:
        return (Flag(FlagKind.NO_PATIENT, "aucun patient identifié / no patient identified"),)
    if not patient.is_complete:
        return (Flag(FlagKind.INCOMPLETE_IDENTITY, "identité du patient incomplète / patient identity incomplete"),)
    return ()


IDENTITY_FLAG_KINDS = frozenset({"no_patient", "incomplete_identity"})


def with_current_identity_flags(flags: tuple[Flag, ...], patient: Patient) -> tuple[Flag, ...]:
    """`flags` with the identity ones recomputed for `patient` as it now stands (typed on
    « Dicter », linked from the register, edited on the desk): never carried over stale."""
    return tuple(flag for flag in flags if flag.kind not in IDENTITY_FLAG_KINDS) + identity_flags(patient)


def _sex(match: re.Match[str], text: str) -> str | None:
    civility = match.group("civility") or match.group("civility2")
    if civility:
        return P.CIVILITIES.get(civility.lower())
    noun = " ".join((match.group("noun") or "").lower().split())
    for said in (noun, noun.split()[-1].removeprefix("l'") if noun else ""):
        if said in P.PATIENT_NOUN_SEX:
            return P.PATIENT_NOUN_SEX[said]
    agreement = re.match(r"\s*,?\s*(née?)\b", text[match.end():])
    if agreement:
        return "F" if agreement.group(1).lower() == "née" else "M"
    return None


def _spelled(last: str | None, after: str) -> tuple[str | None, str]:
    """A surname spelt out after it wins over the name as heard (« Dupond, D U P O N T » is
    Dupont), written in the case the name was said in. Returns the name and the text after it."""
    spelled = P.SPELLED_NAME.match(after)
    if spelled is None:
        return last, after
    letters = "".join(char for char in spelled.group("letters") if char.isalpha())
    if last and last.isupper():
        written = letters.upper()
    else:
        written = letters[0].upper() + letters[1:].lower()
    return written, after[spelled.end():]


def _birth_date(text: str, name_end: int) -> str | None:
    # The birth date follows the patient's name; a later "né le" may be a relative's.
    match = P.BIRTH_DATE.search(text, name_end)
    if match is None or match.start() - name_end > 120:
        match = P.BIRTH_DATE.search(text)
    return matched_date(match) if match else None


def _nir(text: str, sex: str | None) -> tuple[str | None, list[Flag]]:
    match = P.NIR_CUE.search(text)
    if match is None:
        return None, []
    nir = nir_digits(match.group("nir"))[:15]
    if not nir_key_is_valid(nir):
        return None, [Flag(FlagKind.INVALID_NIR, "numéro de sécurité sociale invalide (clé) / invalid NIR key")]
    flags = []
    if sex and {"1": "M", "2": "F"}.get(nir[0]) != sex:
        flags.append(Flag(FlagKind.NIR_SEX_MISMATCH, "le NIR ne correspond pas au sexe / NIR does not match sex"))
    return nir, flags
