"""Practices as tenants of one installation: a télésecrétariat centre serving several practices.

The centre keeps a register of its practices, `practices.toml` in the centre folder
(`DICTEE_CENTRE`, default `practices/`). Each practice has a name (what the secretary types),
an id (what Prefect's database and the logs see: never the name) and a settings file of its own
that gives it its own inbox, outbox, encryption key, audit trail, register, address book,
letterheads and adapted models. `dictee --practice NAME COMMAND` runs any command with that
practice's settings alone. A practice is added only if none of its folders or its key is
another's: nothing of one is ever read with another's key or written into another's folders.
"""

from __future__ import annotations

import dataclasses
import fcntl
import json
import os
import re
import secrets
import shutil
import tomllib
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from pydantic import ValidationError

from pipeline.errors import DicteeError
from pipeline.files import write_bytes_atomic
from pipeline.settings import CONFIG_FILE_ENV, Settings, load_settings

CENTRE_ENV = "DICTEE_CENTRE"
DEFAULT_CENTRE = Path("practices")
REGISTER_FILE = "practices.toml"
LOCK_FILE = ".practices.lock"
PRACTICE_NAME = r"[a-z0-9][a-z0-9-]{0,39}"
PRACTICE_ID = r"p-[0-9a-f]{8}"
MAX_PRACTICES = 200
# Settings the environment may still give when a practice is chosen: how this machine works,
# never where a practice's data is or whose it is (that would apply to every practice alike).
MACHINE_SETTINGS = frozenset({
    "compute_type", "device", "cpu_threads", "beam_size", "chunk_batch_size", "workers", "dask_address",
    "log_level", "rescan_seconds", "stable_seconds", "write_wait_s", "notify_command", "notify_backlog_minutes",
    "max_file_mb", "max_duration_s", "min_duration_s",
})
# What a practice owns on disk: no other practice's may be the same or inside it, either way.
OWN_FOLDERS = ("inbox", "outbox", "models_dir", "export_dir", "encryption_key_file", "audit_key_file")


class PracticeError(DicteeError):
    """A practice that cannot be added, found or used; the message is French and English."""


@dataclass(frozen=True)
class Practice:
    name: str
    id: str  # for Prefect's database and logs: the name may say whose practice it is
    settings_file: Path
    disabled: bool = False


def centre_folder(environ=os.environ) -> Path:
    return Path(environ.get(CENTRE_ENV) or DEFAULT_CENTRE)


CENTRE_DESK = "desk"  # the centre's own desk: its accounts and sign-ins (pipeline/review/centre.py)
RESERVED_NAMES = frozenset({CENTRE_DESK})  # a practice by that name would share its folder


def check_name(name: str) -> str:
    if not isinstance(name, str) or re.fullmatch(PRACTICE_NAME, name) is None or name in RESERVED_NAMES:
        raise PracticeError(f"nom de cabinet refusé : minuscules, chiffres et -, 40 au plus, pas « desk » "
                            f"({name[:50]!r}) / practice name refused: lower-case letters, digits and -, 40 at "
                            f"most, not 'desk'")
    return name


def _toml(value: str | bool) -> str:
    """A TOML value: JSON's string escapes are TOML's basic-string escapes."""
    return ("true" if value else "false") if isinstance(value, bool) else json.dumps(str(value), ensure_ascii=False)


def _owned_paths(settings: Settings) -> dict[str, Path]:
    paths = {field: getattr(settings, field) for field in OWN_FOLDERS}
    if settings.audit_key_file is None:
        paths["audit_key_file"] = settings.outbox / ".audit"
    return {field: Path(path).expanduser().resolve() for field, path in paths.items() if path is not None}


def _key_bytes(settings: Settings) -> bytes | None:
    try:
        return settings.encryption_key_file.expanduser().read_bytes().strip() if settings.encryption_key_file else None
    except OSError:
        return None


