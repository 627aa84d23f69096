"""What a reviewer does to a draft, on the outbox files: edit, regenerate, approve (file), reject.

The outbox folder stays the source of truth for patient data; the database holds state,
timings and the audit trail. Filed letters go to outbox/filed/<job_id>/, read-only.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import asdict
from pathlib import Path

from pydantic import ValidationError

from pipeline.draft import product_line, products, render_draft
from pipeline.extract.posology import typed_line
from pipeline.extract.dates import nir_key_is_valid
from pipeline.extract.identity import IDENTITY_FLAG_KINDS, identity_flags
from pipeline.french import iso_date
from pipeline.plain import desk_value, shown_rank
from pipeline.store import now_iso
from pipeline.records import Drug, Extraction, Patient
from pipeline.result import DictationResult, IdentityLinkOut, PatientOut, RecipientOut, letter_text, version_of
from pipeline.review.correspondents import copy_lines, parse_copy_lines, resolve_corrected_recipient
from pipeline.settings import Practitioner, Settings
from pipeline.store import JobFiles, Outbox

# The form's fields are the contract's: every patient and recipient field can be corrected.
PATIENT_LABELS = {"sex": "Sexe (M/F)", "last_name": "Nom", "first_name": "Prénom", "birth_date": "Naissance (JJ/MM/AAAA)",
                  "nir": "NIR", "birth_name": "Nom de naissance", "ipp": "IPP"}
RECIPIENT_LABELS = {"title": "Titre (Dr/Pr)", "last_name": "Nom", "first_name": "Prénom", "specialty": "Spécialité",
                    "city": "Ville", "greeting": "Formule d'appel", "address": "Adresse", "postal_code": "Code postal",
                    "mssante": "MSSanté", "rpps": "RPPS"}
PATIENT_FIELDS = tuple(PatientOut.model_fields)
RECIPIENT_FIELDS = tuple(RecipientOut.model_fields)


class ReviewError(Exception):
    """A reviewer's request that cannot be honoured; the message is shown to them."""


class StaleEdit(ReviewError):
    """The draft was saved by someone else since this form was loaded: nothing was overwritten."""


def job_files(outbox: Outbox, job_id: str) -> JobFiles:
    """The draft's files; a request reads result.json through them once."""
    try:
        return outbox.job(job_id)
    except ValueError:
        raise ReviewError("identifiant invalide / invalid id") from None


def load_result(files: JobFiles) -> dict:
    """result.json as stored, to be edited and saved back with `save_result`."""
    if not files.exists():
        raise ReviewError("brouillon introuvable / draft not found")
    return files.result_data()


def save_result(files: JobFiles, result: dict, *, username: str) -> DictationResult:
    """Saved one version further, through the model that reads it back (the one validation), or
    a ReviewError naming the field it refuses — and nothing written."""
    try:
        return files.save(result, by=username)
    except ValidationError as error:
        raise ReviewError(unreadable_fields(error)) from None


