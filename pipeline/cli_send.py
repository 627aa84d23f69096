"""`dictee send`: recordings sent to a remote desk with the practitioner's account (pipeline/send.py)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import List, Optional

import typer
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

PASSWORD_VARIABLE = "DICTEE_PASSWORD"


def send(
    files: List[Path] = typer.Argument(..., help="Enregistrements (wav, mp3, ogg, m4a, webm, flac…)"),
    to: str = typer.Option(..., "--to", help="Adresse du bureau / the desk's address, e.g. https://bureau.example:8443"),
    user: str = typer.Option(..., "--user", help="Compte du praticien au bureau / the practitioner's desk account"),
    urgent: bool = typer.Option(False, "--urgent", help="Urgent : en tête de la liste / first in the worklist"),
    patient: Optional[str] = typer.Option(None, "--patient", help="Patient, comme sur la page « Dicter »"),
    recipient: Optional[str] = typer.Option(None, "--recipient", help="Destinataire, comme sur la page « Dicter »"),
    ca: Optional[Path] = typer.Option(None, "--ca", help="Certificat du bureau (auto-signé) / the desk's certificate"),
    code: Optional[str] = typer.Option(None, "--code", help="Code à usage unique (sinon demandé) / one-time code"),
    practice: Optional[str] = typer.Option(None, "--practice", help="Le cabinet, sur le bureau d'un centre / "
                                                                     "the practice, at a centre's desk"),
) -> None:
    """Envoie des dictées au bureau distant / send dictations to a remote desk, as « Dicter » does:
    in chunks, resumed by running the same command again after a drop. The password is read from
    DICTEE_PASSWORD or asked."""
    from pipeline.cli import console, out
    from pipeline.send import SendError, checked_hint, checked_recording, open_desk

    for path in files:  # every file checked before the password is even asked
        try:
            checked_recording(path)
        except SendError as error:
            raise SendError(f"{path.name}: {error}") from None
    hints = checked_hint(patient, ("patient", "patient")), checked_hint(recipient, ("destinataire", "recipient"))
    desk = open_desk(to, user, ca_file=ca, practice=practice)
    password = os.environ.get(PASSWORD_VARIABLE) or typer.prompt("Mot de passe / password", hide_input=True)
    desk.sign_in(password, lambda: code or typer.prompt("Code à usage unique / one-time code"))
    with Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
                  console=console, transient=True) as bar:
        for path in files:
            task = bar.add_task(path.name[:40], total=None)
            sent = desk.send(path, urgent=urgent, patient=hints[0], recipient=hints[1],
                             on_progress=lambda done, total: bar.update(task, completed=done, total=total))
            resumed = f" (repris à / resumed at {sent.resumed_at // 1024} Kio)" if sent.resumed_at else ""
            out.print(f"{path.name} → {sent.job_id}{resumed}")


def register(app: typer.Typer) -> None:
    app.command("send")(send)
