"""A practitioner signs several reviewed letters at once from « à signer », each previewed first."""

from __future__ import annotations


import pytest

from tests.test_signing import DUPONT, MARTIN, desk, draft, practice, state_of  # noqa: F401 — fixtures


def submitted(practice, desk, names, author="dupont") -> list[str]:  # noqa: F811
    secretary = desk("sophie")
    ids = [draft(practice, name, author=author, seconds=3.0 + n) for n, name in enumerate(names)]
    secretary.get("/")
    for job_id in ids:
        assert secretary.post(f"/jobs/{job_id}/approve", data={"csrf": secretary.csrf, "then": "list"}).status_code == 303
    return ids


def test_letters_previewed_are_signed_together_the_others_are_named_and_left(desk, practice):  # noqa: F811
    first, second, third = submitted(practice, desk, ["b1.wav", "b2.wav", "b3.wav"])
    author = desk("dr_dupont")
    landing = author.get("/").text
    assert 'id="sign-selected-button"' in landing and landing.count('class="pick"') == 3
    for job_id in (first, second):
        assert author.get(f"/jobs/{job_id}/preview").status_code == 200
    answer = author.post("/sign-selected", data={"csrf": author.csrf, "job": [first, second, third]})
    assert answer.status_code == 303
    summary = author.get(answer.headers["location"]).text
    assert "2 courrier(s) signé(s)" in summary and f"{third[:8]} : aperçu non ouvert" in summary
    assert [state_of(practice, job_id)["state"] for job_id in (first, second, third)] == ["filed", "filed", "to_sign"]
    history = state_of(practice, first)["history"]
    assert history[-1]["by"] == "dr_dupont" and history[-1]["signed_by"] == "Dr Anne Dupont"


def test_a_letter_changed_after_its_preview_must_be_previewed_again(desk, practice):  # noqa: F811
    [job_id] = submitted(practice, desk, ["c1.wav"])
    author = desk("dr_dupont")
    author.get(f"/jobs/{job_id}/preview")
    author.post(f"/jobs/{job_id}/edit", data={"csrf": author.csrf, "body": "Texte modifié après l'aperçu."})
    author.post("/sign-selected", data={"csrf": author.csrf, "job": [job_id]})
    assert state_of(practice, job_id)["state"] == "to_sign"


@pytest.mark.parametrize("forged", ["0123456789abcdef", "../../etc", "x" * 300])
def test_a_batch_signs_nothing_out_of_scope_or_unknown(desk, practice, forged):  # noqa: F811
    [theirs] = submitted(practice, desk, ["m1.wav"], author="martin")
    author = desk("dr_dupont")
    author.get(f"/jobs/{theirs}/preview")
    answer = author.post("/sign-selected", data={"csrf": author.csrf, "job": [theirs, forged]})
    assert answer.status_code == 303 and state_of(practice, theirs)["state"] == "to_sign"  # another's letter
    assert "signé par son auteur" in author.get(answer.headers["location"]).text


def test_only_a_practitioner_signs_a_batch(desk, practice):  # noqa: F811
    [job_id] = submitted(practice, desk, ["s1.wav"])
    secretary = desk("sophie")
    assert secretary.post("/sign-selected", data={"csrf": secretary.csrf, "job": [job_id]}).status_code == 403
    assert secretary.post("/sign-selected", data={"csrf": "forged", "job": [job_id]}).status_code == 403
    assert state_of(practice, job_id)["state"] == "to_sign"


def test_a_flood_of_picked_ids_is_bounded_and_signs_nothing(desk, practice):  # noqa: F811
    author = desk("dr_dupont")
    flood = [f"{n:016x}" for n in range(900)] + ["\x00\x0b", "é" * 16]
    answer = author.post("/sign-selected", data={"csrf": author.csrf, "job": flood})
    assert answer.status_code == 303
    summary = author.get(answer.headers["location"]).text
    assert "0 courrier(s) signé(s)" in summary and summary.count(": introuvable") <= 50
