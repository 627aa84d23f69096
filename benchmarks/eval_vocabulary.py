"""The medical vocabulary in one run: repair, biasing, conditions, drugs, start-up and memory.

    python benchmarks/eval_vocabulary.py [--speech] [--repeat N]

Text (always):
- repair precision and recall on our misheard → intended pairs (benchmarks/data), false
  repairs on the intended sentences and on the FLEURS reference texts;
- conditions recall and precision on the shared dev set and on our clinical-phrasing set,
  with negation / family agreement; drug recall on the shared dictations and on drugs the
  2018 list lacked;
- cold start of `dictee extract` (median of 3 fresh processes), the lexicon + repairer load
  time, peak memory with and without them.
Speech (--speech): FLEURS clips and minute-long recordings made from them, through Dictée's
recognition and understanding stages with biasing (hotwords) + repair and without, in one
process, alternating, median of --repeat runs: WER, wall time, repairs made (each a false one
on general French).
Medical speech (--medical-speech N): N synthetic French medical dictations read by MBROLA voices
(benchmarks/medical_speech.py), repair off and on: WER and medical-term recall.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
SHARED_EVAL = REPO.parent / "shared" / "eval"
FLEURS = SHARED_EVAL / "audio-fleurs-fr"
DATA = REPO / "benchmarks" / "data"
NEW_DRUGS = ("dapagliflozine", "empagliflozine", "semaglutide", "dulaglutide", "sacubitril", "edoxaban",
             "Jardiance", "Ozempic", "Entresto", "Trulicity")


def words_of(text: str):
    from pipeline.records import Word

    return [Word(i * 0.5, i * 0.5 + 0.4, " " + token, 0.9) for i, token in enumerate(text.split())]


def repair_figures() -> dict:
    from pipeline.french import fold
    from pipeline.vocabulary.repair import get_repairer

    repairer = get_repairer(None, None)
    pairs = json.loads((DATA / "repair_pairs_dev.json").read_text(encoding="utf-8"))
    made = right = wanted = found = false_on_intended = 0
    for pair in pairs:
        out, flags = repairer.repair(words_of(pair["heard"]))
        repaired, intended = fold("".join(w.word for w in out)), fold(pair["intended"])
        outputs = [fold(flag.text.split("→ « ", 1)[1].rstrip(" »")) for flag in flags]
        made, right = made + len(outputs), right + sum(output in intended for output in outputs)
        wanted, found = wanted + len(pair["terms"]), found + sum(fold(term) in repaired for term in pair["terms"])
        false_on_intended += len(repairer.repair(words_of(pair["intended"]))[1])
    fleurs = sum(len(repairer.repair(words_of(path.read_text(encoding="utf-8")))[1]) for path in FLEURS.glob("*.txt"))
    return {"pairs": len(pairs), "repair_precision": right / max(made, 1), "repair_recall": found / max(wanted, 1),
            "false_repairs_on_intended": false_on_intended, "false_repairs_on_fleurs_references": fleurs}


def condition_figures(path: Path) -> dict:
    from pipeline.extract.medical import extract_conditions

    tp = fp = fn = qualified = 0
    for item in json.loads(path.read_text(encoding="utf-8")):
        got = [c for c in extract_conditions(item["text"]) if c.cim10]
        for want in item["conditions"]:
            accepted = {want["code3"], *want.get("alt", [])}
            hit = next((c for c in got if c.cim10[:3] in accepted), None)
            if hit is None:
                fn += 1
                continue
            got.remove(hit)
            tp += 1
            qualified += (hit.negated, hit.family) == (want.get("negated", False), want.get("family", False))
        fp += len(got)
    return {"conditions": tp + fn, "recall": tp / max(tp + fn, 1), "precision": tp / max(tp + fp, 1),
            "qualifiers_agree": qualified / max(tp, 1)}


def drug_figures() -> dict:
    from pipeline.extract import extract
    from pipeline.extract.medical import extract_drugs
    from pipeline.french import fold
    from pipeline.normalize import normalize_text

    found = wanted = 0
    for item in json.loads((SHARED_EVAL / "dictations_dev.json").read_text(encoding="utf-8")):
        names = {fold(d.name) for d in extract(normalize_text(item["spoken"])).drugs}
        wanted += len(item["expected"]["drugs"])
        found += sum(fold(name) in names for name in item["expected"]["drugs"])
    new = sum(bool(extract_drugs(f"Je prescris {name} 10 mg par jour.")) for name in NEW_DRUGS)
    return {"dev_drug_recall": found / max(wanted, 1), "new_drugs_found": f"{new}/{len(NEW_DRUGS)}"}


def cold_start_s() -> float:
    times = []
    for _ in range(3):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "pipeline.cli", "extract", "-"], input="Patient hypertendu sous Ozempic.",
                       capture_output=True, text=True, check=True, cwd=tempfile.gettempdir())
        times.append(time.perf_counter() - started)
    return statistics.median(times)


LOAD_PROBE = """
import resource, sys, time
sys.path.insert(0, {repo!r})
from pipeline.settings import Settings
from pipeline.transcribe import TranscriberConfig, get_transcriber
settings = Settings(models_dir={models!r})
started = time.perf_counter()
get_transcriber(TranscriberConfig.from_settings(settings))
from pipeline.extract.medical import qualifier_pipeline
qualifier_pipeline()
if {with_lexicon}:
    from pipeline.job import repairer_for
    from pipeline.lexicon import warm_up
    warm_up(settings.models_dir)
    repairer_for(settings)
