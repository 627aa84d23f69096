"""The practice lexicon on the desk (admin role): the words learned from corrections, and removal
of one learned by mistake (pipeline.adapt.learned)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from pipeline.adapt.learned import PracticeLexicon
from pipeline.review.db import audit
from pipeline.review.routes import checked, current, db, render, require_admin

lexicon_router = APIRouter()
KIND_LABELS = {"name": "nom", "term": "terme"}


def _lexicon(request: Request) -> PracticeLexicon:
    return PracticeLexicon(request.app.state.outbox)


@lexicon_router.get("/lexique", response_class=HTMLResponse)
def lexicon_page(request: Request, removed: str = "", who=Depends(current)):
    require_admin(who)
    return render(request, "lexicon.html", user=who[0], csrf=who[1].csrf_token, words=_lexicon(request).words(),
                  kinds=KIND_LABELS, removed=removed == "1")


@lexicon_router.post("/lexique/remove")
def lexicon_remove(request: Request, word: Annotated[str, Form()], who=Depends(checked), session=Depends(db)):
    require_admin(who)
    if not _lexicon(request).remove(word):
        raise HTTPException(status_code=404, detail="mot absent du lexique / word not in the lexicon")
    # The word may be a patient's name: sealed in the audit like every other detail that could be.
    audit(session, username=who[0].username, action="lexicon_remove", vault=request.app.state.vault, word=word)
    session.commit()
    return RedirectResponse("/lexique?removed=1", status_code=303)