def apply_edits(files: JobFiles, form: dict[str, str], *, username: str,
                models_dir: Path | None = None) -> dict[str, list]:
    """Update the editable fields; returns {field: [old, new]} for the audit trail."""
    outbox, result = files.outbox, load_result(files)
    if "version" in form and form["version"] != str(version_of(result)):
        review = result.get("review") or {}
        raise StaleEdit(
            f"modifié entre-temps par {review.get('edited_by', '?')} ({review.get('edited_at', '?')}) : vos saisies "
            "sont conservées ci-dessous, vérifiez-les puis enregistrez de nouveau / changed meanwhile by "
            f"{review.get('edited_by', '?')}: your entries are kept below, check them and save again")
    form = cleaned_form(form)
    changes: dict[str, list] = {}

    def set_field(container: dict, key: str, label: str, value: str | None) -> None:
        value = (value or "").strip() or None
        if container.get(key) != value:
            changes[label] = [container.get(key), value]
            container[key] = value

    for key in PATIENT_FIELDS:
        if f"patient.{key}" in form:
            set_field(result["patient"], key, f"patient.{key}", form[f"patient.{key}"])
    if any(f"recipient.{key}" in form for key in RECIPIENT_FIELDS):
        result["recipient"] = result["recipient"] or {key: None for key in RECIPIENT_FIELDS}
        for key in RECIPIENT_FIELDS:
            if f"recipient.{key}" in form:
                set_field(result["recipient"], key, f"recipient.{key}", form[f"recipient.{key}"])
    changes |= resolve_corrected_recipient(result, set(changes), outbox=outbox)
    if "document_type" in form:
        set_field(result, "document_type", "document_type", form["document_type"])
    if "body" in form:
        set_field(result, "body", "body", form["body"].replace("\r\n", "\n"))
    previous_copies = result.get("copies") or []
    if "copies" in form and form["copies"].strip() != copy_lines(previous_copies):
        links = result.get("correspondent_links") or {}
        copies, copy_links = parse_copy_lines(form["copies"], previous=previous_copies,
                                              previous_links=list(links.get("copies") or []), outbox=outbox)
        changes["copies"] = [copy_lines(previous_copies), copy_lines(copies)]
        result["copies"] = copies
        if result.get("correspondent_links") is not None:
            result["correspondent_links"] = {**links, "copies": copy_links}
    if "drugs" in form:
        drugs = parse_drug_lines(form["drugs"], previous=result["drugs"], models_dir=models_dir)
        if drugs != result["drugs"]:
            changes["drugs"] = [drug_lines(result["drugs"]), drug_lines(drugs)]
            result["drugs"] = drugs
    if "conditions" in form:
        conditions = parse_condition_lines(form["conditions"], previous=result["conditions"])
        if conditions != result["conditions"]:
            changes["conditions"] = [condition_lines(result["conditions"]), condition_lines(conditions)]
            result["conditions"] = conditions
    refresh_identity_flags(result)
    if changes:
        save_result(files, result, username=username)
    return changes


def cleaned_form(form: dict[str, str]) -> dict[str, str]:
    """What the desk's form sends, as it will be saved: control characters removed, one-line
    fields on one line, the birth date and the NIR in their stored form. A NIR is typed with
    spaces or dots (« 1 85 03 75 112 045 78 ») and checked by its key."""
    cleaned = {key: desk_value(key, value) for key, value in form.items()}
    if cleaned.get("patient.birth_date"):
        cleaned["patient.birth_date"] = iso_date(cleaned["patient.birth_date"])
        try:
            dt.date.fromisoformat(cleaned["patient.birth_date"])
        except ValueError:
            raise ReviewError("date de naissance : JJ/MM/AAAA ou AAAA-MM-JJ / birth date: DD/MM/YYYY or "
                              "YYYY-MM-DD") from None
    if cleaned.get("patient.nir"):
        nir = re.sub(r"[\s.\-]", "", cleaned["patient.nir"]).upper()
        if not nir_key_is_valid(nir):
            raise ReviewError("NIR invalide : 15 caractères dont la clé de contrôle (ex. 1 85 03 75 112 045 78) / "
                              "invalid NIR: 15 characters including the check key")
        cleaned["patient.nir"] = nir
    return cleaned


# What the result model refuses, said for the desk (the field, never its value: it is patient data).
FIELD_NAMES = {"patient": "patient", "recipient": "destinataire", "document_type": "type de document",
               "drugs": "médicaments", "conditions": "pathologies", "copies": "copies"}


def unreadable_fields(error: ValidationError) -> str:
    fields = sorted({".".join(str(part) for part in item["loc"][:2]) for item in error.errors()})
    return (f"valeur refusée : {', '.join(fields)} — corrigez ce champ / value refused: {', '.join(fields)} "
            "— correct this field")


def repair_unreadable(files: JobFiles, *, username: str) -> list[str]:
    """A result.json the model cannot read (saved by an earlier version, or edited by hand): the
    patient and recipient fields it refuses are emptied, to be typed again — the page opens with
    the reason rather than failing at every load. Returns the fields emptied."""
    result = load_result(files)
    try:
        DictationResult.read(result)
        return []
    except ValidationError as error:
        locations = [item["loc"] for item in error.errors()]
    emptied = []
    for location in locations:
        if len(location) == 2 and location[0] in ("patient", "recipient") and isinstance(result.get(location[0]), dict):
            result[location[0]][location[1]] = None
            emptied.append(".".join(map(str, location)))
    if len(emptied) != len(locations):
        raise ReviewError(f"brouillon illisible ({', '.join('.'.join(map(str, loc)) for loc in locations)}) : "
                          "ouvrez le .docx ou demandez à l'administrateur / unreadable draft: open the .docx or ask "
                          "the administrator")
    save_result(files, result, username=username)
    return emptied


