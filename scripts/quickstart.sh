#!/usr/bin/env bash
# Quick start: set everything up, then draft letters from the sample recordings.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
. .venv/bin/activate
mkdir -p inbox outbox
cp samples/*.ogg inbox/
dictee batch inbox --outbox outbox
echo
echo "Drafts are in outbox/<job_id>/draft.docx, with result.json beside them."
echo "NLP alone on a dictated text:  .venv/bin/dictee extract samples/dictation-lettre.txt"
