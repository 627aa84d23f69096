"""Kill -9 at random moments and a corpus of bad input: is anything lost, duplicated or leaked?

    python benchmarks/fault_injection.py [--mode batch|watch] [--kills 4] [--good 6] [--seed 1] [--encrypt]

`dictee batch` (or `--mode watch`) runs in its own process group (Prefect's server with it)
and is killed with SIGKILL `--kills` times, each a random moment after it has claimed a
dictation (so that every kill lands on work, and the script says how many did), while the
corpus arrives in waves; then it is left to finish, and a last run must find nothing to do. Prints: dictations in, drafted, quarantined, lost, duplicated, bad inputs
quarantined with a reason, leftovers, and whether a dictated dummy name leaked outside the
outbox (with `--encrypt`, anywhere at all: the outbox is sealed). Exits 1 when a target is missed (0 lost, 0 duplicated, 100 % bad input quarantined).
"""

from __future__ import annotations

import argparse
import atexit
import hashlib
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from benchmarks.leaks import files_naming  # noqa: E402
from pipeline.vault import PLAIN, Vault, create_key_file, load_vault  # noqa: E402

FLEURS = REPO.parent / "shared" / "eval" / "audio-fleurs-fr"
DUMMY_NAME = "Zebulon"  # a patient-like name put in a file name: must not leak outside the outbox
MAX_DURATION_S = 60


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def tone(path: Path, seconds: float, amplitude: float = 0.3, noise: bool = False) -> Path:
    from pipeline.audio import tone as generated, write_wav

    return write_wav(path, generated(seconds, amplitude=amplitude, noise=noise))


