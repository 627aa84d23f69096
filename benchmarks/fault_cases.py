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
- corrupt-model: one byte of the model's header damaged, then the model repaired;
- playlist: an HLS playlist in another practitioner's folder naming a drafted recording's audio;
- live-playlist: a playlist with no end (the HLS demuxer would wait for ever);
- huge-file: 2 GiB of WAV (a sparse file), encryption at rest on;
- bombs: FLAC claiming 1 s that decodes to 20 min, and a .docx of 300 MB of XML;
- kill-in-claim-write: a run SIGKILLed while writing a claim record (its partial file left);
- kill-in-transition: the desk killed inside a transition, then the draft submitted;
- kill-in-export: an export killed while LibreOffice converts, then exported again.
Hostile files must end quarantined with a reason, everything else drafted once.
The three mount cases need root (a tmpfs); without it they are reported as not run.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from fault_injection import (  # noqa: E402
    DUMMY_NAME, FLEURS, REPO, account, leaks, run_batch, run_watch, sha, stop_on_sigterm,
)

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
    bads: dict = field(default_factory=dict)  # sha -> name: must end quarantined, with a reason
    runs: list = field(default_factory=list)
    vault: object = PLAIN

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

    def drop_bad(self, name: str, data: bytes | None = None, *, sparse_size: int = 0) -> Path:
        """Hostile input: `data`, or a WAV header then a hole of `sparse_size` bytes."""
        temporary = self.root / "staging" / "incoming"
        temporary.parent.mkdir(exist_ok=True)
        with temporary.open("wb") as handle:
            handle.write(data or b"")
            if sparse_size:
                handle.truncate(sparse_size)
        self.bads[sha(temporary)] = name
        target = self.inbox / name
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(temporary, target)
        return target

    def encrypt(self) -> None:
        from pipeline.vault import create_key_file, load_vault

        key = self.root / "keys" / "dictee.key"
        create_key_file(key, guarded=[])
        self.env["DICTEE_ENCRYPTION_KEY_FILE"] = str(key)
        self.vault = load_vault(key, guarded=[])

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


SPARSE_WAV_HEADER = (b"RIFF\xff\xff\xff\xffWAVEfmt \x10\x00\x00\x00\x01\x00\x01\x00\x80>\x00\x00"
                     b"\x00}\x00\x00\x02\x00\x10\x00data\xff\xff\xff\xff")


def playlist(space: Workspace) -> bool:
    """Practitioner A's recording is drafted; a playlist dropped in B's folder names its audio."""
    space.env["DICTEE_PRACTITIONERS"] = '{"b": {"name": "Dr B"}}'
    space.drop(clip(0))
    first = space.run()
    [audio] = list(space.outbox.glob("*/audio.ogg"))
    space.drop_bad("b/liste.m3u8", f"#EXTM3U\n#EXT-X-TARGETDURATION:30\n#EXTINF:30.0,\n{audio}\n#EXT-X-ENDLIST\n".encode())
    return first.endswith("exit 0") and space.run().endswith("exit 0")


def live_playlist(space: Workspace) -> bool:
    space.drop(clip(1))
    space.drop_bad("direct.m3u8", f"#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2.0,\n{clip(2)}\n".encode())
    return space.run().endswith("exit 0")  # ends: nothing waits on the playlist


def huge_file(space: Workspace) -> bool:
    space.encrypt()
    space.drop(clip(3))
    space.drop_bad("enorme.wav", SPARSE_WAV_HEADER, sparse_size=2 * 1024 ** 3 + 4096)
    return space.run().endswith("exit 0")


def bombs(space: Workspace) -> bool:
    sys.path.insert(0, str(REPO))
    from tests.test_hostile_media import docx_bomb, flac_bomb

    scratch = space.root / "scratch"
    scratch.mkdir()
    flac_bomb(scratch / "b.flac", seconds=1200, states_seconds=1.0)
    space.drop_bad("bombe.flac", (scratch / "b.flac").read_bytes())
    space.drop_bad("bombe.docx", docx_bomb(scratch / "b.docx", xml_bytes=300 * 1024 * 1024))
    space.drop(clip(4))
    return space.run().endswith("exit 0")


def kill_in_claim_write(space: Workspace) -> bool:
    """What a SIGKILL while a claim record is written leaves: its partial file, named by the dead
    writer. The next run clears it and counts it as no work."""
    space.drop(clip(5))
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    work = space.outbox / ".work"
    work.mkdir(parents=True)
    (work / f"0123456789abcdef.claim.json.{gone.stdout.strip()}-1.partial").write_text('{"original_name": "x')
    return space.run().endswith("exit 0")


def _killed_inside(code: str, inside, env: dict) -> None:
    """Run `code`, and SIGKILL it once `inside()` says it is where the kill must land."""
    process = subprocess.Popen([sys.executable, "-c", code], cwd=REPO, env=env, start_new_session=True)
    deadline = time.monotonic() + 120
    while not inside() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)  # LibreOffice with it, as a power cut would
    process.wait()


