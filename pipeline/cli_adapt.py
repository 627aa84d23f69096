"""`dictee adapt …` and `dictee models list/use`: learning from reviewed letters, from the command line."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from pipeline.adapt.train import TrainingOptions
from pipeline.errors import DicteeError

DEFAULTS = TrainingOptions()
AUTHOR_HELP = "Dossier du praticien dans la boîte de dépôt (inbox/DOSSIER/) / the practitioner's inbox folder"


def _author(author: str | None) -> str | None:
    """A folder name, checked before anything is read or trained."""
    from pipeline.modelstore import check_author

    return None if author is None else check_author(author)

adapt_app = typer.Typer(no_args_is_help=True,
                        help="Apprendre des lettres relues / learn from reviewed letters (lexicon, recognizer).")
words_app = typer.Typer(no_args_is_help=True, help="Lexique du cabinet / the practice lexicon.")
adapt_app.add_typer(words_app, name="words")


def _cli():
    from pipeline import cli  # the one place that loads settings and prints

    return cli


@adapt_app.command("import")
def adapt_import(folder: Path = typer.Argument(..., help="Dossier d'enregistrements avec leur lettre (nom.wav + nom.txt)"),
                 author: Optional[str] = typer.Option(None, "--author", help=AUTHOR_HELP + " — qui a dicté / who dictated")) -> None:
    """Importe les dictées archivées du cabinet / import the practice's archive: each recording
    with its typed letter beside it. Bad pairs are skipped with a reason."""
    from pipeline.adapt.collect import SKIP_REASONS, import_archive

    cli = _cli()
    author = _author(author)
    settings = cli._settings()
    if not folder.is_dir():
        raise DicteeError(f"dossier introuvable / folder not found: {folder}")
    with Progress(TextColumn("Import"), BarColumn(), TextColumn("{task.completed}/{task.total}"), TimeElapsedColumn(),
                  console=cli.console, transient=True) as bar:
        task = bar.add_task("import", total=None)
        report = import_archive(folder, settings, author=author, on_file=lambda done, total: bar.update(task, completed=done, total=total))
    cli.out.print(f"Importés / imported: {report.imported} enregistrement(s), {report.segments} segments, "
                  f"{report.audio_s / 60:.1f} min")
    for reason, names in report.skipped.items():
        cli.out.print(f"Ignorés / skipped ({SKIP_REASONS[reason]}): {len(names)} — {', '.join(names[:10])}"
                      + (" …" if len(names) > 10 else ""))


@adapt_app.command("run")
def adapt_run(
    epochs: int = typer.Option(DEFAULTS.epochs, "--epochs", min=1, help="Passes sur les exemples / passes over the examples"),
    full: bool = typer.Option(False, "--full", help="Entraîner aussi l'encodeur (plus lent) / train the encoder too"),
    max_minutes: float = typer.Option(DEFAULTS.max_minutes, "--max-minutes", min=0.1,
                                      help="Durée maximale d'entraînement / training budget"),
    learning_rate: float = typer.Option(DEFAULTS.learning_rate, "--learning-rate"),
    quantization: str = typer.Option("float16", "--quantization",
                                     help="float16 (quantifié en int8 au chargement, comme le modèle fourni) ou int8"),
    author: Optional[str] = typer.Option(None, "--author", help=AUTHOR_HELP + " — son propre modèle / his own model"),
) -> None:
    """Adapte la reconnaissance au cabinet / adapt the recognizer to the practice: train, measure
    on held-out letters, and put the new model in use only if it is better. With --author, a
    practitioner's own model, trained from the practice's on his letters, used for his dictations."""
    from pipeline.adapt.run import run_adaptation
    from pipeline.audio import duration_text

    cli = _cli()
    author = _author(author)
    settings = cli._settings()
    options = TrainingOptions(epochs=epochs, full=full, max_minutes=max_minutes, learning_rate=learning_rate)
    with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                  TextColumn("{task.fields[eta]}"), console=cli.console, transient=True) as bar:
        task = bar.add_task("préparation / preparing", total=None, eta="")

        def stage(name: str) -> None:
            bar.update(task, description=name)

        def step(done: int, total: int, loss: float, eta: float) -> None:
            bar.update(task, completed=done, total=total, eta=f"perte/loss {loss:.3f} · reste/ETA {duration_text(eta)}")

        result = run_adaptation(settings, options, author=author, quantization=quantization, on_stage=stage,
                                on_progress=step)
    verdict, training = result.verdict, result.training
    table = Table(title=f"Adaptation {result.version}")
    for column in ("", "WER", "termes médicaux / term recall", "français courant / general French (WER)", "clips"):
        table.add_column(column)
    for label, scores in (("modèle actuel / current", verdict.current), ("candidat / candidate", verdict.candidate)):
        recall = "—" if scores.term_recall is None else f"{scores.term_recall:.2f} ({scores.terms})"
        general = "—" if scores.general_wer is None else f"{scores.general_wer:.3f}"
        table.add_row(label, f"{scores.wer:.3f}", recall, general, str(scores.clips))
    cli.out.print(table)
    cli.out.print(f"Entraînement / training: {result.train_examples} lettres, {training.clips} clips, {training.steps} pas, "
                  f"{duration_text(training.seconds)} ({training.seconds_per_clip_epoch:.2f} s par clip et passe)"
                  + (" — arrêté au budget / stopped at the budget" if training.stopped_by_budget else ""))
    if result.promoted:
        rollback = "dictee models use base" + (f" --author {author}" if author else "")
        cli.out.print(f"[green]En service / in use:[/green] {result.version} — {verdict.reason}. "
                      f"Retour arrière / rollback: {rollback}")
    else:
        cli.out.print(f"[yellow]Refusé / refused:[/yellow] {verdict.reason}; le modèle actuel reste en service / "
                      "the current model stays in use")


@adapt_app.command("examples")
def adapt_examples() -> None:
    """Exemples d'entraînement gardés / training examples kept (approved letters and imports)."""
    from pipeline.adapt.examples import ExampleStore, by_author
    from pipeline.adapt.run import MIN_AUTHOR_EXAMPLES

    cli = _cli()
    settings = cli._settings()
    examples = list(ExampleStore(settings.store()))
    by_origin = {origin: [e for e in examples if e.origin == origin] for origin in ("approved", "imported")}
    for origin, label in (("approved", "lettres approuvées / approved letters"), ("imported", "importés / imported")):
        listed = by_origin[origin]
        minutes = sum(s.end - s.start for e in listed for s in e.segments) / 60
        cli.out.print(f"{label}: {len(listed)} ({minutes:.1f} min)")
    for author, his in sorted(by_author(examples).items()):
        enough = "" if len(his) >= MIN_AUTHOR_EXAMPLES else f" — {MIN_AUTHOR_EXAMPLES} pour son modèle / for his own model"
        cli.out.print(f"  {author}: {len(his)}{enough}")


