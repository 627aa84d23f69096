"""Every desk route that reaches a draft is scoped by one dependency (review/deps.py), and the
app refuses to start with one that is not: separation no longer rests on how a parameter is
spelled."""

from __future__ import annotations

from typing import Annotated

import pytest
from fastapi import APIRouter, Form
from fastapi.routing import APIRoute

from pipeline.review import app as review_app
from pipeline.review import create_app
from pipeline.review.deps import ScopedJob, scoped_job, unscoped_routes


def desk_routes() -> list[APIRoute]:
    return [route for router in review_app.ROUTERS for route in router.routes if isinstance(route, APIRoute)]


def test_every_route_of_a_draft_declares_the_scoped_job():
    under_a_draft = [route for route in desk_routes() if "{job_id}" in route.path]
    assert len(under_a_draft) >= 15  # the walk sees the desk's routes, not an empty list
    assert unscoped_routes(desk_routes()) == []
    for route in under_a_draft:
        assert any(dependency.call is scoped_job for dependency in route.dependant.dependencies), route.path


def leaky_router() -> APIRouter:
    router = APIRouter()

    @router.get("/jobs/{job_id}/leak")
    def by_path(job_id: str):
        return job_id

    @router.get("/peek")
    def by_query(job_id: str):
        return job_id

    @router.post("/pick")
    def by_form(job: Annotated[list[str], Form()]):
        return job

    @router.get("/jobs/{job_id}/fine")
    def scoped(job_id: ScopedJob):
        return job_id

    return router


def test_a_route_reaching_a_draft_another_way_is_named():
    assert unscoped_routes(leaky_router().routes) == ["GET /jobs/{job_id}/leak", "GET /peek", "POST /pick"]


def test_the_desk_refuses_to_start_with_an_unscoped_route(settings, monkeypatch):
    monkeypatch.setattr(review_app, "ROUTERS", (*review_app.ROUTERS, leaky_router()))
    with pytest.raises(RuntimeError, match="without ScopedJob: GET /jobs/{job_id}/leak"):
        create_app(settings)


def test_a_draft_written_since_the_last_look_opens_by_its_link_and_what_is_no_id_is_not_found(settings, fake_transcriber):
    import re

    from fastapi.testclient import TestClient

    from pipeline.review.auth import add_user
    from tests.conftest import LOCAL_CLIENT, REVIEW_PASSWORD
    from tests.test_signing import draft

    app = create_app(settings)
    with app.state.sessions() as session:
        add_user(session, "sophie", REVIEW_PASSWORD, "secretary")
    with TestClient(app, follow_redirects=False, client=LOCAL_CLIENT) as client:
        client.post("/login", data={"username": "sophie", "password": REVIEW_PASSWORD})
        csrf = re.search(r'name="csrf" value="([^"]+)"', client.get("/").text).group(1)
        job_id = draft(settings, "late.wav")  # after the worklist was read: the database does not know it yet
        assert client.get(f"/jobs/{job_id}").status_code == 200
        for bad in ("0" * 16, job_id.upper(), job_id[:-1], f"{job_id}0", "%2e%2e%2fdictee.db", "é" * 16):
            assert client.get(f"/jobs/{bad}").status_code == 404, bad
            assert client.post(f"/jobs/{bad}/approve", data={"csrf": csrf}).status_code == 404, bad
