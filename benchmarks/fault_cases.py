"""The edges where recordings used to be lost, each run for real and accounted for.

    python benchmarks/fault_cases.py [--mode batch|watch|both] [--case NAME ...]

Each case starts `dictee batch` or `dictee watch` as a practice would (its own process, Prefect's
ephemeral server with it) in a fresh workspace, does what the case says, then lets a clean run
finish. Printed per case and mode, as a table for the README: recordings in, drafted,
quarantined, lost, duplicated, leaked (a dictated name found in logs or Prefect's home, base64
runs decoded), and the exit codes. Exits 1 when anything is lost, duplicated or leaked, when a
leftover (.partial, orphan claim, file in the inbox) remains, or when a case's run did not end
as it should.

Cases:
- paused-write: a copy that stops for 4 s (longer than the 1-s stability window) mid-file;
- paused-write-share: the same, the inbox on another filesystem (a tmpfs) than the outbox;
- redrop-after-quarantine: quarantined as too long, dropped again under the default limit;
- non-utf8-name: a Windows-1252 file name holding a patient-like name;
- disk-full: the outbox on a tmpfs that fills mid-run (room for one draft), then grown;
- read-only-outbox: the outbox mounted read-only, then writable again;
- corrupt-model: one byte of the model's header damaged, then the model repaired.
The three mount cases need root (a tmpfs); without it they are reported as not run.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from fault_injection import DUMMY_NAME, FLEURS, REPO, account, leaks, run_batch, run_watch, sha  # noqa: E402

from pipeline.vault import PLAIN  # noqa: E402

STABLE_S = 1.0
PAUSE_S = 4.0
DRAFT_BYTES = 60_000  # room for about one draft (docx, result.json) beside the audio


@dataclass
class Workspace:
    root: Path
    mode: str
    env: dict
    log: object
    goods: dict = field(default_factory=dict)  # sha -> name: must end drafted
    runs: list = field(default_factory=list)

    @property
    def inbox(self) -> Path:
        return self.root / "inbox"

    @property
    def outbox(self) -> Path:
        return self.root / "outbox"

    def drop(self, source: Path, name: str | bytes | None = None) -> Path:
        """Copy `source` into the inbox as a finished file (renamed in, so never seen half-written)."""
        staging = self.root / "staging"
        staging.mkdir(exist_ok=True)
        name = name or source.name
        temporary = staging / "incoming"
        shutil.copyfile(source, temporary)
        self.goods[sha(temporary)] = os.fsdecode(name)
        target = os.path.join(os.fsencode(self.inbox), os.fsencode(name))
        os.replace(temporary, target)
        return Path(os.fsdecode(target))

    def run(self, *, when_logged: str | None = None, then=None, **env) -> str:
        """One run to its end (`watch`: until the inbox and work area stay empty). With
        `when_logged`, `then()` is called while the run goes on, once its log shows that text."""
        environment = {**self.env, **env}
        log_path = self.root / "runs.log"
        already = log_path.stat().st_size
        done, acted = threading.Event(), threading.Event()

        def act_when_logged() -> None:
            while not done.is_set():
                with log_path.open("rb") as log:
                    log.seek(already)
                    if when_logged.encode() in log.read():
                        then()
                        acted.set()
                        return
                time.sleep(0.2)

        helper = threading.Thread(target=act_when_logged, daemon=True) if when_logged else None
        if helper:
            helper.start()
        try:
            if self.mode == "batch":
                outcome = run_batch(self.root, environment, self.log, kill_delay=None)
            else:
                outcome = run_watch(self.root, environment, self.log, kill_delay=None, settle_s=3,
                                    busy_elsewhere=lambda: bool(helper) and not acted.is_set())
        finally:
            done.set()
        self.runs.append(outcome)
        return outcome


WATCHING = "Surveillance de / watching"  # `dictee watch` printed it: the observer is up


def clip(index: int = 0) -> Path:
    return sorted(FLEURS.glob("*.ogg"))[index]


def paused_write(space: Workspace) -> bool:
    """The writer holds the file open, writes half, pauses past the stability window, writes the
    rest. `batch` runs during the pause (it takes the half-written file); `watch` is up when the
    copy starts and must wait for the writer to close the file."""
    data = clip(1).read_bytes()
    target = space.inbox / "dock.ogg"
    space.goods[sha(clip(1))] = target.name

    def write_with_a_pause(during=lambda: time.sleep(PAUSE_S)):
        with target.open("wb") as writer:
            writer.write(data[: len(data) // 2])
            writer.flush()
            outcome = during()
            writer.write(data[len(data) // 2:])
        return outcome

    if space.mode == "batch":
        first = write_with_a_pause(during=space.run)  # the whole first run happens in the pause
        space.run()  # what it gave back to the inbox, whole by now
        return first.endswith(("exit 0", "exit 3"))
    return space.run(when_logged=WATCHING, then=write_with_a_pause).endswith("exit 0")


def paused_write_from_a_share(space: Workspace) -> bool:
    """The same pause, with the inbox on another filesystem than the outbox (a share, a dock):
    claiming copies the file, so the original is kept until the draft is published."""
    _mount_tmpfs(space.inbox, "50m")
    return paused_write(space)


def redrop_after_quarantine(space: Workspace) -> bool:
    space.drop(clip(2))
    space.run(DICTEE_MAX_DURATION_S="5")
    quarantined = len(list((space.outbox / "quarantine").glob("*/error.json")))
    space.drop(clip(2))  # the same recording, dropped again under the default limit
    space.run()
    return quarantined == 1


def non_utf8_name(space: Workspace) -> bool:
    space.drop(clip(3), f"latin1_élève_{DUMMY_NAME}.ogg".encode("cp1252"))
    return space.run().endswith("exit 0")


def _mount_tmpfs(folder: Path, size: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)], check=True)


def _remount(folder: Path, options: str) -> None:
    subprocess.run(["mount", "-o", f"remount,{options}", str(folder)], check=True)


def disk_full(space: Workspace) -> bool:
    """Three recordings, and an outbox with room for their audio but not for all three drafts:
    the disk fills mid-run. The run stops with a message, and a run after the disk has grown
    drafts the rest."""
    clips = [clip(index) for index in (4, 5, 6)]
    room_kb = (sum(path.stat().st_size for path in clips) + DRAFT_BYTES) // 1024
    _mount_tmpfs(space.outbox, f"{room_kb}k")
    for path in clips:
        space.drop(path)
    if space.mode == "watch":  # room comes back while the watcher runs: it resumes by itself
        return space.run(when_logged=": failed", then=lambda: _remount(space.outbox, "size=200m"),
                         DICTEE_RESCAN_SECONDS="2").endswith("exit 0")
    first = space.run()
    _remount(space.outbox, "size=200m")
    last = space.run()
    return not first.endswith("exit 0") and last.endswith("exit 0")


def read_only_outbox(space: Workspace) -> bool:
    _mount_tmpfs(space.outbox, "200m")
    _remount(space.outbox, "ro")
    space.drop(clip(7))
    first = space.run()
    _remount(space.outbox, "rw")
    last = space.run()
    return first.endswith("exit 2") and last.endswith("exit 0")


def corrupt_model(space: Workspace) -> bool:
    models = space.root / "models"
    shutil.copytree(REPO / "models" / "whisper-base", models / "whisper-base")
    damaged = models / "whisper-base" / "model.bin"
    with damaged.open("r+b") as handle:
        first = handle.read(1)
        handle.seek(0)
        handle.write(bytes([first[0] ^ 0xFF]))
    space.drop(clip(8))
    refused = space.run(DICTEE_MODELS_DIR=str(models))
    last = space.run()  # the bundled model, intact
    return refused.endswith("exit 2") and last.endswith("exit 0")


CASES = {
    "paused-write": paused_write,
    "paused-write-share": paused_write_from_a_share,
    "redrop-after-quarantine": redrop_after_quarantine,
    "non-utf8-name": non_utf8_name,
    "disk-full": disk_full,
    "read-only-outbox": read_only_outbox,
    "corrupt-model": corrupt_model,
}
NEEDS_ROOT = {"paused-write-share", "disk-full", "read-only-outbox"}


def run_case(name: str, mode: str) -> dict:
    root = Path(tempfile.mkdtemp(prefix=f"dictee-{name}-"))
    (root / "inbox").mkdir()
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("DICTEE_")},
           "DICTEE_MODELS_DIR": str(REPO / "models"), "DICTEE_LETTER_TEMPLATES": str(REPO / "letter_templates"),
           "DICTEE_STABLE_SECONDS": str(STABLE_S), "DICTEE_LOG_LEVEL": "INFO", "PREFECT_HOME": str(root / "prefect")}
    log_path = root / "runs.log"
    try:
        with log_path.open("w") as log:
            space = Workspace(root=root, mode=mode, env=env, log=log)
            ended_as_expected = CASES[name](space)
        figures = account(root, space.goods, {}, PLAIN)
        figures["leaks"] = leaks(root, log_path, encrypted=False, needles=(DUMMY_NAME.encode(), "élève".encode()))
        figures["ok"] = ended_as_expected and not (figures["lost"] or figures["duplicated"] or figures["leaks"]
                                                   or figures["leftovers"])
        figures["runs"] = space.runs
        return figures
    finally:
        for folder in ("outbox", "inbox"):
            if (root / folder).is_mount():
                subprocess.run(["umount", str(root / folder)], check=False)
        shutil.rmtree(root, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=("batch", "watch", "both"), default="both")
    parser.add_argument("--case", action="append", choices=sorted(CASES), help="default: every case")
    args = parser.parse_args()
    if not FLEURS.is_dir():
        print(f"needs the FLEURS clips at {FLEURS}")
        return 2
    modes = ("batch", "watch") if args.mode == "both" else (args.mode,)
    print("| case | mode | in | drafted | quarantined | lost | duplicated | leaked | runs |")
    print("|---|---|---|---|---|---|---|---|---|")
    all_ok = True
    for name in args.case or CASES:
        for mode in modes:
            if name in NEEDS_ROOT and os.geteuid() != 0:
                print(f"| {name} | {mode} | not run: mounting a tmpfs needs root |||||||")
                continue
            started = time.monotonic()
            figures = run_case(name, mode)
            all_ok &= figures["ok"]
            print(f"| {name} | {mode} | {figures['good_in']} | {figures['drafted']} | {figures['quarantined']} "
                  f"| {len(figures['lost'])} | {len(figures['duplicated'])} | {len(figures['leaks'])} "
                  f"| {'; '.join(figures['runs'])} |"
                  + ("" if figures["ok"] else f"  ← TARGET MISSED {figures['leftovers'][:3]} {figures['leaks']}")
                  + f"  ({time.monotonic() - started:.0f} s)", flush=True)
    print("RESULT: " + ("all targets met" if all_ok else "TARGET MISSED"))
    return 0 if all_ok else 1


if __name__ == "__main__":
    sys.exit(main())
