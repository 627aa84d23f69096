"""Extraction quality on the shared dev set and on our held-out set (written after tuning, never tuned to).

    python benchmarks/eval_extraction.py [--eval-dir ../shared/eval]

Prints identity, document-type and recipient accuracy, drug precision/recall/F1 and negation
recall on dictations_dev.json, normalisation exact-match where a reference exists, and
per-label F1 for names and birth dates on the eds-pseudo snippets, and the cold start of
`dictee extract` (median of 3 fresh processes) against the same command with spaCy's French
tokenizer rules compiled at import as stock spaCy does.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from pipeline.extract import extract, warm_up  # noqa: E402
from pipeline.extract.persons import find_persons  # noqa: E402
from pipeline.normalize import normalize_text  # noqa: E402

IDENTITY_FIELDS = ("sex", "last_name", "first_name", "birth_date", "nir")
RECIPIENT_FIELDS = ("title", "last_name", "first_name", "specialty")
PSEUDO_LABELS = ("NOM", "PRENOM", "DATE_NAISSANCE")


def fold(text: str | None) -> str | None:
    return text.casefold().strip() if isinstance(text, str) else text


def evaluate_dictations(path: Path) -> dict:
    dictations = json.loads(path.read_text(encoding="utf-8"))
    counts = Counter()
    misses: list[str] = []
    latencies = []
    for item in dictations:
        expected = item["expected"]
        normalized = normalize_text(item["spoken"])
        started = time.perf_counter()
        got = extract(normalized)
        latencies.append(time.perf_counter() - started)

        identity_ok = all(
            fold(getattr(got.patient, field)) == fold(expected["patient"][field])
            for field in IDENTITY_FIELDS if field in expected["patient"]
        )
        counts["identity"] += identity_ok
        if not identity_ok:
            misses.append(f"{item['id']} identity: {got.patient}")
        counts["document_type"] += got.document_type == expected["document_type"]
        if got.document_type != expected["document_type"]:
            misses.append(f"{item['id']} document_type: {got.document_type}")

        want = expected["recipient"]
        have = got.recipient if got.recipient and got.recipient.last_name else None
        recipient_ok = (want is None and have is None) or (
            want is not None and have is not None
            and all(fold(getattr(have, f)) == fold(want[f]) for f in RECIPIENT_FIELDS if f in want)
        )
        counts["recipient"] += recipient_ok
        if not recipient_ok:
            misses.append(f"{item['id']} recipient: {have}")

        found = {fold(d.name) for d in got.drugs}
        wanted = {fold(name) for name in expected["drugs"]}
        counts["drug_tp"] += len(found & wanted)
        counts["drug_fp"] += len(found - wanted)
        counts["drug_fn"] += len(wanted - found)
        if found != wanted:
            misses.append(f"{item['id']} drugs: +{sorted(found - wanted)} -{sorted(wanted - found)}")

        negated = {fold(c.text) for c in got.conditions if c.negated}
        for phrase in expected["negated"]:
            counts["negation_total"] += 1
            hit = fold(phrase) in negated
            counts["negation_hit"] += hit
            if not hit:
                misses.append(f"{item['id']} negation missed: {phrase}")
        if "normalized" in item:
            counts["normalized_total"] += 1
            counts["normalized_exact"] += got.body == item["normalized"]
            if got.body != item["normalized"]:
                misses.append(f"{item['id']} normalization differs")
    n = len(dictations)
    precision = counts["drug_tp"] / max(counts["drug_tp"] + counts["drug_fp"], 1)
    recall = counts["drug_tp"] / max(counts["drug_tp"] + counts["drug_fn"], 1)
    return {
        "dictations": n,
        "identity_accuracy": counts["identity"] / n,
        "document_type_accuracy": counts["document_type"] / n,
        "recipient_accuracy": counts["recipient"] / n,
        "drug_precision": precision,
        "drug_recall": recall,
        "drug_f1": 2 * precision * recall / max(precision + recall, 1e-9),
        "negation_recall": counts["negation_hit"] / max(counts["negation_total"], 1),
        "normalization_exact": f"{counts['normalized_exact']}/{counts['normalized_total']}",
        "warm_extract_ms_max": 1000 * max(latencies),
        "misses": misses,
    }


def evaluate_pseudo(path: Path) -> dict:
    tp, fp, fn = Counter(), Counter(), Counter()
    for line in path.read_text(encoding="utf-8").splitlines():
        item = json.loads(line)
        gold = {(e["label"], e["start"], e["end"]) for e in item["entities"] if e["label"] in PSEUDO_LABELS}
        found = {(s.label, s.start, s.end) for s in find_persons(item["text"])}
        for label in PSEUDO_LABELS:
            g = {x for x in gold if x[0] == label}
            f = {x for x in found if x[0] == label}
            tp[label] += len(g & f)
            fp[label] += len(f - g)
            fn[label] += len(g - f)
    scores = {}
    for label in PSEUDO_LABELS:
        precision = tp[label] / max(tp[label] + fp[label], 1)
        recall = tp[label] / max(tp[label] + fn[label], 1)
        scores[label] = {"precision": precision, "recall": recall,
                         "f1": 2 * precision * recall / max(precision + recall, 1e-9), "gold": tp[label] + fn[label]}
    return scores


COLD_START_RUNS = 3
STOCK_SPACY_CLI = "import spacy.lang.fr, sys; from pipeline.cli import main; sys.argv[0] = 'dictee'; main()"


def cold_start_s(command: list[str], text: str) -> float:
    """Median wall time of fresh `dictee extract` processes, imports and model loading included."""
    times = []
    for _ in range(COLD_START_RUNS):
        started = time.perf_counter()
        subprocess.run(command + ["extract", "-"], input=text, capture_output=True, text=True, check=True, cwd=REPO)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--eval-dir", type=Path, default=REPO.parent / "shared" / "eval")
    parser.add_argument("--dictations", type=Path, action="append",
                        help="dictation sets to score (default: the shared dev set and our held-out set)")
    parser.add_argument("--show-misses", action="store_true")
    args = parser.parse_args()
    sample = json.loads((args.eval_dir / "dictations_dev.json").read_text(encoding="utf-8"))[0]["spoken"]
    ours = cold_start_s([sys.executable, "-m", "pipeline.cli"], sample)
    stock = cold_start_s([sys.executable, "-c", STOCK_SPACY_CLI], sample)
    print(f"dictee extract cold start   {ours:.2f} s (stock spaCy import: {stock:.2f} s, ratio {stock / ours:.2f})\n")
    warm_up()
    sets = args.dictations or [args.eval_dir / "dictations_dev.json", REPO / "benchmarks" / "data" / "dictations_heldout.json"]
    for path in sets:
        scores = evaluate_dictations(path)
        misses = scores.pop("misses")
        print(path.name)
        for key, value in scores.items():
            print(f"  {key:26} {value:.3f}" if isinstance(value, float) else f"  {key:26} {value}")
        if args.show_misses:
            print("\n".join("  - " + miss for miss in misses) or "  (no misses)")
    print("\neds-pseudo (exact span match)")
    for label, score in evaluate_pseudo(args.eval_dir / "eds-pseudo" / "eds_pseudo_templates.jsonl").items():
        print(f"  {label:15} P {score['precision']:.3f}  R {score['recall']:.3f}  F1 {score['f1']:.3f}  (gold {score['gold']})")


if __name__ == "__main__":
    main()
