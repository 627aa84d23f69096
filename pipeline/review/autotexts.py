"""The autotext library on the desk (admin role): the practice's phrases and each
practitioner's, added and removed on their own page, audited (pipeline/autotext.py)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from pipeline import autotext
from pipeline.review.db import audit
from pipeline.review.deps import CheckedReviewer, CurrentReviewer, db, require_admin, at
from pipeline.review.routes import render

autotext_router = APIRouter()


def _page(request: Request, reviewer, *, error: str | None = None, status_code: int = 200, typed: dict | None = None):
    settings = request.app.state.settings
    return render(request, "autotext.html", status_code=status_code, user=reviewer.account, csrf=reviewer.csrf,
                  phrases=sorted(autotext.load(request.app.state.outbox), key=lambda p: (p.folder, p.abbreviation)),
                  practitioners={"": "Tout le cabinet", **{folder: p.name for folder, p in settings.practitioners.items()}},
                  error=error, typed=typed or {})


@autotext_router.get("/autotexte", response_class=HTMLResponse)
def autotext_page(request: Request, reviewer: CurrentReviewer):
    require_admin(reviewer)
    return _page(request, reviewer)


@autotext_router.post("/autotexte")
def autotext_add(request: Request, reviewer: CheckedReviewer, abbreviation: Annotated[str, Form(max_length=40)] = "",
                 text: Annotated[str, Form(max_length=20_000)] = "", folder: Annotated[str, Form(max_length=64)] = "", session=Depends(db)):
    require_admin(reviewer)
    try:
        phrase = autotext.add(request.app.state.outbox, abbreviation, text, folder=folder,
                              known_folders=request.app.state.settings.practitioners)
    except autotext.AutotextError as error:
        return _page(request, reviewer, error=str(error), status_code=422,
                     typed={"abbreviation": abbreviation, "text": text, "folder": folder})
    # The phrase may name a colleague: sealed in the audit like any detail that could.
    audit(session, username=reviewer.username, action="autotext_add", vault=request.app.state.vault,
          abbreviation=phrase.abbreviation, folder=phrase.folder, text=phrase.text)
    session.commit()
    return RedirectResponse(at(request, "/autotexte"), status_code=303)


@autotext_router.post("/autotexte/remove")
def autotext_remove(request: Request, reviewer: CheckedReviewer, abbreviation: Annotated[str, Form(max_length=40)],
                    folder: Annotated[str, Form(max_length=64)] = "", session=Depends(db)):
    require_admin(reviewer)
    if not autotext.remove(request.app.state.outbox, abbreviation, folder=folder):
        raise HTTPException(status_code=404, detail="abréviation inconnue / unknown abbreviation")
    audit(session, username=reviewer.username, action="autotext_remove", abbreviation=abbreviation, folder=folder)
    session.commit()
    return RedirectResponse(at(request, "/autotexte"), status_code=303)