def build_corpus(inbox: Path, good: int) -> tuple[dict[str, str], dict[str, str]]:
    """Returns ({sha: name} of good audio, {sha: name} of bad input)."""
    clips = sorted(FLEURS.glob("*.ogg"))[:good]
    goods, bads = {}, {}
    for clip in clips:
        shutil.copyfile(clip, inbox / clip.name)
        goods[sha(clip)] = clip.name
    # The same audio dropped three times, once under a patient-like name and a hostile one.
    for name in (f"{DUMMY_NAME} Jean 12-03-1956.ogg", "-rf CON.ogg"):
        shutil.copyfile(clips[0], inbox / name)
    scratch = Path(tempfile.mkdtemp())
    ogg = clips[1].read_bytes()
    bad_files = {
        "empty.wav": b"",
        "header-only.wav": tone(scratch / "h.wav", 1.0).read_bytes()[:44],
        "random.wav": random.Random(3).randbytes(8192),
        "texte.wav": ("Ceci n'est pas un son. " * 200).encode(),
        "truncated.ogg": ogg[: len(ogg) // 2],
        "corrupted.ogg": ogg[: len(ogg) // 2] + random.Random(4).randbytes(4000) + ogg[len(ogg) // 2 + 4000:],
        "silence.wav": tone(scratch / "s.wav", 4.0, amplitude=0.0).read_bytes(),
        "noise.wav": tone(scratch / "n.wav", 6.0, noise=True).read_bytes(),
        "dictaphone.dss": b"\x02dss" + random.Random(5).randbytes(4000),
        "too-long.wav": tone(scratch / "l.wav", MAX_DURATION_S + 5).read_bytes(),
    }
    for name, data in bad_files.items():
        (inbox / name).write_bytes(data)
        bads[hashlib.sha256(data).hexdigest()] = name
    shutil.rmtree(scratch)
    old = time.time() - 120
    for path in inbox.iterdir():
        os.utime(path, (old, old))
    return goods, bads


def work_in_hand(workdir: Path) -> bool:
    """A dictation is claimed and not yet finished (its claim record is in the work area)."""
    return any((workdir / "outbox" / ".work").glob("*.claim.json"))


STARTED: list[subprocess.Popen] = []  # every run started, each in its own process group


def start(command: str, workdir: Path, env: dict, log) -> subprocess.Popen:
    process = subprocess.Popen(
        [sys.executable, "-c", "from pipeline.cli import main; main()", command, "inbox", "--outbox", "outbox"],
        cwd=workdir, env=env, stdout=log, stderr=log, start_new_session=True,
    )
    STARTED.append(process)
    return process


def stop_all() -> None:
    """Whatever this script started, its children (a Prefect server) included: never left
    running after the script, whether it ends, fails or is told to stop."""
    for process in STARTED:
        if process.poll() is None:
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            process.wait()


def stop_on_sigterm() -> None:
    def handle(signum, frame):
        stop_all()
        sys.exit(124)

    signal.signal(signal.SIGTERM, handle)
    atexit.register(stop_all)


def wait_or_kill(process: subprocess.Popen, timeout: float) -> None:
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def kill_in_flight(process: subprocess.Popen, workdir: Path, delay_s: float) -> str:
    """SIGKILL the run (its whole group: as a power cut would) `delay_s` after it has a dictation
    in hand, so that the kill lands on work rather than on a start-up or an idle loop."""
    deadline = time.time() + 300
    while not work_in_hand(workdir) and process.poll() is None and time.time() < deadline:
        time.sleep(0.1)
    time.sleep(delay_s)
    if process.poll() is not None:
        return f"exit {process.returncode} before the kill"
    landed = work_in_hand(workdir)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    return f"{'killed mid-dictation' if landed else 'killed idle'} ({delay_s:.1f} s after a claim)"


def run_batch(workdir: Path, env: dict, log, *, kill_delay: float | None) -> str:
    process = start("batch", workdir, env, log)
    if kill_delay is not None:
        return kill_in_flight(process, workdir, kill_delay)
    wait_or_kill(process, 1800)
    return f"exit {process.returncode}"


def run_watch(workdir: Path, env: dict, log, *, kill_delay: float | None, settle_s: float = 0,
              busy_elsewhere=lambda: False) -> str:
    """`dictee watch`, killed with SIGKILL `kill_delay` after it takes a dictation, or stopped
    with SIGTERM once the inbox and work area have stayed empty for `settle_s` (and
    `busy_elsewhere()`, e.g. a copy about to start, is false)."""
    process = start("watch", workdir, env, log)
    if kill_delay is not None:
        return "watch " + kill_in_flight(process, workdir, kill_delay)
    deadline, quiet_since = time.time() + 900, None
    while time.time() < deadline and process.poll() is None:
        waiting = [p for p in (workdir / "inbox").rglob("*") if p.is_file()]  # inbox/urgent/ may exist
        # Work is a claim in hand: a dead writer's partial file is not (the next run clears it).
        busy = bool(waiting) or work_in_hand(workdir) or busy_elsewhere()
        quiet_since = None if busy else (quiet_since or time.time())
        if quiet_since and time.time() - quiet_since > settle_s:
            break
        time.sleep(1)
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    wait_or_kill(process, 120)
    return f"watch exit {process.returncode}"


def account(workdir: Path, goods: dict, bads: dict, vault: Vault) -> dict:
    outbox = workdir / "outbox"
    drafted, quarantined = {}, {}
    for result in outbox.glob("*/result.json"):
        data = vault.read_json(result)
        drafted.setdefault(data["source"]["sha256"], []).append(result.parent.name)
    for error in (outbox / "quarantine").glob("*/error.json"):
        data = vault.read_json(error)
        reason = (error.parent / "raison.txt").read_text(encoding="utf-8")
        has_reason = "Refusé" in reason and "Rejected" in reason
        quarantined.setdefault(data["sha256"], []).append((data["code"], has_reason))
    everything = {**goods, **bads}
    lost = [name for digest, name in everything.items() if digest not in drafted and digest not in quarantined]
    duplicated = [everything.get(d, d) for d in set(drafted) | set(quarantined)
                  if len(drafted.get(d, [])) + len(quarantined.get(d, [])) > 1]
    bad_ok = [name for digest, name in bads.items() if any(ok for _, ok in quarantined.get(digest, []))]
    leftovers = [str(p.relative_to(workdir)) for p in outbox.rglob("*")
                 if p.name.endswith((".partial", ".staging", ".quarantine"))
                 or (p.parent == outbox / ".work" and p.name != ".lock")]  # the run lock stays by design
    leftovers += [str(p.relative_to(workdir)) for p in (workdir / "inbox").rglob("*") if p.is_file()]
    return {
        "in": len(everything), "good_in": len(goods), "bad_in": len(bads),
        "drafted": len(drafted), "quarantined": len(quarantined), "lost": lost, "duplicated": duplicated,
        "drafted_goods": [digest for digest in goods if digest in drafted],
        "bad_quarantined_with_reason": len(bad_ok), "leftovers": leftovers,
        "quarantine_codes": sorted(code for items in quarantined.values() for code, _ in items),
    }


def leaks(workdir: Path, log_path: Path, *, encrypted: bool, needles: tuple[bytes, ...] = (DUMMY_NAME.encode(),)) -> list[str]:
    """Files naming the dummy patient, in any readable form: logs and Prefect's home, and with
    encryption the whole outbox."""
    searched = [log_path, *(workdir / "prefect").rglob("*")] + (list((workdir / "outbox").rglob("*")) if encrypted else [])
    return [str(path.relative_to(workdir)) for path in files_naming(needles, searched)]


def extra_recordings(folder: Path, count: int) -> list[Path]:
    """`count` more distinct good recordings, each two FLEURS clips joined, so that every
    requested kill has a dictation in hand to land on."""
    from bench_pipeline import joined_set

    if count <= 0:
        return []
    joined_set(FLEURS, folder, per_recording=2, recordings=count, stride=3)
    for reference in folder.glob("*.txt"):
        reference.unlink()
    return sorted(folder.glob("*.wav"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=4)
    parser.add_argument("--good", type=int, default=6)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--mode", choices=("batch", "watch"), default="batch")
    parser.add_argument("--encrypt", action="store_true", help="encryption at rest on: the outbox must name no one either")
    parser.add_argument("--kill-delay", type=float, nargs=2, default=(0.5, 4.0), metavar=("MIN_S", "MAX_S"),
                        help="each kill lands this long after the run has claimed a dictation")
    args = parser.parse_args()
    stop_on_sigterm()
    if not FLEURS.is_dir():
        print(f"needs the FLEURS clips at {FLEURS}")
        return 2
    rng = random.Random(args.seed)
    workdir = Path(tempfile.mkdtemp(prefix="dictee-faults-"))
    (workdir / "inbox").mkdir()
    corpus = workdir / "corpus"
    corpus.mkdir()
    goods, bads = build_corpus(corpus, args.good)
    # Enough distinct dictations that each kill still finds one to interrupt (a kill may let
    # one finish, or two when it comes late).
    for path in extra_recordings(workdir / "joined", args.kills + 2 - len(goods)):
        goods[sha(path)] = path.name
        os.replace(path, corpus / path.name)
    # Drop the corpus in waves, one per run, so every killed run has work in hand.
    files = sorted(corpus.iterdir(), key=lambda p: rng.random())
    waves = [files[i::args.kills + 1] for i in range(args.kills + 1)]
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("DICTEE_")},
           "DICTEE_MODELS_DIR": str(REPO / "models"), "DICTEE_LETTER_TEMPLATES": str(REPO / "letter_templates"),
           "DICTEE_MAX_DURATION_S": str(MAX_DURATION_S), "DICTEE_LOG_LEVEL": "INFO",
           "PREFECT_HOME": str(workdir / "prefect")}
    vault = PLAIN
    if args.encrypt:
        key_file = workdir / "keys" / "dictee.key"
        create_key_file(key_file, guarded=[workdir / "inbox", workdir / "outbox"])
        env["DICTEE_ENCRYPTION_KEY_FILE"] = str(key_file)
        vault = load_vault(key_file, guarded=[])
    log_path = workdir / "runs.log"
    runs = []
    run = run_batch if args.mode == "batch" else run_watch
    env["DICTEE_STABLE_SECONDS"] = "1"
    pending = iter(waves)

    def drop_next_wave() -> None:
        for path in next(pending, []):
            os.replace(path, workdir / "inbox" / path.name)

    landed = 0
    with log_path.open("w") as log:
        # A kill that found nothing in hand (the run finished first) is tried again, up to a bound.
        for _ in range(3 * args.kills):
            if landed == args.kills:
                break
            drop_next_wave()
            runs.append(run(workdir, env, log, kill_delay=rng.uniform(*args.kill_delay)))
            landed += "killed mid-dictation" in runs[-1]
        for _ in waves:
            drop_next_wave()
        for _ in range(2):  # the second must find nothing left to do
            runs.append(run(workdir, env, log, kill_delay=None, **({"settle_s": 5} if args.mode == "watch" else {})))
    figures = account(workdir, goods, bads, vault)
    figures["leaks"] = leaks(workdir, log_path, encrypted=args.encrypt)
    print("runs: " + "; ".join(runs))
    print(f"kills landed           {landed}/{args.kills} (SIGKILL while a dictation was in hand)")
    print(f"dictations in          {figures['in']} ({figures['good_in']} distinct good audio + 2 re-drops, {figures['bad_in']} bad)")
    print(f"drafted                {figures['drafted']}")
    print(f"quarantined            {figures['quarantined']}  {figures['quarantine_codes']}")
    print(f"lost                   {len(figures['lost'])} {figures['lost'] or ''}")
    print(f"duplicated             {len(figures['duplicated'])} {figures['duplicated'] or ''}")
    print(f"bad input quarantined  {figures['bad_quarantined_with_reason']}/{figures['bad_in']} with a French+English reason")
    print(f"leftover files         {len(figures['leftovers'])} {figures['leftovers'][:5] or ''}")
    where = "nowhere, outbox included (encrypted)" if args.encrypt else "nowhere outside the outbox"
    print(f"dummy name leaked to   {figures['leaks'] or where}")
    ok = (not figures["lost"] and not figures["duplicated"] and not figures["leftovers"] and not figures["leaks"]
          and figures["bad_quarantined_with_reason"] == figures["bad_in"] and landed == args.kills
          and all(run.endswith("exit 0") for run in runs[-2:]))
    print("RESULT: " + ("all targets met" if ok else "TARGET MISSED") + f"  (workspace {workdir})")
    if ok:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
