"""The fault-injection script itself, as a test: kill -9 during `dictee batch` and `dictee watch`, plus bad input."""

from __future__ import annotations

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
