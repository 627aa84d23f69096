"""Password policy for the desk's accounts, after the CNIL's recommendation (délibération
2022-100) for authentication by password alone: at least 80 bits of entropy, e.g. 12 characters
mixing upper and lower case, digits and symbols, or a longer passphrase.

Entropy is estimated as length × log2(size of the alphabets used), after taking out what an
attacker tries first: well-known passwords and words (« motdepasse », « azerty », « 123456 »…),
the account's own name, and runs of one repeated character.
"""

from __future__ import annotations

import math
import re
import string

MIN_ENTROPY_BITS = 80
MIN_LENGTH = 12
# Tried first by every cracker, French practices' favourites included: each counts as one character.
WEAK_PARTS = (
    "motdepasse", "password", "passwort", "azerty", "qwerty", "qwertz", "123456789", "12345678", "1234567",
    "123456", "12345", "1234", "0000", "abcdef", "abc123", "soleil", "bonjour", "doudou", "chouchou", "loulou",
    "marseille", "paris", "france", "admin", "secret", "docteur", "cabinet", "medecin", "secretaire", "dictee",
    "iloveyou", "welcome", "letmein", "sesame",
)
ALPHABETS = (string.ascii_lowercase + "àâäçéèêëîïôöùûüÿœæ", string.ascii_uppercase + "ÀÂÄÇÉÈÊËÎÏÔÖÙÛÜŸŒÆ",
             string.digits)
SYMBOLS = 33  # printable ASCII punctuation and the space


def entropy_bits(password: str, *, username: str = "") -> float:
    folded = password.lower()
    for weak in sorted({*WEAK_PARTS, username.lower()} - {""}, key=len, reverse=True):
        folded = folded.replace(weak, "\x00")
    folded = re.sub(r"(.)\1+", r"\1", folded)  # « aaaa » is worth one « a »
    pool = sum(len(alphabet) for alphabet in ALPHABETS if any(c in alphabet for c in password))
    pool += SYMBOLS if any(not c.isalnum() for c in password) else 0
    return len(folded) * math.log2(max(pool, 2))


def password_problem(password: str, *, username: str = "") -> str | None:
    """Why the password is refused (French / English), or None."""
    if len(password) < MIN_LENGTH:
        return (f"mot de passe trop court ({MIN_LENGTH} caractères minimum) / "
                f"password too short ({MIN_LENGTH} characters minimum)")
    if username and username.lower() in password.lower():
        return "le mot de passe contient l'identifiant / the password contains the username"
    if entropy_bits(password, username=username) < MIN_ENTROPY_BITS:
        return ("mot de passe trop facile à deviner : allongez-le ou mêlez majuscules, minuscules, chiffres et "
                "symboles (ou une phrase de plusieurs mots) / password too easy to guess: make it longer or mix "
                "upper and lower case, digits and symbols (or use a passphrase)")
    return None
