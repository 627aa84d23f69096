"""The fault-injection script itself, as a test: kill -9 during `dictee batch` and `dictee watch`, plus bad input."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from tests.conftest import FLEURS, REPO, require

pytestmark = pytest.mark.slow


def run_script(args: list[str], *, timeout: float) -> subprocess.CompletedProcess:
    """A fault script; on timeout it is told to stop (it ends the runs it started: a watcher, a
    Prefect server), then its group is killed — nothing is left running behind a failed test."""
    process = subprocess.Popen([sys.executable, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               cwd=REPO, start_new_session=True)
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGTERM)
        try:
            process.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate()
        pytest.fail(f"{args[0]} did not finish in {timeout:.0f} s")
    return subprocess.CompletedProcess(args, process.returncode, stdout, stderr)


# Watch mode runs with encryption at rest on: then the dummy name must be found nowhere at all.
@pytest.mark.parametrize("mode, extra", [("batch", []), ("watch", ["--encrypt"])])
def test_kills_and_bad_input_lose_nothing_duplicate_nothing_leak_nothing(mode, extra):
    require(FLEURS)
    done = run_script([str(REPO / "benchmarks" / "fault_injection.py"), "--mode", mode,
                       "--kills", "2", "--good", "3", "--seed", "3", *extra], timeout=1200)
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
    done = run_script([str(REPO / "benchmarks" / "fault_cases.py"), "--mode", mode], timeout=3000)  # 14 cases
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    rows = [line for line in done.stdout.splitlines() if line.startswith("| ") and f"| {mode} |" in line]
    ran = [row for row in rows if "not run" not in row]
    assert len(rows) == 14 and (len(ran) == 14 or os.geteuid() != 0), done.stdout
    for row in ran:
        cells = [cell.strip() for cell in row.split("|")[1:-1]]
        in_, drafted, quarantined, lost, duplicated, leaked = map(int, cells[2:8])
        # Every recording drafted, every hostile file quarantined (with a reason: the script checks it).
        assert (drafted + quarantined, lost, duplicated, leaked) == (in_, 0, 0, 0), row
