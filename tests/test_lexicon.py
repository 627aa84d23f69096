"""The medical lexicon: how terms match, what clinicians' wording finds, drugs from the BDPM."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.lexicon import condition_lexicon, drug_lexicon
from pipeline.lexicon.bdpm import BdpmError, brand_name, load_bdpm, read_index, substance_inn
from pipeline.lexicon.conditions import read_wordings
from pipeline.lexicon.matcher import TermIndex, term_key
from tests.conftest import REPO, SHARED_EVAL, require

BDPM = REPO.parent / "shared" / "data" / "bdpm"


def codes(text: str) -> list[str]:
    return [match.entry.code[:3] for match in condition_lexicon().find(text)]


def test_terms_meet_across_case_accents_plurals_and_small_words():
    index = TermIndex()
    index.add("polype colique", "K635")
    index.add("maladie inflammatoire chronique de l'intestin", "K509")
    assert [m.entry.code for m in index.find("Polypes coliques multiples.")] == ["K635"]
    assert [m.entry.code for m in index.find("POLYPE COLIQUE")] == ["K635"]
    assert [m.entry.code for m in index.find("une maladie inflammatoire chronique intestin")] == ["K509"]


def test_an_abbreviation_matches_only_in_capitals():
    index = TermIndex()
    index.add("FA", "I48")
    assert index.find("ACFA connue. FA permanente.")[0].entry.code == "I48"
    assert index.find("la note fa dièse") == []


def test_a_term_never_runs_across_a_sentence_end():
    index = TermIndex()
    index.add("insuffisance cardiaque", "I50")
    assert index.find("Insuffisance. Cardiaque sans particularité.") == []


@pytest.mark.parametrize("text, code", [
    ("Hypertension artérielle.", "I10"), ("HTA ancienne.", "I10"), ("Patient hypertendu.", "I10"),
    ("Diabétique de type 2.", "E11"), ("Fibrillation atriale.", "I48"), ("Fibrillation auriculaire.", "I48"),
    ("Insuffisance rénale chronique.", "N18"), ("ACFA.", "I48"), ("BPCO.", "J44"), ("IRC stade 3.", "N18"),
    ("SAOS appareillé.", "G47"), ("AVC en 2019.", "I64"), ("IDM ancien.", "I21"), ("DT2.", "E11"),
    ("TVP surale.", "I80"), ("EP bilatérale.", "I26"), ("RGO.", "K21"), ("SEP.", "G35"),
    ("Asthmatique depuis l'enfance.", "J45"), ("Obèse.", "E66"), ("Cardiopathie ischémique.", "I25"),
])
def test_conditions_as_clinicians_say_them(text, code):
    assert code in codes(text)


def test_no_wording_names_two_categories():
    seen: dict[str, str] = {}
    for wording, code in read_wordings():
        key = term_key(wording)[0]
        assert seen.setdefault(key, code)[:3] == code[:3], f"{wording}: {seen[key]} and {code}"


def test_ordinary_french_words_are_not_conditions():
    assert codes("Il a mal à l'épaule depuis la fête de sa fille, le professeur Pr Durand l'a vu.") == []


@pytest.mark.parametrize("spoken, inns", [
    ("dapagliflozine", ["dapagliflozine"]), ("empagliflozine", ["empagliflozine"]),
    ("semaglutide", ["semaglutide"]), ("dulaglutide", ["dulaglutide"]), ("sacubitril", ["sacubitril"]),
    ("edoxaban", ["edoxaban"]), ("Jardiance", ["empagliflozine"]), ("Ozempic", ["sémaglutide"]),
    ("Entresto", ["sacubitril", "valsartan"]), ("Trulicity", ["dulaglutide"]), ("Kardegic", ["acide acétylsalicylique"]),
])
def test_drugs_the_2018_list_lacked_are_found_with_their_inns(spoken, inns):
    from pipeline.extract.medical import extract_drugs

    drugs = extract_drugs(f"Je prescris {spoken} 10 mg par jour.")
    assert [d.name for d in drugs] == inns
    assert drugs[0].dose == "10 mg" and drugs[0].frequency == "par jour"


def test_a_brand_that_is_an_ordinary_word_is_not_a_drug():
    assert drug_lexicon().find("Diane est venue avec un item de la liste, en cristal.") == []


def test_substance_names_lose_their_salt():
    assert substance_inn("LÉVOTHYROXINE SODIQUE") == "lévothyroxine"
    assert substance_inn("AMLODIPINE (BÉSILATE D')") == "amlodipine"
    assert substance_inn("CHLORHYDRATE DE METFORMINE") == "metformine"
    assert substance_inn("CLAVULANATE DE POTASSIUM") == "acide clavulanique"
    assert brand_name("OZEMPIC 0,25 mg, solution injectable en stylo prérempli") == "Ozempic"
    assert brand_name("A 313 200 000 UI POUR CENT, pommade") is None


def test_the_vendored_index_is_what_the_bdpm_snapshot_gives():
    rows = load_bdpm(require(BDPM))
    vendored = read_index(REPO / "pipeline" / "lexicon" / "data" / "drugs_bdpm.tsv")
    assert rows == vendored


def _dictee(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pipeline.cli", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=300)


def test_lexicons_update_refuses_a_wrong_file_and_keeps_the_previous_lexicon(tmp_path):
    bdpm = require(BDPM)
    good = tmp_path / "bdpm"
    shutil.copytree(bdpm, good)
    done = _dictee("lexicons", "update", "--bdpm", str(good), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    installed = tmp_path / "models" / "lexicon" / "drugs_bdpm.tsv"
    before = installed.read_bytes()

    wrong = tmp_path / "wrong"
    wrong.mkdir()
    (wrong / "CIS_bdpm.txt").write_text("nom;prenom;ville\nDupont;Jean;Lyon\n", encoding="utf-8")
    shutil.copyfile(good / "CIS_COMPO_bdpm.txt", wrong / "CIS_COMPO_bdpm.txt")
    refused = _dictee("lexicons", "update", "--bdpm", str(wrong), cwd=tmp_path)
    assert refused.returncode == 2 and "format BDPM" in refused.stderr and "BDPM format" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert installed.read_bytes() == before

    missing = _dictee("lexicons", "update", "--bdpm", str(tmp_path / "nowhere"), cwd=tmp_path)
    assert missing.returncode == 2 and "introuvable" in missing.stderr


def test_a_truncated_extract_is_refused():
    bdpm = require(BDPM)
    with pytest.raises(BdpmError, match="spécialités"):
        load_bdpm(bdpm, min_specialties=10**6)


def test_an_updated_index_is_used_by_extraction(tmp_path):
    from pipeline.extract import extract
    from pipeline.lexicon.bdpm import DrugRow, write_index
    from pipeline.lexicon.drugs import updated_index_path
    from pipeline.normalize import normalize_text

    write_index([DrugRow("Zorvimab", "brand", ("zorvimabine",)), DrugRow("zorvimabine", "substance", ("zorvimabine",))],
                updated_index_path(tmp_path))
    text = normalize_text("Je prescris Zorvimab 20 mg par jour.")
    assert [d.name for d in extract(text, models_dir=tmp_path).drugs] == ["zorvimabine"]
    assert extract(text).drugs == ()


def _condition_recall(path: Path) -> float:
    from pipeline.extract.medical import extract_conditions

    found = wanted = 0
    for item in json.loads(path.read_text(encoding="utf-8")):
        got = list(extract_conditions(item["text"]))
        for want in item["conditions"]:
            accepted = {want["code3"], *want.get("alt", [])}
            hit = next((c for c in got if c.cim10 and c.cim10[:3] in accepted
                        and c.negated == want.get("negated", False) and c.family == want.get("family", False)), None)
            wanted += 1
            if hit is not None:
                found += 1
                got.remove(hit)
    return found / wanted


def test_conditions_recall_on_our_clinical_phrasing_dev_set():
    assert _condition_recall(REPO / "benchmarks" / "data" / "conditions_phrasing_dev.json") >= 0.9


def test_conditions_recall_on_the_shared_dev_set():
    assert _condition_recall(require(SHARED_EVAL / "conditions_dev.json")) >= 0.9