class Centre:
    """The register of practices in `folder`; every change holds its lock and is written whole."""

    def __init__(self, folder: Path | None = None) -> None:
        self.folder = (folder or centre_folder()).expanduser().absolute()
        self.register = self.folder / REGISTER_FILE

    def practices(self) -> list[Practice]:
        try:
            data = tomllib.loads(self.register.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return []
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
            raise PracticeError(f"registre des cabinets illisible / unreadable practice register: {self.register} "
                                f"({type(error).__name__})") from None
        found = []
        for name, entry in sorted(data.get("practices", {}).items()):
            if (re.fullmatch(PRACTICE_NAME, name) is None or not isinstance(entry, dict)
                    or re.fullmatch(PRACTICE_ID, str(entry.get("id", ""))) is None or not entry.get("settings")):
                raise PracticeError(f"registre des cabinets abîmé (« {name[:40]} ») / damaged practice register: "
                                    f"{self.register}")
            found.append(Practice(name, entry["id"], Path(entry["settings"]), bool(entry.get("disabled", False))))
        return found

    def find(self, name: str) -> Practice:
        return _named(self.practices(), name)

    def by_id(self, practice_id: str) -> Practice:
        for practice in self.practices():
            if practice.id == practice_id:
                return practice
        raise PracticeError(f"cabinet inconnu / unknown practice: {practice_id[:20]!r}")

    def active(self) -> list[Practice]:
        return [practice for practice in self.practices() if not practice.disabled]

    def settings(self, practice: Practice, **overrides: object) -> Settings:
        """The practice's own settings: its file, then only machine settings from the environment."""
        refused = sorted(name for name in os.environ if name == CONFIG_FILE_ENV or (
            name.startswith("DICTEE_") and (field := name.removeprefix("DICTEE_").lower()) in Settings.model_fields
            and field not in MACHINE_SETTINGS))
        if refused:
            raise PracticeError(f"avec --practice, les réglages d'un cabinet viennent de son fichier, pas de "
                                f"l'environnement : retirez {', '.join(refused)} / with --practice, a practice's "
                                f"settings come from its file, not the environment: unset {', '.join(refused)}")
        if not practice.settings_file.is_file():
            raise PracticeError(f"réglages du cabinet introuvables / practice settings not found: {practice.settings_file}")
        try:
            return load_settings(config_file=practice.settings_file, **overrides)
        except ValidationError as error:  # field names only: a value may be anything, a path, a name
            fields = ", ".join(sorted({".".join(map(str, problem["loc"]))[:60] for problem in error.errors()}))
            raise PracticeError(f"réglages du cabinet refusés / practice settings refused: {practice.settings_file} "
                                f"({fields})") from None

    @contextmanager
    def _locked(self) -> Iterator[None]:
        self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        with open(self.folder / LOCK_FILE, "a") as lock:  # two `practices add` at once: one after the other
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield

    def _write(self, practices: list[Practice]) -> None:
        lines = ["# Les cabinets de ce centre / this centre's practices (dictee practices add|disable|enable)\n"]
        for practice in practices:
            lines.append(f"\n[practices.{practice.name}]\nid = {_toml(practice.id)}\n"
                         f"settings = {_toml(practice.settings_file)}\ndisabled = {_toml(practice.disabled)}\n")
        write_bytes_atomic(self.register, "".join(lines).encode("utf-8"))

    def add(self, name: str, *, outbox: Path, inbox: Path | None = None, key: Path | None = None,
            installation: Settings) -> Practice:
        """A new practice with its own settings file in the centre folder: its folders and key are
        checked against every other practice's before anything is written. `installation`: the
        settings the centre runs with, whose letter templates and bundled model it shares."""
        home = self.folder / name
        values: dict[str, object] = {
            "inbox": (inbox or home / "inbox").expanduser().absolute(),
            "outbox": outbox.expanduser().absolute(),
            "models_dir": home / "models",  # its adapted models and updated lexicons; the bundled one linked
            "letter_templates": installation.letter_templates.expanduser().absolute(),
        }
        if key is not None:
            values["encryption_key_file"] = key.expanduser().absolute()
        return self._enrol(name, values, installation, adopted=False)

    def adopt(self, name: str, settings_file: Path, *, installation: Settings) -> Practice:
        """A practice that ran on its own (its `dictee.toml`, drafts, key, database, trail and
        models where they are) served by the centre from now on, nothing moved: its settings are
        copied into the centre folder with every path made absolute from the file's folder (where
        `dictee` ran), then checked as `add` checks a new one. The original file is not changed."""
        return self._enrol(name, adopted_values(settings_file), installation, adopted=True)

    def _enrol(self, name: str, values: dict[str, object], installation: Settings, *, adopted: bool) -> Practice:
        check_name(name)
        with self._locked():
            practices = self.practices()
            if any(practice.name == name for practice in practices):
                raise PracticeError(f"le cabinet existe déjà / practice already exists: {name}")
            if len(practices) >= MAX_PRACTICES:
                raise PracticeError(f"{MAX_PRACTICES} cabinets au plus / at most {MAX_PRACTICES} practices")
            home = self.folder / name
            if home.exists() and not _left_by_an_interrupted_add(home):
                raise PracticeError(f"le dossier {home} existe déjà : retirez-le d'abord / already exists: remove it first")
            shutil.rmtree(home, ignore_errors=True)
            used = {practice.id for practice in practices}
            practice_id = next(candidate for candidate in iter(lambda: f"p-{secrets.token_hex(4)}", None)
                               if candidate not in used)
            practice = Practice(name, practice_id, home / "dictee.toml")
            home.mkdir(parents=True, mode=0o700)
            try:
                header = (f"# Réglages du cabinet « {name} » : en-têtes ([practitioners.<dossier>]), registre… / "
                          f"practice settings\n")
                write_bytes_atomic(practice.settings_file, (header + toml_document(values)).encode("utf-8"))
                settings = self.settings(practice)  # checked as it will be used, not as it was meant
                self._check_apart(name, settings, practices)
                if adopted and not settings.outbox.is_dir():  # paths read from the wrong folder: nothing to serve
                    raise PracticeError(f"pas de dossier de brouillons à {settings.outbox} : ce cabinet n'a jamais "
                                        f"tourné ici (dictee practices add pour un nouveau) / no outbox there: "
                                        f"this practice never ran from that folder (add a new one instead)")
                settings.vault()  # a missing, open or misplaced key refused before the practice exists
                _link_bundled_model(settings.models_dir, installation.models_dir)
                for folder in (settings.inbox, settings.outbox):  # ready for the first dictation
                    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
            except BaseException:
                shutil.rmtree(home, ignore_errors=True)
                raise
            self._write([*practices, practice])
        return practice

    def set_disabled(self, name: str, disabled: bool) -> Practice:
        with self._locked():
            practices = self.practices()
            changed = dataclasses.replace(_named(practices, name), disabled=disabled)
            self._write([changed if p.name == name else p for p in practices])
        return changed

    def checked_settings(self, practice: Practice, **overrides: object) -> Settings:
        """The practice's settings, checked again against every other practice's as they are now:
        a settings file edited by hand after `add` cannot make two practices share a folder, a
        key or a database. Another practice whose settings cannot be read is not compared (it
        cannot run either)."""
        settings = self.settings(practice, **overrides)
        others = [other for other in self.practices() if other.name != practice.name]
        self._check_apart(practice.name, settings, others, skip_unreadable=True)
        return settings

    def _check_apart(self, name: str, candidate: Settings, practices: list[Practice], *,
                     skip_unreadable: bool = False) -> None:
        mine, my_key = _owned_paths(candidate), _key_bytes(candidate)
        centre = self.folder.resolve()
        for field, path in mine.items():
            if field != "models_dir" and centre.is_relative_to(path):
                raise PracticeError(f"« {field} » contient le registre des cabinets / contains the practice register: {path}")
        for other in practices:
            try:
                theirs = self.settings(other)
            except DicteeError:
                if skip_unreadable:
                    continue
                raise  # on adding: what it owns cannot be compared, so nothing is added on a guess
            for field, path in mine.items():
                for their_field, their_path in _owned_paths(theirs).items():
                    if path.is_relative_to(their_path) or their_path.is_relative_to(path):
                        raise PracticeError(
                            f"« {field} » de {name} et « {their_field} » du cabinet {other.name} se recouvrent : "
                            f"chaque cabinet a ses propres dossiers et sa clé / {name}'s '{field}' and {other.name}'s "
                            f"'{their_field}' overlap: each practice has its own folders and key")
            if candidate.database_url and candidate.database_url == theirs.database_url:
                raise PracticeError(f"{name} aurait la base de données de {other.name} : une base par cabinet / "
                                    f"{name} would share {other.name}'s review database: one per practice")
            if my_key is not None and my_key == _key_bytes(theirs):
                raise PracticeError(f"{name} aurait la même clé que {other.name} : une clé par cabinet "
                                    f"(dictee key create) / {name} would share {other.name}'s key: one key per practice")


MAX_SETTINGS_BYTES = 1 << 20  # a practice's settings file: a few kB; more is not one


def adopted_values(settings_file: Path) -> dict[str, object]:
    """A practice's own settings file as the centre keeps it: the same settings, every path
    (folders, key, model, register, signature scans, a SQLite database) absolute from the file's
    folder, and the folders it left to their defaults written out, since the centre runs elsewhere."""
    source = settings_file.expanduser().absolute()
    try:
        if not source.is_file():  # a folder, a device or a pipe (which would never end): no settings file
            raise FileNotFoundError
        with source.open("rb") as file:
            raw = file.read(MAX_SETTINGS_BYTES + 1)
        if len(raw) > MAX_SETTINGS_BYTES:
            raise PracticeError(f"fichier de réglages trop grand / settings file too large: {source}")
        values = tomllib.loads(raw.decode("utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise PracticeError(f"fichier de réglages illisible / unreadable settings file: {source} "
                            f"({type(error).__name__})") from None
    base = source.parent

    def absolute(value: object) -> object:  # anything else than a path is left for the settings check
        if not isinstance(value, str) or not value:
            return value
        path = Path(value).expanduser()
        return str(path if path.is_absolute() else base / path)

    for field, info in Settings.model_fields.items():
        if info.annotation in (Path, Path | None) and (field in values or info.default is not None):
            values[field] = absolute(values.get(field, str(info.default)))
    if values.get("practitioner_signature_image"):
        values["practitioner_signature_image"] = absolute(values["practitioner_signature_image"])
    practitioners = values.get("practitioners")
    for entry in practitioners.values() if isinstance(practitioners, dict) else ():  # else: refused when read
        if isinstance(entry, dict) and entry.get("signature_image"):
            entry["signature_image"] = absolute(entry["signature_image"])
    url = values.get("database_url")
    if isinstance(url, str) and url.startswith("sqlite:///") and not url.startswith("sqlite:////") \
            and ":memory:" not in url:
        values["database_url"] = "sqlite:///" + str(base / url.removeprefix("sqlite:///"))
    return values


def toml_document(values: dict[str, object]) -> str:
    """`values` as a TOML document (settings only hold strings, numbers, booleans, lists of them
    and tables), checked by reading it back: what is written is exactly what was meant."""
    text = _toml_table(values, [])
    try:
        read_back = tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        read_back = None
    if read_back != json.loads(json.dumps(values, default=str)):
        raise PracticeError("réglages impossibles à recopier tels quels / settings cannot be copied as they are")
    return text


def _toml_key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else json.dumps(key, ensure_ascii=False)


def _toml_value(value: object) -> str:
    if isinstance(value, (str, bool, Path)):
        return _toml(str(value) if isinstance(value, Path) else value)
    if isinstance(value, (int, float)):
        return repr(value)  # TOML writes them as Python does, « inf » and « nan » too
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(item) for item in value) + "]"
    raise PracticeError(f"réglage d'un type inattendu / unexpected setting type: {type(value).__name__}")


def _toml_table(values: dict[str, object], path: list[str]) -> str:
    lines = [f"{_toml_key(key)} = {_toml_value(value)}\n" for key, value in values.items() if not isinstance(value, dict)]
    for key, value in values.items():
        if isinstance(value, dict):
            inner = [*path, key]
            lines.append(f"\n[{'.'.join(_toml_key(part) for part in inner)}]\n" + _toml_table(value, inner))
    return "".join(lines)


def _named(practices: list[Practice], name: str) -> Practice:
    for practice in practices:
        if practice.name == name:
            return practice
    raise PracticeError(f"cabinet inconnu / unknown practice: {name[:50]!r} (dictee practices list)")


def _left_by_an_interrupted_add(home: Path) -> bool:
    """What an `add` killed midway leaves (its settings file, the models link, empty folders):
    made again; anything else there (a dictation dropped, a model adapted) is kept."""
    return all(path.is_symlink() or path.is_dir() or path.name == "dictee.toml" or path.name.endswith(".partial")
               for path in home.rglob("*"))


def _link_bundled_model(models_dir: Path, installation_models: Path) -> None:
    """The bundled model is no practice's data: each practice's models folder links to the
    installation's, and keeps its own adapted versions beside it."""
    from pipeline.modelstore import BUNDLED_NAME

    models_dir.mkdir(parents=True, exist_ok=True)
    link, target = models_dir / BUNDLED_NAME, (installation_models / BUNDLED_NAME).expanduser().absolute()
    if not link.exists() and not link.is_symlink():
        link.symlink_to(target, target_is_directory=True)


@dataclass(frozen=True)
class PracticeLoad:
    """What waits at a practice, for the centre's list: drafts to review and to sign,
    recordings not yet drafted, and this month's median hours from dictation to filing."""

    to_review: int
    to_sign: int
    waiting: int
    turnaround_h: float | None


def load_of(settings: Settings) -> PracticeLoad:
    import datetime as dt

    from pipeline import ingest, store
    from pipeline.review.worklist import waiting_in_inbox
    from pipeline.statement import monthly_statement, totals

    outbox = settings.store()
    states = []
    for files in outbox.jobs():
        try:
            states.append(files.state().state)
        except (OSError, ValueError, KeyError, TypeError):
            continue  # a folder being written
    waiting = len(waiting_in_inbox(settings)) + len(ingest.unfinished_claims(settings.work_dir))
    today = dt.date.today()
    month = totals(monthly_statement(settings, outbox, f"{today.year}-{today.month:02d}"))
    return PracticeLoad(states.count(store.STATE_PENDING), states.count(store.TO_SIGN), waiting,
                        month.median_turnaround_h)
