"""Accounts on the desk (admin role): list, disable or enable, change a role, clear a lost
second factor; each account's practitioners served is shown. Passwords are set at the console
(`dictee users reset-password`), never shown or sent here."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from pipeline.review import auth, twofactor
from pipeline.review.db import ROLES, audit
from pipeline.review.deps import CheckedReviewer, CurrentReviewer, db, require_admin
from pipeline.review.routes import render

accounts_router = APIRouter()
ROLE_LABELS = {"secretary": "secrétaire", "practitioner": "praticien", "admin": "administrateur"}


@accounts_router.get("/comptes", response_class=HTMLResponse)
def accounts_page(request: Request, reviewer: CurrentReviewer, session=Depends(db)):
    require_admin(reviewer)
    accounts, practices = auth.users(session), getattr(request.app.state, "practices", None)
    details = {user.username: {"second_factor": twofactor.enrolled(session, user), "serves": _serves(request, session, user)}
               for user, _ in accounts}
    extra = {}
    if practices is not None:  # a centre: which practices, and which practitioners there, each account is granted
        from pipeline.review.centre import grant_choices, grants_of

        extra = {"grant_choices": grant_choices(request),
                 "grants": {user.username: grants_of(session, user) for user, _ in accounts}}
    return render(request, "accounts.html", user=reviewer.account, csrf=reviewer.csrf, accounts=accounts,
                  roles=ROLE_LABELS, details=details, practices=practices, **extra)


def _serves(request: Request, session, user) -> str:
    """Whose letters an account reaches: practitioners of this practice, or a centre's practices."""
    if (served := getattr(request.app.state, "practices", None)) is not None:
        from pipeline.review.centre import described_grants

        return described_grants(session, user, {one.practice.id: one.practice.name for one in served})
    folders = auth.served_folders(session, user)
    return ", ".join(sorted(folder or auth.MAIN_LETTERHEAD for folder in folders)) if folders else "tout le cabinet"


@accounts_router.post("/comptes/{username}")
def account_change(request: Request, reviewer: CheckedReviewer, username: str, action: Annotated[str, Form()], role: Annotated[str, Form()] = "", session=Depends(db)):
    require_admin(reviewer)
    if username == reviewer.username:
        raise HTTPException(status_code=409, detail="pas sur votre propre compte / not on your own account")
    try:
        if action in ("disable", "enable"):
            auth.set_disabled(session, username, action == "disable")
        elif action == "role" and role in ROLES:
            auth.set_role(session, username, role)
        elif action == "reset_2fa":
            account = auth.find_user(session, username)
            twofactor.reset(session, account)
            auth.close_all_sessions(session, account)
        else:
            raise HTTPException(status_code=422, detail="action inconnue / unknown action")
    except auth.AuthError:
        raise HTTPException(status_code=404, detail="compte inconnu / unknown account") from None
    logged = "totp_reset" if action == "reset_2fa" else f"user_{action}"
    audit(session, username=reviewer.username, action=logged, account=username, **({"role": role} if role else {}))
    session.commit()
    return RedirectResponse("/comptes", status_code=303)


statement_router = APIRouter()  # each practice's own, in a centre too


def _statement(request: Request, reviewer, month: str, session, kind: str):
    """This practice's statement for `month` (default: the last one), in its trail."""
    import datetime as dt

    from pipeline.errors import DicteeError
    from pipeline.statement import monthly_statement, previous_month

    require_admin(reviewer)
    month = month or previous_month(dt.date.today())
    try:
        rows = monthly_statement(request.app.state.settings, request.app.state.outbox, month)
    except DicteeError as error:
        raise HTTPException(status_code=422, detail=str(error)) from None
    audit(session, username=reviewer.username, action="statement", month=month, format=kind)
    session.commit()
    return rows, month


@statement_router.get("/releve.csv")
def statement_csv(request: Request, reviewer: CurrentReviewer, month: str = "", session=Depends(db)):
    """The month's statement per practitioner (pipeline/statement.py), for the invoice."""
    from fastapi.responses import Response

    from pipeline.statement import as_csv

    rows, month = _statement(request, reviewer, month, session, "csv")
    return Response(as_csv(rows), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="releve-{month}.csv"'})


@statement_router.get("/releve.pdf")
def statement_pdf(request: Request, reviewer: CurrentReviewer, month: str = "", session=Depends(db)):
    """The same as a PDF/A to attach to the invoice (LibreOffice, as letters are)."""
    from fastapi.responses import Response

    from pipeline.export import ExportError, to_pdfa
    from pipeline.statement import as_docx

    rows, month = _statement(request, reviewer, month, session, "pdf")
    settings = request.app.state.settings
    try:
        document = to_pdfa(as_docx(rows, practice=settings.practitioner(None).name, month=month),
                           scratch_root=request.app.state.outbox.work_folder())
    except ExportError as error:
        raise HTTPException(status_code=503, detail=f"PDF impossible ici, le CSV reste disponible / no PDF here, "
                                                    f"the CSV is still there ({error})") from None
    return Response(document, media_type="application/pdf",
                    headers={"Content-Disposition": f'attachment; filename="releve-{month}.pdf"'})