print(time.perf_counter() - started, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
"""


def load_figures() -> dict:
    def probe(with_lexicon: bool) -> tuple[float, float]:
        code = LOAD_PROBE.format(repo=str(REPO), models=str(REPO / "models"), with_lexicon=with_lexicon)
        runs = [subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
                for _ in range(3)]
        return statistics.median(float(r[0]) for r in runs), statistics.median(float(r[1]) for r in runs)

    bare_s, bare_mb = probe(False)
    full_s, full_mb = probe(True)
    return {"model_nlp_load_s": bare_s, "with_lexicon_repair_load_s": full_s, "lexicon_cost_s": full_s - bare_s,
            "peak_mb_without": bare_mb, "peak_mb_with": full_mb}


def understood_clip(path: Path, samples, settings):
    """One recording through Dictée's recognition and understanding stages, as in production."""
    from pipeline.job import transcribe_step, understand_step
    from pipeline.records import Dictation

    dictation = Dictation(job_id=path.stem, path=path, original_name=path.name, sha256="", duration_s=0.0,
                          received_at="")
    return understand_step(transcribe_step(dictation, samples, settings), settings)


def speech_figures(repeat: int) -> dict:
    from faster_whisper.audio import decode_audio

    from benchmarks.bench_pipeline import JOINED_SETS, audio_files, joined_set
    from pipeline.evaluation import corpus_wer
    from pipeline.job import load_models
    from pipeline.settings import Settings

    base = Settings(models_dir=REPO / "models", workers=1, vocabulary_redecode=False)  # repair alone
    plain = base.model_copy(update={"vocabulary_hotwords": False, "vocabulary_repair": False})
    again = base.model_copy(update={"vocabulary_redecode": True})
    load_models(base)
    load_models(plain)
    sets = {"clips": FLEURS, "minute-long": joined_set(FLEURS, Path(tempfile.mkdtemp()) / "joined",
                                                        **JOINED_SETS["dictations"])}
    figures = {}
    for name, folder in sets.items():
        files = audio_files(folder)
        audio = {path: decode_audio(str(path), sampling_rate=16_000) for path in files}
        runs: dict[str, list] = {"without": [], "with": [], "redecode": []}
        for _ in range(repeat):
            for mode, settings in (("without", plain), ("with", base), ("redecode", again)):
                started = time.perf_counter()
                pairs, repairs = [], 0
                for path in files:
                    understood = understood_clip(path, audio[path], settings)
                    repairs += sum(flag.kind == "vocabulary_correction" for flag in understood.flags)
                    pairs.append((path.with_suffix(".txt").read_text(encoding="utf-8"), understood.normalized.text))
                runs[mode].append((time.perf_counter() - started, corpus_wer(pairs), repairs))
        without, with_, redecoded = (statistics.median(r[0] for r in runs[m]) for m in ("without", "with", "redecode"))
        figures[name] = {
            "files": len(files), "wer_without": runs["without"][0][1], "wer_with": runs["with"][0][1],
            "time_without_s": without, "time_with_s": with_, "time_ratio": with_ / without,
            "repairs_with": runs["with"][0][2],
            "wer_redecode": runs["redecode"][0][1], "time_redecode_s": redecoded,
            "redecode_time_ratio": redecoded / with_, "changes_redecode": runs["redecode"][0][2],
        }
    return figures


def medical_speech_figures(count: int) -> dict:
    """Synthetic medical dictations (benchmarks/medical_speech.py, MBROLA voices) through recognition
    and understanding, repair off then on: WER against the typed letter, medical-term recall."""
    sys.path.insert(0, str(REPO / "benchmarks"))
    import medical_speech as speech
    from faster_whisper.audio import decode_audio

    from pipeline.adapt.gate import term_recall, term_vocabulary
    from pipeline.evaluation import corpus_wer
    from pipeline.job import load_models
    from pipeline.settings import Settings

    if why := speech.have_voices():
        return {"skipped": why}
    seen, unseen = speech.term_pools()
    pools = {kind: seen[kind] + unseen[kind] for kind in seen}
    folder = Path(tempfile.mkdtemp()) / "medical"
    dictations, _ = speech.dictations(pools, count, voices=speech.TEST_VOICES, seed=11, prefix="med")
    clips = [(decode_audio(str(speech.synthesize(d, folder)), sampling_rate=16_000), d.text) for d in dictations]
    on = Settings(models_dir=REPO / "models", workers=1, vocabulary_redecode=False)  # repair alone
    off = on.model_copy(update={"vocabulary_repair": False})
    again = on.model_copy(update={"vocabulary_redecode": True})
    load_models(on)
    vocabulary = term_vocabulary(REPO / "models")
    figures = {}
    for mode, settings in (("repair_off", off), ("repair_on", on), ("repair_and_redecode", again)):
        pairs, started = [], time.perf_counter()
        for index, (samples, text) in enumerate(clips):
            understood = understood_clip(folder / f"{index:03d}.wav", samples, settings)
            pairs.append((text, understood.normalized.text))
        recall, terms = term_recall(pairs, vocabulary)
        figures[mode] = {"wer": corpus_wer(pairs), "term_recall": recall, "terms": terms, "dictations": len(pairs),
                         "time_s": time.perf_counter() - started}
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--speech", action="store_true", help="also run Whisper on FLEURS (a few minutes)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--medical-speech", type=int, default=0, metavar="N",
                        help="also N synthetic medical dictations (espeak-ng + MBROLA voices)")
    args = parser.parse_args()
    report = {
        "repair": repair_figures(),
        "conditions_shared_dev": condition_figures(SHARED_EVAL / "conditions_dev.json"),
        "conditions_our_phrasing": condition_figures(DATA / "conditions_phrasing_dev.json"),
        "drugs": drug_figures(),
        "cold_start_extract_s": cold_start_s(),
        "load": load_figures(),
    }
    if args.speech:
        report["speech"] = speech_figures(args.repeat)
    if args.medical_speech:
        report["medical_speech"] = medical_speech_figures(args.medical_speech)
    for section, figures in report.items():
        print(section)
        items = figures.items() if isinstance(figures, dict) else [("", figures)]
        for key, value in items:
            if isinstance(value, dict):
                print(f"  {key}: " + ", ".join(f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}" for k, v in value.items()))
            else:
                print(f"  {key:36} {value:.3f}" if isinstance(value, float) else f"  {key:36} {value}")


if __name__ == "__main__":
    main()