@words_app.command("list")
def words_list() -> None:
    """Les mots appris des corrections / words learned from the secretary's corrections."""
    from pipeline.adapt.learned import PracticeLexicon

    cli = _cli()
    settings = cli._settings()
    table = Table(title="Lexique du cabinet / practice lexicon")
    for column in ("mot / word", "type", "ajouté / added", "corrections"):
        table.add_column(column)
    for word in PracticeLexicon(settings.store()).words():
        table.add_row(word.text, {"name": "nom / name", "term": "terme / term"}[word.kind], word.added_at[:10], str(word.times))
    cli.out.print(table)


@words_app.command("remove")
def words_remove(word: str = typer.Argument(..., help="Le mot à retirer, tel qu'il est listé / the word as listed")) -> None:
    """Retire un mot du lexique du cabinet / remove a word from the practice lexicon."""
    from pipeline.adapt.learned import PracticeLexicon

    cli = _cli()
    settings = cli._settings()
    if not PracticeLexicon(settings.store()).remove(word):
        raise DicteeError("mot absent du lexique / word not in the lexicon")
    cli.out.print("Retiré / removed.")


def models_list() -> None:
    """Versions du modèle de reconnaissance / recognizer versions (base, the practice's, each author's)."""
    from pipeline.modelstore import BASE_VERSION, authors_with_versions, practice_versions

    cli = _cli()
    settings = cli._settings(check_key=False)
    table = Table(title="Versions du modèle / model versions")
    for column in ("auteur / author", "version", "en service / in use", "WER avant → après", "termes / term recall",
                   "français courant (WER)", "exemples"):
        table.add_column(column)
    practice = practice_versions(settings.models_dir)
    table.add_row("cabinet / practice", BASE_VERSION,
                  "✓" if not any(v.in_use for v in practice) and settings.whisper_model is None else "", "", "", "", "")
    for author, versions in [(None, practice), *((a, practice_versions(settings.models_dir, a))
                                                 for a in authors_with_versions(settings.models_dir))]:
        for version in versions:
            table.add_row("cabinet / practice" if author is None else author, *_version_row(version))
    cli.out.print(table)


def _version_row(version) -> tuple[str, ...]:
    report = version.report
    recall = [report[key]["term_recall"] for key in ("current", "candidate")]
    return (version.name, "✓" if version.in_use else "",
            f"{report['current']['wer']:.3f} → {report['candidate']['wer']:.3f}",
            " → ".join("—" if r is None else f"{r:.2f}" for r in recall),
            " → ".join("—" if g is None else f"{g:.3f}"
                       for g in (report[key].get("general_wer") for key in ("current", "candidate"))),
            str(report["examples"]["train"]))


def models_use(version: str = typer.Argument(..., help="Une version de `dictee models list`, ou base"),
               author: Optional[str] = typer.Option(None, "--author", help=AUTHOR_HELP + " (base : le modèle du cabinet / "
                                                    "the practice's model)")) -> None:
    """Met une version en service (retour arrière compris) / put a version in use (rollback included)."""
    from pipeline.modelstore import use_practice_version

    cli = _cli()
    author = _author(author)
    settings = cli._settings(check_key=False)
    path = use_practice_version(settings.models_dir, version, author)
    cli.out.print(f"En service / in use: {version} ({path.name})" + (f" — {author}" if author else ""))
    if settings.whisper_model is not None:
        cli.console.print("[yellow]Attention / note:[/yellow] le réglage whisper_model l'emporte / the whisper_model setting "
                          "takes precedence")


def register(app: typer.Typer, models_app: typer.Typer) -> None:
    app.add_typer(adapt_app, name="adapt")
    models_app.command("list")(models_list)
    models_app.command("use")(models_use)