def revert_correction(files: JobFiles, index: int, *, username: str) -> dict[str, list]:
    """Put back the words as heard in place of a vocabulary correction (the flag at `index`).
    Returns {field: [old, new]} for the audit trail."""
    result = load_result(files)
    flags = result["flags"]
    if not 0 <= index < len(flags) or not flags[index].get("heard") or flags[index].get("reverted"):
        raise ReviewError("cette correction ne peut pas être annulée / this correction cannot be reverted")
    flag = flags[index]
    body = letter_text(result)
    found = re.search(re.escape(flag["written"]), body, flags=re.IGNORECASE)
    if found is None:
        raise ReviewError("le texte ne contient plus ce mot : corrigez-le à la main / "
                          "the text no longer holds this word: correct it by hand")
    new_body = body[:found.start()] + flag["heard"] + body[found.end():]
    result["body"], flag["reverted"] = new_body, True
    save_result(files, result, username=username)
    return {"body": [body, new_body]}


def choose_patient(files: JobFiles, choice: str, *, username: str) -> dict[str, list]:
    """The secretary picks the patient among the register's candidates (`choice`: its rank), or
    declares a new patient (« new »). The link records who chose and when; returns the changes."""
    from pipeline.directory.patients import RegisterEntry, registered_patient

    result = load_result(files)
    link = IdentityLinkOut.model_validate(result["identity_link"]) if result.get("identity_link") else None
    if link is None or link.status != "to_choose":
        raise ReviewError("aucun patient à choisir / no patient to choose")
    before = dict(result["patient"])
    if choice == "new":
        chosen = {"status": "new"}
    else:
        rank = shown_rank(choice)
        if not 0 <= rank < len(link.candidates):
            raise ReviewError("choix invalide / invalid choice")
        picked = link.candidates[rank]
        dictated = Patient(**{key: before.get(key) for key in Patient.__slots__})
        result["patient"] = {**before, **asdict(registered_patient(RegisterEntry.of(picked), dictated))}
        chosen = {"status": "chosen", "score": picked.score}
    link = link.model_copy(update={**chosen, "by": username, "at": now_iso()})
    result["identity_link"] = link.model_dump(mode="json")
    result["flags"] = [flag for flag in result["flags"] if flag["kind"] != "patient_to_choose"]
    refresh_identity_flags(result)
    save_result(files, result, username=username)
    return {f"patient.{key}": [before.get(key), value] for key, value in result["patient"].items()
            if before.get(key) != value} | {"identity_link": ["to_choose", link.status]}


# Drugs and conditions are edited as text, one per line:
#   "amlodipine ; 5 mg ; par jour"          (name ; dose ; frequency)
#   "non dyspnée" / "famille mélanome" / "? pneumopathie"   (negated / family / hypothesis)
NEGATED, FAMILY, HYPOTHESIS = "non ", "famille ", "? "


def drug_lines(drugs: list[dict]) -> str:
    """The prescription's lines as they will print, one per product: the secretary edits what she sees."""
    return "\n".join(line for line, _ in printed_products(drugs))


def printed_products(drugs: list[dict]) -> list[tuple[str, list[dict]]]:
    """Each printed line with the drugs (one per INN) it stands for."""
    records = [Drug(**{key: drug.get(key) for key in Drug.__slots__}) for drug in drugs]
    found, start = [], 0
    for product in products(records):
        found.append((product_line(product), drugs[start:start + len(product)]))
        start += len(product)
    return found


MAX_DRUG_LINE = 2000  # characters: a prescription line is a few dozen
POSOLOGY_FIELDS = ("dose", "unit_dose", "route", "frequency", "condition", "duration", "renewal")


def parse_drug_lines(text: str, *, previous: list[dict], models_dir: Path | None = None) -> list[dict]:
    """The lines as edited: a line left as it printed keeps its drug whole; an edited one is read
    part by part (name, strength, unit taken, route, frequency, condition, duration, renewal),
    and printed as typed where a part is not understood."""
    unchanged = dict(printed_products(previous))
    known = {d["name"]: d for d in previous}
    drugs = []
    for line in filter(None, (line.strip() for line in text.splitlines())):
        if line in unchanged:
            drugs.extend(unchanged[line])
            continue
        if len(line) > MAX_DRUG_LINE:
            raise ReviewError(f"ligne d'ordonnance de plus de {MAX_DRUG_LINE} caractères : coupez-la / "
                              f"prescription line over {MAX_DRUG_LINE} characters: split it")
        line = " ".join(line.split())  # one space between words: every reading below stays linear
        if not any(char.isalnum() for char in line):
            continue  # separators alone (« ; ; »): nothing to print
        name, fields, understood = typed_line(line)
        brand, inns, atc = as_prescribed(name, models_dir)
        for inn in inns:
            before = known.get(inn, {})
            drugs.append({**before, "name": inn, "atc": before.get("atc") or atc, "brand": brand,
                          **{key: fields.get(key) for key in POSOLOGY_FIELDS},
                          "text": before.get("text", line), "line": None if understood else line})
    return drugs


