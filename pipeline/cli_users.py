"""`dictee users …`: the desk's accounts, managed by an admin at the console. Each change is in
the audit trail, made by « (console) »."""

from __future__ import annotations

import sys
from contextlib import contextmanager

import typer
from rich.table import Table

from pipeline.errors import DicteeError
from pipeline.review.db import ROLE_LABELS

CONSOLE_USER = "(console)"


def _cli():
    from pipeline import cli

    return cli


@contextmanager
def _accounts():
    """A database session; account errors become the CLI's French + English message."""
    from pipeline.review.app import review_sessions
    from pipeline.review.auth import AuthError

    settings = _cli()._settings()
    with review_sessions(settings)() as session:
        try:
            yield session
        except AuthError as error:
            raise DicteeError(str(error)) from None


def _audited(session, action: str, **detail) -> None:
    from pipeline.review.db import audit

    audit(session, username=CONSOLE_USER, action=action, **detail)
    session.commit()


def _not_at_the_centre() -> None:
    if _cli()._centre:
        raise DicteeError("au centre, un compte reçoit ses cabinets et praticiens par « dictee practices grant » / "
                          "at a centre, an account is given its practices and practitioners by 'dictee practices grant'")


def _password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    return typer.prompt("Mot de passe / password", hide_input=True, confirmation_prompt=True)


def users_add(
    username: str = typer.Argument(..., help="Identifiant"),
    role: str = typer.Option("secretary", "--role", help="secretary, practitioner ou admin"),
    password_stdin: bool = typer.Option(False, "--password-stdin", help="Lire le mot de passe sur l'entrée standard"),
) -> None:
    """Crée un compte / create an account (password hashed with argon2)."""
    from pipeline.review.auth import add_user

    password = _password(password_stdin)
    with _accounts() as session:
        add_user(session, username, password, role)
        _audited(session, "user_add", account=username, role=role)
    _cli().console.print(f"[green]Compte créé / account created:[/green] {username} ({role})")


def users_list() -> None:
    """Les comptes / the accounts: role, creation, disabled or not, second factor, practitioners served."""
    from pipeline.review.auth import MAIN_LETTERHEAD, served_folders, users
    from pipeline.review.twofactor import enrolled

    table = Table(title="Comptes / accounts")
    for column in ("identifiant / username", "rôle / role", "créé / created", "état / status", "2FA",
                   "sert / serves"):
        table.add_column(column)
    names = None
    if _cli()._centre:  # the practices granted, by name
        from pipeline.practices import Centre

        names = {practice.id: practice.name for practice in Centre().practices()}
    with _accounts() as session:
        for user, disabled in users(session):
            if names is not None:
                from pipeline.review.centre import described_grants

                serves = described_grants(session, user, names)
            else:
                folders = served_folders(session, user)
                serves = ", ".join(sorted(folder or MAIN_LETTERHEAD for folder in folders)) if folders else "tous / all"
            table.add_row(user.username, ROLE_LABELS.get(user.role, user.role), f"{user.created_at:%Y-%m-%d}",
                          "désactivé / disabled" if disabled else "actif / active",
                          "oui / yes" if enrolled(session, user) else "non / no", serves)
    _cli().out.print(table)


def users_disable(username: str = typer.Argument(..., help="Identifiant")) -> None:
    """Désactive un compte (ses sessions sont fermées) / disable an account, ending its sessions."""
    from pipeline.review.auth import set_disabled

    with _accounts() as session:
        set_disabled(session, username, True)
        _audited(session, "user_disable", account=username)
    _cli().console.print(f"Désactivé / disabled: {username}")


def users_enable(username: str = typer.Argument(..., help="Identifiant")) -> None:
    """Réactive un compte / enable an account again."""
    from pipeline.review.auth import set_disabled

    with _accounts() as session:
        set_disabled(session, username, False)
        _audited(session, "user_enable", account=username)
    _cli().console.print(f"Réactivé / enabled: {username}")


def users_reset_password(
    username: str = typer.Argument(..., help="Identifiant"),
    password_stdin: bool = typer.Option(False, "--password-stdin", help="Lire le mot de passe sur l'entrée standard"),
) -> None:
    """Nouveau mot de passe (ses sessions sont fermées) / new password, ending the account's sessions."""
    from pipeline.review.auth import reset_password

    password = _password(password_stdin)
    with _accounts() as session:
        reset_password(session, username, password)
        _audited(session, "user_reset_password", account=username)
    _cli().console.print(f"Mot de passe changé / password changed: {username}")


def users_set_role(username: str = typer.Argument(..., help="Identifiant"),
                   role: str = typer.Argument(..., help="secretary, practitioner ou admin")) -> None:
    """Change le rôle d'un compte / change an account's role."""
    from pipeline.review.auth import set_role

    with _accounts() as session:
        set_role(session, username, role)
        _audited(session, "user_set_role", account=username, role=role)
    _cli().console.print(f"Rôle / role: {username} → {role}")


def users_set_practitioner(
    username: str = typer.Argument(..., help="Identifiant (rôle praticien)"),
    folder: str = typer.Argument(..., help="Dossier du praticien dans la boîte de réception, ou « . » pour "
                                           "le praticien principal"),
) -> None:
    """Relie un compte praticien au praticien pour lequel il signe / link a practitioner's account
    to the practitioner it signs for (an inbox folder, or « . » for the main letterhead)."""
    from pipeline.review.auth import set_practitioner

    _not_at_the_centre()
    settings = _cli()._settings()
    with _accounts() as session:
        set_practitioner(session, username, folder, known_folders=settings.practitioners)
        _audited(session, "user_set_practitioner", account=username, folder=folder)
    _cli().console.print(f"Signe pour / signs for: {username} → {folder}")


def users_serve(
    username: str = typer.Argument(..., help="Identifiant"),
    folders: list[str] = typer.Argument(None, help="Dossiers des praticiens servis (« . » : le praticien principal); "
                                                   "aucun : tout le cabinet"),
) -> None:
    """Les praticiens qu'un compte sert : il ne voit, n'entend, ne modifie et n'exporte que leurs
    courriers / the practitioners an account serves: it sees, hears, edits and exports only theirs."""
    from pipeline.review.auth import set_served

    _not_at_the_centre()
    settings = _cli()._settings()
    with _accounts() as session:
        set_served(session, username, folders or [], known_folders=settings.practitioners)
        _audited(session, "user_serve", account=username, folders=sorted(folders or []))
    _cli().console.print(f"Sert / serves: {username} → {', '.join(folders) if folders else 'tout le cabinet / everyone'}")


def users_reset_2fa(username: str = typer.Argument(..., help="Identifiant")) -> None:
    """Efface la double authentification d'un compte (téléphone perdu) : il l'active de nouveau à sa
    prochaine connexion depuis l'extérieur / clear an account's second factor (lost phone)."""
    from pipeline.review import twofactor
    from pipeline.review.auth import close_all_sessions, find_user

    with _accounts() as session:
        user = find_user(session, username)
        twofactor.reset(session, user)
        close_all_sessions(session, user)
        _audited(session, "totp_reset", account=username)
    _cli().console.print(f"Double authentification effacée / second factor cleared: {username}")


def register(users_app: typer.Typer) -> None:
    for name, command in (("add", users_add), ("list", users_list), ("disable", users_disable),
                          ("enable", users_enable), ("reset-password", users_reset_password),
                          ("set-role", users_set_role), ("set-practitioner", users_set_practitioner),
                          ("serve", users_serve), ("reset-2fa", users_reset_2fa)):
        users_app.command(name)(command)
