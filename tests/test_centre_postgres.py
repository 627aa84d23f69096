"""The centre's separation suite again, its desk and each practice on a database of their own
in a real PostgreSQL (a throwaway cluster): foreign keys enforced, nothing of one in another."""

from __future__ import annotations

import pytest

from tests.test_centre_desk import (
    test_a_practice_not_granted_answers_404_on_every_route_and_its_list,
    test_a_practitioner_belongs_to_his_practice_and_dictates_into_it,
    test_each_practice_keeps_its_own_trail_and_the_centre_its_sign_ins,
    test_one_sign_in_one_worklist_across_the_practices_granted,
)
from tests.conftest import run_as_postgres

pytestmark = pytest.mark.slow
# Collected here too, with this module's databases.
SEPARATION_SUITE = (test_one_sign_in_one_worklist_across_the_practices_granted,
                    test_a_practice_not_granted_answers_404_on_every_route_and_its_list,
                    test_a_practitioner_belongs_to_his_practice_and_dictates_into_it,
                    test_each_practice_keeps_its_own_trail_and_the_centre_its_sign_ins)


@pytest.fixture
def practice_database_urls(postgres):
    pytest.importorskip("psycopg")
    urls = {}
    for name in ("centre", "cab_a", "cab_b"):
        run_as_postgres(f"{postgres.bin_dir}/createdb", "-h", "127.0.0.1", "-p", str(postgres.port), "-U", "postgres", name)
        urls[name.replace("_", "-")] = postgres.url("postgresql+psycopg").rsplit("/", 1)[0] + f"/{name}"
    return urls


def test_no_practice_s_rows_reach_another_s_database(two_practices, practice_database_urls):
    from sqlalchemy import create_engine, text

    from tests.test_centre_desk import centre_client, sign_in

    installation, centre, job_id = two_practices
    with centre_client(installation, centre) as client:
        sign_in(client, "anne")
        assert client.get(f"/p/cab-a/jobs/{job_id}").status_code == 200
        assert client.get(f"/p/cab-b/jobs/{job_id}").status_code == 404

    def rows(name, query):
        engine = create_engine(practice_database_urls[name])
        try:
            with engine.connect() as connection:
                return [tuple(row) for row in connection.execute(text(query))]
        finally:
            engine.dispose()

    assert [action for username, action in rows("cab-a", "SELECT username, action FROM audit")
            if username.startswith("anne (centre #")] == ["view"]
    assert rows("cab-b", "SELECT username FROM audit WHERE username LIKE 'anne%'") == []
    assert rows("cab-b", "SELECT username FROM users WHERE username LIKE 'anne%'") == []  # not even her copy
    assert rows("centre", "SELECT count(*) FROM jobs") == [(0,)]  # the centre holds accounts, no draft