def kill_in_transition(space: Workspace) -> bool:
    """The desk killed between taking a draft's step and writing its new state; started again,
    the secretary submits it."""
    space.drop(clip(6))
    first = space.run()
    [folder] = [p.parent for p in space.outbox.glob("*/state.json") if p.parent.parent == space.outbox]
    ready = space.root / "inside"
    _killed_inside(f"""
import time
from pathlib import Path
from pipeline.store import Outbox
outbox = Outbox(Path({str(space.outbox)!r}))
with outbox.transition(Path({str(folder)!r}), expected=frozenset({{"pending_review"}})):
    Path({str(ready)!r}).touch()
    time.sleep(600)
""", ready.exists, space.env)
    submitted = subprocess.run([sys.executable, "-c", f"""
from pathlib import Path
from pipeline.review.app import create_app
from pipeline.settings import Settings
app = create_app(Settings(outbox=Path({str(space.outbox)!r}), inbox=Path({str(space.inbox)!r})))
outbox = app.state.outbox
with outbox.transition(Path({str(folder)!r}), expected=frozenset({{"pending_review"}})):
    outbox.set_state(Path({str(folder)!r}), "to_sign", "sophie")
"""], cwd=REPO, env=space.env, capture_output=True, text=True, timeout=300)
    return first.endswith("exit 0") and submitted.returncode == 0


def kill_in_export(space: Workspace) -> bool:
    """An export killed while LibreOffice converts: no clear copy outside the outbox, its
    scratch cleared at the next start, and `dictee export` does it."""
    space.drop(clip(7))
    first = space.run()
    [folder] = [p.parent for p in space.outbox.glob("*/state.json") if p.parent.parent == space.outbox]
    export_dir = space.root / "export"
    env = {**space.env, "DICTEE_EXPORT_DIR": str(export_dir)}
    before = set(Path("/tmp").glob("dictee-export-*"))
    _killed_inside(f"""
from pathlib import Path
from pipeline.export import export_filed
from pipeline.filing import file_job
from pipeline.settings import Settings
settings = Settings(outbox=Path({str(space.outbox)!r}), export_dir=Path({str(export_dir)!r}))
outbox = settings.store()
file_job(outbox, {folder.name!r}, username="dr")
export_filed({folder.name!r}, settings, outbox)
""", lambda: bool(list(space.outbox.glob(".work/.export-*/letter.docx"))), env)  # mid-conversion
    again = subprocess.run([sys.executable, "-m", "pipeline.cli", "export", folder.name], cwd=space.root, env=env,
                           capture_output=True, text=True, timeout=600)
    clean = set(Path("/tmp").glob("dictee-export-*")) == before and not list(space.outbox.glob(".work/.export-*"))
    exported = (export_dir / folder.name / "letter.pdf").exists() or "LibreOffice" in again.stderr
    return first.endswith("exit 0") and clean and exported


CASES = {
    "paused-write": paused_write,
    "paused-write-share": paused_write_from_a_share,
    "redrop-after-quarantine": redrop_after_quarantine,
    "non-utf8-name": non_utf8_name,
    "disk-full": disk_full,
    "read-only-outbox": read_only_outbox,
    "corrupt-model": corrupt_model,
    "playlist": playlist,
    "live-playlist": live_playlist,
    "huge-file": huge_file,
    "bombs": bombs,
    "kill-in-claim-write": kill_in_claim_write,
    "kill-in-transition": kill_in_transition,
    "kill-in-export": kill_in_export,
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
        figures = account(root, space.goods, space.bads, space.vault)
        figures["leaks"] = leaks(root, log_path, encrypted=False, needles=(DUMMY_NAME.encode(), "élève".encode()))
        every_good_drafted = len(figures["drafted_goods"]) == len(space.goods)
        figures["ok"] = ended_as_expected and every_good_drafted and not (
            figures["lost"] or figures["duplicated"] or figures["leaks"] or figures["leftovers"]) \
            and figures["bad_quarantined_with_reason"] == len(space.bads)
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
    stop_on_sigterm()
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
            print(f"| {name} | {mode} | {figures['in']} | {figures['drafted']} | {figures['quarantined']} "
                  f"| {len(figures['lost'])} | {len(figures['duplicated'])} | {len(figures['leaks'])} "
                  f"| {'; '.join(figures['runs'])} |"
                  + ("" if figures["ok"] else f"  ← TARGET MISSED {figures['leftovers'][:3]} {figures['leaks']}")
                  + f"  ({time.monotonic() - started:.0f} s)", flush=True)
    print("RESULT: " + ("all targets met" if all_ok else "TARGET MISSED"))
    return 0 if all_ok else 1


if __name__ == "__main__":
    sys.exit(main())
