"""`dictee practices …` and `dictee --practice NAME …`: one installation serving several practices
(pipeline/practices.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

practices_app = typer.Typer(no_args_is_help=True,
                            help="Cabinets servis par ce centre / the practices this centre serves.")


def _cli():
    from pipeline import cli  # the one place that loads settings and prints

    return cli


@practices_app.command("add")
def practices_add(
    name: str = typer.Argument(..., help="Nom court du cabinet : minuscules, chiffres, - / short name"),
    outbox: Path = typer.Option(..., "--outbox", help="Son dossier de brouillons, à lui seul / its own outbox"),
    inbox: Optional[Path] = typer.Option(None, "--inbox", help="Sa boîte de dépôt (défaut : dans le centre) / its inbox"),
    key: Optional[Path] = typer.Option(None, "--key", help="Sa clé de chiffrement (dictee key create) / its own key"),
) -> None:
    """Ajoute un cabinet / add a practice: its own folders, key, audit trail, register and models."""
    from pipeline.practices import Centre

    cli = _cli()
    practice = Centre().add(name, outbox=outbox, inbox=inbox, key=key, installation=cli._settings(check_key=False))
    cli.out.print(f"Cabinet / practice [bold]{practice.name}[/bold] ({practice.id}) → {practice.settings_file}")
    cli.out.print(f"En-têtes et praticiens : éditez ce fichier / letterheads and practitioners: edit that file; "
                  f"puis / then: dictee --practice {practice.name} users add …")


@practices_app.command("list")
def practices_list() -> None:
    """Les cabinets du centre / the centre's practices, with what each one's settings say."""
    from pipeline.errors import DicteeError
    from pipeline.practices import Centre

    cli, centre = _cli(), Centre()
    table = Table("Cabinet / practice", "Id", "Brouillons / outbox", "Chiffré / encrypted", "État / state",
                  title=f"Centre {centre.folder}")
    for practice in centre.practices():
        try:
            settings = centre.settings(practice)
            settings.vault()
            outbox, sealed = str(settings.outbox), "oui / yes" if settings.encryption_key_file else "non / no"
            state = "désactivé / disabled" if practice.disabled else "actif / active"
        except DicteeError as error:
            outbox, sealed, state = "?", "?", f"[red]{str(error)[:120]}[/red]"
        table.add_row(practice.name, practice.id, outbox, sealed, state)
    cli.out.print(table)


def _set_disabled(name: str, disabled: bool) -> None:
    from pipeline.practices import Centre

    practice = Centre().set_disabled(name, disabled)
    _cli().out.print(f"{practice.name}: {'désactivé / disabled' if disabled else 'réactivé / enabled'}")


@practices_app.command("disable")
def practices_disable(name: str = typer.Argument(...)) -> None:
    """Cesse de servir un cabinet / stop serving a practice (its data stays where it is)."""
    _set_disabled(name, True)


@practices_app.command("enable")
def practices_enable(name: str = typer.Argument(...)) -> None:
    """Sert de nouveau un cabinet / serve a practice again."""
    _set_disabled(name, False)


def register(app: typer.Typer) -> None:
    app.add_typer(practices_app, name="practices")
