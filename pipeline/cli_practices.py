"""`dictee practices …` and `dictee --practice NAME …`: one installation serving several practices
(pipeline/practices.py)."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from pipeline.cli_users import _audited
from pipeline.errors import DicteeError

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


@practices_app.command("adopt")
def practices_adopt(
    name: str = typer.Argument(..., help="Nom court du cabinet au centre / its short name at the centre"),
    settings_file: Path = typer.Option(..., "--settings", help="Le dictee.toml avec lequel il tournait seul "
                                                              "(chemins relatifs : depuis son dossier) / the "
                                                              "dictee.toml it ran with on its own"),
) -> None:
    """Reprend un cabinet qui tournait seul / a practice that ran on its own, served by the centre
    from now on: its drafts, key, database, trail and models stay where they are."""
    from pipeline.practices import Centre

    cli = _cli()
    centre = Centre()
    practice = centre.adopt(name, settings_file, installation=cli._settings(check_key=False))
    cli.out.print(f"Cabinet / practice [bold]{practice.name}[/bold] ({practice.id}) → {practice.settings_file} "
                  f"(copie de / copied from {settings_file}, inchangé / unchanged)")
    accounts = _desk_accounts(centre.settings(practice))
    cli.out.print("Arrêtez ses propres « dictee watch » et « dictee review » / stop its own watch and desk. "
                  + ("Ses comptes restent dans sa base ; au centre, recréez ceux qui y travaillent / its accounts stay "
                     f"in its database; at the centre, create those who work there: {', '.join(accounts)} — "
                     f"dictee --centre users add NOM --role …, puis / then dictee practices grant NOM {practice.name}"
                     if accounts else ""))


def _desk_accounts(settings) -> list[str]:
    """The usernames of the practice's own desk (its database), active ones only."""
    from sqlalchemy.exc import SQLAlchemyError

    from pipeline.review.app import review_sessions
    from pipeline.review.auth import users

    try:
        with review_sessions(settings)() as session:
            return [user.username for user, disabled in users(session) if not disabled]
    except (DicteeError, SQLAlchemyError, OSError):  # its database elsewhere, not reachable now: said by `review`
        return []


@practices_app.command("list")
def practices_list() -> None:
    """Les cabinets du centre / the centre's practices, with what each one's settings say."""
    from pipeline.practices import Centre, load_of

    cli, centre = _cli(), Centre()
    table = Table("Cabinet", "Id", "Chiffré", "À relire", "À signer", "En attente", "Délai (h)", "État",
                  title=f"Centre {centre.folder}",
                  caption="practice, id, encrypted, to review, to sign, not yet drafted, this month's median hours "
                          "from dictation to filing, state")
    problems = []
    for practice in centre.practices():
        try:
            settings = centre.checked_settings(practice)  # an overlap edited in since is shown here
            load = load_of(settings)  # reads its drafts' states: its key must open them
            figures = (str(load.to_review), str(load.to_sign), str(load.waiting),
                       "" if load.turnaround_h is None else str(load.turnaround_h))
            sealed = "oui" if settings.encryption_key_file else "non"
            state = "désactivé / disabled" if practice.disabled else "actif / active"
        except DicteeError as error:
            sealed, figures, state = "?", ("?",) * 4, "[red]illisible / unreadable[/red]"
            problems.append(f"{practice.name}: {error}")
        table.add_row(practice.name, practice.id, sealed, *figures, state)
    cli.out.print(table)
    for problem in problems:  # whole sentences, below the table rather than cut in a cell
        cli.console.print(f"[red]{problem}[/red]")


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


@practices_app.command("grant")
def practices_grant(
    username: str = typer.Argument(..., help="Compte du centre (dictee --centre users add)"),
    practice: str = typer.Argument(..., help="Cabinet"),
    folders: list[str] = typer.Argument(None, help="Praticiens servis (dossiers, « . » le principal) ; aucun : tous. "
                                                   "Un praticien : celui qu'il signe"),
) -> None:
    """Accorde un cabinet à un compte du centre / grant a centre account a practice (its
    practitioners FOLDER…, or all): it sees, hears and edits only their letters there."""
    from pipeline.practices import Centre
    from pipeline.review.centre import grant

    centre = Centre()
    chosen = centre.find(practice)
    known = _cli()._settings(practice=chosen, check_key=False).practitioners
    with _centre_accounts(centre) as session:
        grant(session, username, chosen, folders or [], known_folders=known)
        _audited(session, "practice_grant", account=username, practice=chosen.id, folders=sorted(folders or []))
    _cli().out.print(f"{username} → {chosen.name}" + (f" ({', '.join(folders)})" if folders else " (tous / all)"))


@practices_app.command("revoke")
def practices_revoke(username: str = typer.Argument(...), practice: str = typer.Argument(...)) -> None:
    """Retire un cabinet à un compte du centre / take a practice away from a centre account
    (its open sessions end)."""
    from pipeline.practices import Centre
    from pipeline.review.centre import revoke

    centre = Centre()
    chosen = centre.find(practice)
    with _centre_accounts(centre) as session:
        if not revoke(session, username, chosen):
            raise DicteeError(f"{username} n'a pas ce cabinet / has no grant for {chosen.name}")
        _audited(session, "practice_revoke", account=username, practice=chosen.id)
    _cli().out.print(f"{username} ✗ {chosen.name}")


@contextmanager
def _centre_accounts(centre):
    """The centre's accounts database; account errors become the CLI's French + English message."""
    from pipeline.review.app import review_sessions
    from pipeline.review.auth import AuthError
    from pipeline.review.centre import desk_settings

    with review_sessions(desk_settings(_cli()._settings(), centre))() as session:
        try:
            yield session
        except AuthError as error:
            raise DicteeError(str(error)) from None


def register(app: typer.Typer) -> None:
    app.add_typer(practices_app, name="practices")
