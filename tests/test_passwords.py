"""The desk's password policy (CNIL: 80 bits for a password alone)."""

from __future__ import annotations

import pytest

from pipeline.review.passwords import password_problem


@pytest.mark.parametrize("password", ["correct horse battery", "cheval agrafe batterie correcte", "Kq7#mP2!vL9x",
                                      "Tr0ub4dor&3xyz"])
def test_long_passphrases_and_mixed_passwords_are_accepted(password):
    assert password_problem(password, username="sophie") is None


@pytest.mark.parametrize("password, reason", [
    ("Court1!", "too short"),
    ("motdepasse123456", "too easy to guess"),  # long, but two things every cracker tries first
    ("Azerty123456!", "too easy to guess"),
    ("aaaaaaaaaaaaaaaaaaaa", "too easy to guess"),
    ("abcdefghijklm", "too easy to guess"),  # 13 lower-case letters: 61 bits
    ("Sophie2026!Sophie", "contains the username"),
])
def test_guessable_passwords_are_refused_with_the_reason_in_french_and_english(password, reason):
    problem = password_problem(password, username="sophie")
    assert problem and reason in problem and " / " in problem
