#!/usr/bin/env bash
# Set everything up, then run the whole test suite, real-model end-to-end tests included.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
. .venv/bin/activate
exec python -m pytest "$@"
