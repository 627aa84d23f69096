"""The desk of a centre serving several practices: each practice's desk under /p/<practice>/."""

from __future__ import annotations

import re

from fastapi import FastAPI
from fastapi.testclient import TestClient

from pipeline.job import run_job
from pipeline import ingest
from tests.conftest import LOCAL_CLIENT, REVIEW_PASSWORD, write_tone

GLOBAL_PATHS = ("/comptes", "/securite", "/logout", "/login")  # the centre's own pages, one for all practices


def links(page: str) -> list[str]:
    return re.findall(r'(?:href|action|src|formaction|data-listened|data-root)="([^"]*)"', page)


def test_a_desk_served_under_a_prefix_keeps_every_link_and_redirect_under_it(settings, fake_transcriber):
    from pipeline.review import create_app
    from pipeline.review.auth import add_user

    source = write_tone(settings.inbox / "a.wav", seconds=2.0)
    dictation = ingest.claim_dictation(source, work_dir=settings.work_dir, outbox=settings.outbox)
    run_job(dictation, settings)
    desk = create_app(settings)
    with desk.state.sessions() as session:
        add_user(session, "sophie", REVIEW_PASSWORD, "admin")
    centre = FastAPI()
    centre.mount("/p/cab-a", desk)
    with TestClient(centre, follow_redirects=False, client=LOCAL_CLIENT) as client:
        client.post("/p/cab-a/login", data={"username": "sophie", "password": REVIEW_PASSWORD})
        pages = [client.get(path).text for path in
                 ("/p/cab-a/", f"/p/cab-a/jobs/{dictation.job_id}", "/p/cab-a/lexique", "/p/cab-a/autotexte")]
        for page in pages:
            for link in links(page):
                assert link.startswith(("/p/cab-a/", "?", "#", "data:")) or link == "/p/cab-a" \
                    or link.startswith(GLOBAL_PATHS), link
        assert 'data-root="/p/cab-a"' in pages[0]
        csrf = re.search(r'name="csrf" value="([^"]+)"', pages[1]).group(1)
        saved = client.post(f"/p/cab-a/jobs/{dictation.job_id}/edit", data={"csrf": csrf, "body": "Texte revu."})
        assert saved.status_code == 303 and saved.headers["location"] == f"/p/cab-a/jobs/{dictation.job_id}"
        assert client.get(f"/p/cab-a/jobs/{dictation.job_id}/audio").status_code == 200
        client.cookies.clear()  # signed out: sent to the sign-in page, and back to this draft afterwards
        away = client.get(f"/p/cab-a/jobs/{dictation.job_id}")
        assert away.status_code == 303 and away.headers["location"] == "/login"
        back = client.post("/p/cab-a/login", data={"username": "sophie", "password": REVIEW_PASSWORD})
        assert back.headers["location"] == f"/p/cab-a/jobs/{dictation.job_id}"
