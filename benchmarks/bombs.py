"""Peak memory of refusing each hostile file, against decoding one real recording, in one run.

    python benchmarks/bombs.py [--runs 3]

Each file is handed to the stage that meets it (audio.decode, or typed.read_typed for notes) in
a fresh process; the figure is that process's peak resident memory (VmHWM) above what the same
process held just before (numpy, PyAV and the pipeline imported). The baseline is a real
FLEURS clip decoded the same way. Medians of --runs runs. The bound we hold: 100 MB above the
process whatever the file (a one-hour dictation itself decodes to 230 MB of samples).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.test_hostile_media import docx_bomb, flac_bomb, sparse_wav  # noqa: E402

BOUND_MB = 100
MEASURE = r"""
import json, sys
from pathlib import Path

def hwm():
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
from pipeline import audio, typed
from pipeline.errors import BadInput
path, kind = Path(sys.argv[1]), sys.argv[2]
before = hwm()
try:
    if kind == "notes":
        typed.read_typed(path.read_bytes(), path.suffix)
    else:
        audio.decode(path, min_duration_s=0.5, max_duration_s=3600.0)
    outcome = "decoded"
except BadInput as error:
    outcome = error.code
print(json.dumps({"outcome": outcome, "peak_mb": hwm() - before}))
"""


def files(folder: Path) -> dict[str, tuple[Path, str]]:
    fleurs = sorted((REPO.parent / "shared" / "eval" / "audio-fleurs-fr").glob("*.ogg")) or \
        sorted((REPO / "samples").glob("*.ogg"))
    flac_bomb(folder / "claims-1s.flac", seconds=1200, states_seconds=1.0)
    flac_bomb(folder / "length-unknown.flac", seconds=3600, states_seconds=None)
    docx_bomb(folder / "notes.docx", xml_bytes=1024 * 1024 * 1024)
    sparse_wav(folder / "sparse-2GiB.wav", 2 * 1024 ** 3 + 4096)
    playlist = folder / "live.m3u8"
    playlist.write_text(f"#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2.0,\n{fleurs[0]}\n")
    return {
        "baseline: real clip (FLEURS)": (fleurs[0], "audio"),
        "FLAC, 20 min, claims 1 s": (folder / "claims-1s.flac", "audio"),
        "FLAC, 1 h, length unknown": (folder / "length-unknown.flac", "audio"),
        ".docx, 1 GB of XML": (folder / "notes.docx", "notes"),
        "WAV, 2 GiB (sparse)": (folder / "sparse-2GiB.wav", "audio"),
        "live HLS playlist": (playlist, "audio"),
    }


def measure(path: Path, kind: str) -> dict:
    done = subprocess.run([sys.executable, "-c", MEASURE, str(path), kind], capture_output=True, text=True,
                          cwd=REPO, timeout=600)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        cases = files(Path(scratch))
        print("| file | size | outcome | peak memory above the process (median) |")
        print("|---|---|---|---|")
        worst = 0.0
        for name, (path, kind) in cases.items():
            runs = [measure(path, kind) for _ in range(args.runs)]
            peak = statistics.median(run["peak_mb"] for run in runs)
            size = path.stat().st_size
            shown = f"{size / 1024 ** 3:.1f} GiB" if size > 1024 ** 3 else f"{size / 1024:.0f} KB"
            print(f"| {name} | {shown} | {runs[0]['outcome']} | {peak:.0f} MB |", flush=True)
            if not name.startswith("baseline"):
                worst = max(worst, peak)
    print(f"RESULT: worst hostile file {worst:.0f} MB, bound {BOUND_MB} MB: " + ("held" if worst <= BOUND_MB else "MISSED"))
    return 0 if worst <= BOUND_MB else 1


if __name__ == "__main__":
    sys.exit(main())
