"""The fault-injection script itself, as a test: kill -9 during `dictee batch` and `dictee watch`, plus bad input."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.conftest import FLEURS, REPO, require

pytestmark = pytest.mark.slow


# Watch mode runs with encryption at rest on: then the dummy name must be found nowhere at all.
@pytest.mark.parametrize("mode, extra", [("batch", []), ("watch", ["--encrypt"])])
def test_kills_and_bad_input_lose_nothing_duplicate_nothing_leak_nothing(mode, extra):
    require(FLEURS)
    done = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "fault_injection.py"), "--mode", mode,
         "--kills", "2", "--good", "3", "--seed", "3", *extra],
        capture_output=True, text=True, timeout=1200, cwd=REPO,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "lost                   0" in done.stdout and "duplicated             0" in done.stdout
    assert "bad input quarantined  10/10" in done.stdout
    assert "kills landed           2/2" in done.stdout  # each on a dictation in hand


# The edges where recordings were lost, each for real: a copy that pauses past the stability
# window (also from another filesystem), a re-drop after quarantine, a name that is not UTF-8, a disk that fills mid-run and an
# outbox mounted read-only (tmpfs: needs root, as in CI), a damaged model.
@pytest.mark.parametrize("mode", ["batch", "watch"])
def test_each_edge_case_loses_nothing_duplicates_nothing_leaks_nothing(mode):
    require(FLEURS)
    done = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "fault_cases.py"), "--mode", mode],
        capture_output=True, text=True, timeout=1800, cwd=REPO,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    rows = [line for line in done.stdout.splitlines() if line.startswith("| ") and f"| {mode} |" in line]
    ran = [row for row in rows if "not run" not in row]
    assert len(rows) == 7 and (len(ran) == 7 or os.geteuid() != 0), done.stdout
    for row in ran:
        cells = [cell.strip() for cell in row.split("|")[1:-1]]
        in_, drafted, quarantined, lost, duplicated, leaked = map(int, cells[2:8])
        assert (drafted, lost, duplicated, leaked) == (in_, 0, 0, 0), row
