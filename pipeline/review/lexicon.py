"""The practice lexicon on the desk (admin role): the words learned from corrections, and removal
of one learned by mistake (pipeline.adapt.learned)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from pipeline.adapt.learned import PracticeLexicon
from pipeline.review.db import audit
from pipeline.review.deps import CheckedReviewer, CurrentReviewer, db, require_admin, at
from pipeline.review.routes import render

lexicon_router = APIRouter()
KIND_LABELS = {"name": "nom", "term": "terme"}


def _lexicon(request: Request) -> PracticeLexicon:
    return PracticeLexicon(request.app.state.outbox)


@lexicon_router.get("/lexique", response_class=HTMLResponse)
def lexicon_page(request: Request, reviewer: CurrentReviewer, removed: str = ""):
    require_admin(reviewer)
    return render(request, "lexicon.html", user=reviewer.account, csrf=reviewer.csrf, words=_lexicon(request).words(),
                  kinds=KIND_LABELS, removed=removed == "1")


@lexicon_router.post("/lexique/remove")
def lexicon_remove(request: Request, reviewer: CheckedReviewer, word: Annotated[str, Form()], session=Depends(db)):
    require_admin(reviewer)
    if not _lexicon(request).remove(word):
        raise HTTPException(status_code=404, detail="mot absent du lexique / word not in the lexicon")
    # The word may be a patient's name: sealed in the audit like every other detail that could be.
    audit(session, username=reviewer.username, action="lexicon_remove", vault=request.app.state.vault, word=word)
    session.commit()
    return RedirectResponse(at(request, "/lexique?removed=1"), status_code=303)
