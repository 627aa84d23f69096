#!/usr/bin/env bash
# Set everything up, then run the whole test suite, real-model end-to-end tests included.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
echo "→ adding the adaptation extra (torch CPU build, transformers) for its tests"
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".[test,adapt]"
# The review app's end-to-end tests drive Debian's Chromium (browser downloads are not possible)
# and a throwaway PostgreSQL cluster.
missing=""
command -v chromium >/dev/null 2>&1 || missing="$missing chromium"
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$missing postgresql"
if [ -n "$missing" ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "→ installing$missing for the review app's end-to-end tests"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing) >/dev/null 2>&1 \
        || echo "  (could not install$missing: those tests will be skipped with a reason)"
fi
. .venv/bin/activate
exec python -m pytest "$@"
