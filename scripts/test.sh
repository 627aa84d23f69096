#!/usr/bin/env bash
# Set everything up, then run the whole test suite, real-model end-to-end tests included.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# The review app's browser test drives Debian's Chromium (browser downloads are not possible).
if ! command -v chromium >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "→ installing Chromium for the browser test"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) >/dev/null 2>&1 \
        || echo "  (could not install Chromium: the browser test will be skipped)"
fi
. .venv/bin/activate
exec python -m pytest "$@"
