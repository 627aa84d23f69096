"""Training examples on disk, model versions and rollback, the gate's rules, and the run's refusals."""

from __future__ import annotations

import datetime as dt
import json
import shutil

import numpy as np
import pytest

from pipeline.adapt.align import Segment
from pipeline.adapt.examples import ExampleStore
from pipeline.adapt.gate import Scores, judge, medical_words_of, term_recall, term_vocabulary
from pipeline.adapt.run import AdaptationError, MIN_EXAMPLES, run_adaptation, split
from pipeline.audio import SAMPLE_RATE, tone
from pipeline.errors import ModelError
from pipeline.modelstore import (
    BASE_VERSION, BUNDLED_NAME, VERSION_REPORT, practice_model_in_use, practice_versions, use_practice_version,
)
from pipeline.retention import purge_audio
from pipeline.store import Outbox
from pipeline.vault import Vault
from tests.conftest import REPO


def test_an_example_keeps_its_audio_and_segments_sealed_and_cuts_them_back(tmp_path):
    from cryptography.fernet import Fernet

    vault = Vault(Fernet(Fernet.generate_key()))
    store = ExampleStore(Outbox(tmp_path, vault))
    samples = tone(3.0)
    store.add("a" * 16, samples, [Segment(0.5, 1.5, "Kardégic 75 mg.")], origin="approved")
    (example,) = list(store)
    assert example.origin == "approved" and example.text == "Kardégic 75 mg."
    (clip, text), = store.clips(example)
    assert len(clip) == SAMPLE_RATE and text == "Kardégic 75 mg."
    assert np.allclose(clip, samples[SAMPLE_RATE // 2:3 * SAMPLE_RATE // 2], atol=1e-4)
    folder = store.folder("a" * 16)
    assert b"Kard" not in (folder / "example.json").read_bytes() and not (folder / "audio.wav").read_bytes().startswith(b"RIFF")


def test_examples_go_with_the_audio_retention(tmp_path):
    store = ExampleStore(Outbox(tmp_path))
    store.add("b" * 16, tone(1.0), [Segment(0.0, 1.0, "Suivi.")], origin="imported")
    assert purge_audio(Outbox(tmp_path), days=30).files == []
    later = dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=31)
    report = purge_audio(Outbox(tmp_path), days=30, now=later)
    assert {p.name for p in report.files} == {"audio.wav", "example.json"}
    assert len(store) == 0 and not store.folder("b" * 16).exists()


def test_the_held_out_examples_are_the_same_run_after_run_and_never_trained_on(tmp_path):
    store = ExampleStore(Outbox(tmp_path))
    for index in range(12):
        store.add(f"{index:016x}", tone(1.0), [Segment(0.0, 1.0, "Suivi.")], origin="imported")
    train, held = split(list(store))
    assert held and train and not set(e.example_id for e in train) & set(e.example_id for e in held)
    assert split(list(store))[1] == held


def make_version(models, name: str) -> None:
    version = models / "practice" / name
    version.mkdir(parents=True)
    for item in (REPO / "models" / BUNDLED_NAME).iterdir():
        (version / item.name).symlink_to(item)
    (version / VERSION_REPORT).write_text(json.dumps({
        "current": {"wer": 0.4, "term_recall": 0.3, "general_wer": 0.305},
        "candidate": {"wer": 0.3, "term_recall": 0.6, "general_wer": 0.312},
        "examples": {"train": 150}}))


def test_a_version_is_put_in_use_listed_and_rolled_back(settings, models):
    settings = settings.model_copy(update={"models_dir": models})
    assert settings.uses_bundled_model and practice_model_in_use(models) is None
    make_version(models, "20261201-020000")
    use_practice_version(models, "20261201-020000")
    assert settings.whisper_model_dir == models / "practice" / "20261201-020000" and not settings.uses_bundled_model
    assert [(v.name, v.in_use) for v in practice_versions(models)] == [("20261201-020000", True)]
    use_practice_version(models, BASE_VERSION)
    assert settings.whisper_model_dir == models / BUNDLED_NAME and settings.uses_bundled_model


def test_an_unknown_or_damaged_version_is_refused_and_a_vanished_one_falls_back_to_base(settings, models):
    with pytest.raises(ModelError, match="unknown version 'v9'"):
        use_practice_version(models, "v9")
    make_version(models, "v1")
    (models / "practice" / "v1" / "model.bin").unlink()
    with pytest.raises(ModelError, match="not usable"):
        use_practice_version(models, "v1")
    make_version(models, "v2")
    use_practice_version(models, "v2")
    shutil.rmtree(models / "practice" / "v2")
    assert practice_model_in_use(models) is None  # the watcher goes on with the base model


def test_models_list_and_use_from_the_command_line(settings, models, monkeypatch):
    from typer.testing import CliRunner

    from pipeline.cli import app

    monkeypatch.setenv("DICTEE_MODELS_DIR", str(models))
    make_version(models, "20261201-020000")
    runner = CliRunner()
    assert runner.invoke(app, ["models", "use", "20261201-020000"]).exit_code == 0
    listed = runner.invoke(app, ["models", "list"], env={"COLUMNS": "160"}).output
    assert "20261201" in listed and "0.400 → 0.300" in listed and "0.305 → 0.312" in listed
    assert runner.invoke(app, ["models", "use", "base"]).exit_code == 0
    assert practice_model_in_use(models) is None


def scores(wer: float, recall: float | None, general: float | None = None) -> Scores:
    return Scores(wer, recall, 10, 5, general)


@pytest.mark.parametrize("current, candidate, promote", [
    (scores(0.40, 0.30), scores(0.30, 0.70), True),
    (scores(0.40, 0.30), scores(0.40, 0.50), True),
    (scores(0.40, 0.30), scores(0.41, 0.90), False),  # better terms, worse elsewhere: refused
    (scores(0.40, 0.30), scores(0.20, 0.25), False),  # fewer terms right: refused
    (scores(0.40, 0.30), scores(0.40, 0.30), False),  # not better
    (scores(0.40, None), scores(0.35, None), True),
    # far better on the practice's letters, but ordinary French lost 5.8 points: refused
    (scores(0.43, 0.35, general=0.305), scores(0.21, 0.65, general=0.363), False),
    (scores(0.43, 0.35, general=0.305), scores(0.21, 0.65, general=0.314), True),  # within a point
])
def test_the_gate_promotes_only_a_better_model(current, candidate, promote):
    assert judge(current, candidate).promote is promote


def test_term_recall_counts_the_medical_words_of_the_references():
    vocabulary = term_vocabulary(REPO / "models", ["Vanderkelen"])
    assert set(medical_words_of("Hypertension et fibrillation auriculaire, vu par Vanderkelen, traitement habituel.",
                                vocabulary)) == {"hypertension", "fibrillation", "auriculaire", "vanderkelen"}
    recall, terms = term_recall([("fibrillation auriculaire sous Kardégic", "fibrillation oriculaire sous carte des giques")],
                                vocabulary)
    assert (recall, terms) == (1 / 3, 3)


def test_an_adaptation_needs_enough_examples_and_says_so(settings):
    pytest.importorskip("torch")
    with pytest.raises(AdaptationError, match=f"at least {MIN_EXAMPLES} are needed"):
        run_adaptation(settings)
    with pytest.raises(AdaptationError, match="unknown quantization 'int4'"):
        run_adaptation(settings, quantization="int4")


def test_one_adaptation_at_a_time(settings, models):
    pytest.importorskip("torch")
    from filelock import FileLock

    settings = settings.model_copy(update={"models_dir": models})
    store = ExampleStore(settings.store())
    for index in range(MIN_EXAMPLES):
        store.add(f"{index:016x}", tone(1.0), [Segment(0.0, 1.0, "Suivi.")], origin="imported")
    (models / "practice").mkdir()
    with FileLock(str(models / "practice" / ".adapt.lock")):
        with pytest.raises(AdaptationError, match="already running"):
            run_adaptation(settings)


def test_an_archive_is_imported_and_bad_pairs_are_skipped_with_their_reason(settings, tmp_path):
    from pipeline.adapt.collect import import_archive
    from tests.conftest import FakeTranscriber, write_tone

    said = "Il est traité par amlodipine cinq milligrammes par jour. Pas de dyspnée."
    archive = tmp_path / "archive"
    archive.mkdir()
    write_tone(archive / "good.wav", seconds=12.0)
    (archive / "good.txt").write_text("Il est traité par amlodipine 5 mg par jour.\nPas de dyspnée.\n", encoding="utf-8")
    write_tone(archive / "alone.wav", seconds=11.0)
    (archive / "broken.wav").write_bytes(b"RIFF not really audio" * 20)
    (archive / "broken.txt").write_text(said, encoding="utf-8")
    write_tone(archive / "other.wav", seconds=13.0)
    (archive / "other.txt").write_text("Compte rendu opératoire : cholécystectomie sous cœlioscopie sans incident.",
                                       encoding="utf-8")
    write_tone(archive / "cp1252.wav", seconds=14.0)
    (archive / "cp1252.txt").write_bytes(said.replace("5", "cinq").encode("cp1252"))
    progress = []
    report = import_archive(archive, settings, recognizer=FakeTranscriber(said),
                            on_file=lambda done, total: progress.append((done, total)))
    assert report.imported == 2 and progress[-1] == (5, 5)
    assert report.skipped == {"no_text": ["alone.wav"], "unreadable_audio": ["broken.wav"], "far_from_audio": ["other.wav"]}
    texts = sorted(e.text for e in ExampleStore(settings.store()))
    assert "Il est traité par amlodipine 5 mg par jour.\nPas de dyspnée." in texts
    again = import_archive(archive, settings, recognizer=FakeTranscriber(said))
    assert again.imported == 0 and len(again.skipped["already_imported"]) == 2


def test_the_general_french_check_set_ships_with_its_references_and_licence():
    from pipeline.adapt.gate import GENERAL_FRENCH, general_french_clips, general_french_set

    clips = general_french_clips()
    assert len(clips) == 10 and all(text and text == text.lower() for _, text in clips)
    assert 100 < sum(len(samples) for samples, _ in clips) / 16_000 < 130  # 110 s of read French
    # …and the same joined into two minute-long recordings, as dictations are.
    joined = general_french_set()[10:]
    assert len(joined) == 2 and all(50 < len(samples) / 16_000 < 70 for samples, _ in joined)
    assert " ".join(text for _, text in joined) == " ".join(text for _, text in clips)
    assert "CC BY 4.0" in (GENERAL_FRENCH / "PROVENANCE.txt").read_text(encoding="utf-8")


def test_a_candidate_losing_general_french_is_refused_and_says_why():
    verdict = judge(scores(0.43, 0.35, general=0.305), scores(0.21, 0.65, general=0.363))
    assert not verdict.promote and "general French" in verdict.reason and "0.305 → 0.363" in verdict.reason


def test_a_mix_is_the_share_of_the_way_from_the_bundled_weights_to_the_fine_tuned_ones():
    torch = pytest.importorskip("torch")
    from pipeline.adapt.run import mixed

    before = {"w": torch.tensor([0.0, 2.0]), "steps": torch.tensor([3])}
    after = {"w": torch.tensor([1.0, 4.0]), "steps": torch.tensor([5])}
    assert torch.equal(mixed(before, after, 0.5)["w"], torch.tensor([0.5, 3.0]))
    assert torch.equal(mixed(before, after, 1.0)["w"], after["w"])
    assert torch.equal(mixed(before, after, 0.5)["steps"], torch.tensor([5]))  # counters are not averaged


def test_mixes_are_tried_only_for_a_model_better_on_its_letters_that_lost_general_french():
    from pipeline.adapt.gate import only_general_french_lost

    base = scores(0.43, 0.35, general=0.305)
    assert only_general_french_lost(base, scores(0.21, 0.65, general=0.363))
    assert not only_general_french_lost(base, scores(0.50, 0.30, general=0.363))  # worse on its letters too
    assert not only_general_french_lost(base, scores(0.21, 0.65, general=0.310))  # nothing lost: no mix needed