BRAND_WITH_INNS = re.compile(r"(?P<brand>[^()]*[^()\s])\s*\((?P<inns>[^()]+)\)")  # linear: the brand ends on a letter


def as_prescribed(name: str, models_dir: Path | None = None) -> tuple[str | None, list[str], str | None]:
    """A drug typed by hand is named and coded as a dictated one: (brand, INNs, ATC). A brand
    keeps its INNs (« Ozempic » → Ozempic, [sémaglutide]), as does the printed form « KARDÉGIC
    (acide acétylsalicylique) »; anything else stays as typed, lower case."""
    from pipeline.lexicon import drug_lexicon

    if (printed := BRAND_WITH_INNS.fullmatch(name.strip())) is not None:
        inns = [inn.strip().lower() for inn in printed.group("inns").split(",") if inn.strip()]
        return printed.group("brand").strip().capitalize(), inns, None
    found = drug_lexicon(models_dir).find(name)  # the practice's updated BDPM, as the pipeline reads it
    whole = len(found) == 1 and found[0].match.end - found[0].match.start == len(name.strip())
    if whole:
        inns = list(found[0].inns)
        brand = None if [name.strip().lower()] == inns else name.strip()
        return brand, inns, found[0].atc if len(inns) == 1 else None
    return None, [name.lower()], None


def refresh_identity_flags(result: dict) -> None:
    """Flags that the secretary's edits answer go away: « aucun patient » once a name is typed,
    « identité incomplète » once name, first name and birth date are there."""
    patient = Patient(**{key: result["patient"].get(key) for key in Patient.__slots__})
    kept = [flag for flag in result["flags"] if flag["kind"] not in IDENTITY_FLAG_KINDS]
    result["flags"] = kept + [asdict(flag) for flag in identity_flags(patient)]


def condition_lines(conditions: list[dict]) -> str:
    def line(c: dict) -> str:
        prefix = NEGATED if c["negated"] else FAMILY if c["family"] else HYPOTHESIS if c["hypothesis"] else ""
        return prefix + c["text"]

    return "\n".join(line(c) for c in conditions)


def parse_condition_lines(text: str, *, previous: list[dict]) -> list[dict]:
    known = {c["text"]: c for c in previous}
    conditions = []
    for line in filter(None, (line.strip() for line in text.splitlines())):
        flags = {"negated": line.startswith(NEGATED), "family": line.startswith(FAMILY), "hypothesis": line.startswith(HYPOTHESIS)}
        for prefix in (NEGATED, FAMILY, HYPOTHESIS):
            line = line.removeprefix(prefix)
        conditions.append({"text": line, "cim10": known.get(line, {}).get("cim10") or cim10_of(line), **flags})
    return conditions


def cim10_of(text: str) -> str | None:
    """A condition typed by hand gets its CIM-10 code when the lexicon knows the whole wording."""
    from pipeline.lexicon import condition_lexicon

    found = condition_lexicon().find(text)
    return found[0].entry.code if len(found) == 1 and found[0].end - found[0].start == len(text.strip()) else None


def extraction_of(result: dict) -> Extraction:
    """The letter's records from a result.json as edited (any version's file)."""
    return DictationResult.read(result).extraction()


def letterhead_of(result: dict, settings: Settings) -> Practitioner:
    """The practitioner whose letterhead the letter bears: its author."""
    return (Practitioner(**result["practitioner"]) if result.get("practitioner")
            else settings.practitioner(result.get("author_folder")))


def regenerate(files: JobFiles, settings: Settings, *, signature: str | None = None) -> None:
    """The letter again from result.json as edited; `signature`: the line a signed letter bears."""
    result = load_result(files)
    files.write_draft(render_draft(extraction_of(result), settings, practitioner=letterhead_of(result, settings),
                                   signature=signature))
