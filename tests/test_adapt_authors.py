"""A model per author: his examples, his versions, his dictations heard with his model only,
the nightly run per author with new letters, and the folder names a hostile caller may try."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from pipeline import ingest, transcribe
from pipeline.adapt import run
from pipeline.adapt.align import Segment
from pipeline.adapt.examples import ExampleStore, by_author
from pipeline.adapt.gate import judge
from pipeline.audio import tone
from pipeline.errors import ModelError
from pipeline.job import run_job
from pipeline.modelstore import (
    BUNDLED_NAME, VERSION_REPORT, authors_with_versions, practice_dir, practice_model_in_use, practice_versions,
    use_practice_version,
)
from tests.conftest import FakeTranscriber, SAMPLE_DICTATION, write_tone
from tests.test_adapt_store import make_version, scores

HOSTILE_AUTHORS = ["../dupont", "dupont/../../x", "", "urgent", "a\x00b", "dupont\n", ".hidden", "é" * 3, "x" * 65,
                   "authors/../../etc"]


def author_version(models, author: str, name: str) -> None:
    make_version(models, name)  # made as the practice's, then moved under the author
    target = practice_dir(models, author) / name
    target.parent.mkdir(parents=True, exist_ok=True)
    (models / "practice" / name).rename(target)


def add_examples(settings, author: str | None, count: int, *, start: int = 0) -> None:
    store = ExampleStore(settings.store())
    for index in range(start, start + count):
        store.add(f"{index:016x}", tone(1.0), [Segment(0.0, 1.0, "Suivi.")], origin="approved", author=author)


def test_an_example_keeps_who_dictated_it_and_older_ones_without_it_still_read(settings):
    store = ExampleStore(settings.store())
    store.add("a" * 16, tone(1.0), [Segment(0.0, 1.0, "Suivi.")], origin="approved", author="dupont")
    store.add("b" * 16, tone(1.0), [Segment(0.0, 1.0, "Suivi.")], origin="imported")
    older = store.folder("b" * 16) / "example.json"
    data = json.loads(older.read_text(encoding="utf-8"))
    del data["author"]  # written before examples had an author
    older.write_text(json.dumps(data), encoding="utf-8")
    assert {e.example_id: e.author for e in store} == {"a" * 16: "dupont", "b" * 16: None}
    assert {author: [e.example_id for e in his] for author, his in by_author(store).items()} == {"dupont": ["a" * 16]}


def test_an_author_version_is_his_alone_and_rolls_back_to_the_practice_model(settings, models):
    settings = settings.model_copy(update={"models_dir": models})
    make_version(models, "20261201-020000")
    use_practice_version(models, "20261201-020000")
    author_version(models, "dupont", "20261205-020000")
    use_practice_version(models, "20261205-020000", "dupont")
    practice = models / "practice" / "20261201-020000"
    assert settings.whisper_model_dir_for("dupont") == practice_dir(models, "dupont") / "20261205-020000"
    assert settings.whisper_model_dir_for("martin") == practice == settings.whisper_model_dir_for(None)
    assert settings.whisper_model_dir == practice  # the practice's own is not his
    assert authors_with_versions(models) == ["dupont"]
    assert [v.name for v in practice_versions(models)] == ["20261201-020000"]  # his are not listed as the practice's
    with pytest.raises(ModelError, match="unknown version"):
        use_practice_version(models, "20261205-020000")  # his version is not one of the practice's
    assert use_practice_version(models, "base", "dupont") == practice
    assert settings.whisper_model_dir_for("dupont") == practice
    assert practice_model_in_use(models, "dupont") is None


@pytest.mark.parametrize("author", HOSTILE_AUTHORS)
def test_an_author_name_never_becomes_a_path_outside_his_folder(settings, models, author):
    with pytest.raises(ModelError, match="invalid author"):
        practice_dir(models, author)
    with pytest.raises(ModelError, match="invalid author"):
        use_practice_version(models, "base", author)
    settings = settings.model_copy(update={"models_dir": models})
    assert settings.whisper_model_dir_for(author) == models / BUNDLED_NAME  # a dictation of his: the practice's


@pytest.mark.parametrize("version", ["authors", "../20261201-020000", ".x", "a/b"])
def test_a_version_name_that_is_a_path_is_refused(models, version):
    make_version(models, "20261201-020000")
    with pytest.raises(ModelError, match="unknown version"):
        use_practice_version(models, version)


def test_his_dictations_are_heard_with_his_model_and_the_others_with_the_practice_s(settings, models, monkeypatch):
    settings = settings.model_copy(update={"models_dir": models})
    author_version(models, "dupont", "20261205-020000")
    use_practice_version(models, "20261205-020000", "dupont")
    heard_with: list[tuple[str, bool]] = []
    fake = FakeTranscriber(SAMPLE_DICTATION)

    def engine(config):
        heard_with.append((config.model_dir, config.bundled))
        return fake

    transcribe.get_transcriber.cache_clear()
    monkeypatch.setitem(transcribe.ENGINES, "faster-whisper", engine)
    try:
        for folder in ("dupont", "martin", None):
            inbox = settings.inbox / folder if folder else settings.inbox
            inbox.mkdir(parents=True, exist_ok=True)
            source = write_tone(inbox / "dictee.wav", seconds=25.0 + len(heard_with))
            dictation = ingest.claim_dictation(source, work_dir=settings.work_dir, outbox=settings.outbox, author=folder)
            assert run_job(dictation, settings).status == "drafted"
    finally:
        transcribe.get_transcriber.cache_clear()
    his = str(practice_dir(models, "dupont") / "20261205-020000")
    assert heard_with == [(his, False), (str(models / BUNDLED_NAME), True)]  # martin and the root share one load


def test_the_gate_holds_general_french_to_the_bundled_model_not_to_the_model_in_use():
    practice = scores(0.30, 0.60, general=0.314)  # already 0.9 point below the bundled model's 0.305
    candidate = scores(0.25, 0.70, general=0.320)  # within a point of the practice's, not of the bundled
    assert judge(practice, candidate).promote
    verdict = judge(practice, candidate, general_reference=0.305)
    assert not verdict.promote and "0.305 → 0.320" in verdict.reason


def test_an_author_needs_enough_letters_of_his_own(settings, models):
    pytest.importorskip("torch")
    settings = settings.model_copy(update={"models_dir": models})
    add_examples(settings, None, 40)
    add_examples(settings, "dupont", run.MIN_AUTHOR_EXAMPLES - 1, start=100)
    with pytest.raises(run.AdaptationError, match=f"{run.MIN_AUTHOR_EXAMPLES - 1} example.s. of this author: at least "
                                                  f"{run.MIN_AUTHOR_EXAMPLES}"):
        run.run_adaptation(settings, author="dupont")
    with pytest.raises(run.AdaptationError, match="invalid author"):
        run.run_adaptation(settings, author="../dupont")
    assert not (models / "practice" / "authors").exists() or not any((models / "practice" / "authors").iterdir())


def write_attempt(settings, author: str, *, newest: str, trained_from: str, promoted: bool) -> None:
    versions = practice_dir(settings.models_dir, author)
    versions.mkdir(parents=True, exist_ok=True)
    report = {"created_at": dt.datetime.now(dt.timezone.utc).isoformat(), "newest_example": newest,
              "trained_from": trained_from}
    if promoted:
        (versions / "v1").mkdir()
        (versions / "v1" / VERSION_REPORT).write_text(json.dumps(report), encoding="utf-8")
    else:
        with (versions / run.REFUSED_LOG).open("a", encoding="utf-8") as log:
            log.write(json.dumps(report) + "\n")


def test_the_night_trains_an_author_again_only_for_new_letters_or_a_new_practice_model(settings, models, monkeypatch):
    monkeypatch.setattr(run, "MIN_AUTHOR_EXAMPLES", 3)
    settings = settings.model_copy(update={"models_dir": models})
    add_examples(settings, "dupont", 3)
    add_examples(settings, "martin", 2, start=10)  # too few of his own
    add_examples(settings, None, 5, start=20)
    assert run.authors_due(settings) == ["dupont"]
    newest = run.newest_example(by_author(ExampleStore(settings.store()))["dupont"])
    write_attempt(settings, "dupont", newest=newest, trained_from=BUNDLED_NAME, promoted=False)
    assert run.authors_due(settings) == []  # refused on these letters: not tried again every night
    make_version(models, "20261201-020000")
    use_practice_version(models, "20261201-020000")
    assert run.authors_due(settings) == ["dupont"]  # a new practice model to start from
    write_attempt(settings, "dupont", newest=newest, trained_from="20261201-020000", promoted=True)
    assert run.authors_due(settings) == []
    later = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=2)
    monkeypatch.setattr("pipeline.adapt.examples._now", lambda: later.isoformat(timespec="seconds"))
    add_examples(settings, "dupont", 1, start=30)
    assert run.authors_due(settings) == ["dupont"]  # a new letter of his


def test_the_nightly_flow_runs_the_practice_then_each_author_due_and_names_none(settings, models, monkeypatch):
    from pipeline.flows import deployed_adaptation

    settings = settings.model_copy(update={"models_dir": models})
    asked = []

    def adaptation(settings, *, author=None):
        asked.append(author)
        raise run.AdaptationError("too few")

    monkeypatch.setattr(run, "authors_due", lambda settings: ["dupont", "martin"])
    monkeypatch.setattr(run, "run_adaptation", adaptation)
    summary = deployed_adaptation(outbox=str(settings.outbox), models_dir=str(models))
    assert asked == [None, "dupont", "martin"]
    assert list(summary) == ["practice", "author-1", "author-2"] and "dupont" not in json.dumps(summary)


@pytest.mark.parametrize("arguments", [["adapt", "run", "--author", "../x"], ["adapt", "import", "somewhere", "--author", "a/b"],
                                       ["models", "use", "base", "--author", "urgent"],
                                       ["adapt", "run", "--author", "dupont\x01"]])
def test_the_command_line_refuses_a_hostile_author_in_both_languages(settings, models, monkeypatch, arguments):
    from typer.testing import CliRunner

    from pipeline.cli import app
    from pipeline.errors import DicteeError

    monkeypatch.setenv("DICTEE_MODELS_DIR", str(models))
    result = CliRunner().invoke(app, arguments)
    assert isinstance(result.exception, DicteeError)  # what `dictee` prints as « Erreur / Error: … », exit 2
    assert "auteur invalide" in str(result.exception) and "invalid author" in str(result.exception)
    assert not (models / "practice" / "authors").exists()


def test_a_hostile_author_is_a_message_not_a_traceback(settings, models, tmp_path):
    import os
    import subprocess
    import sys

    env = {**os.environ, "DICTEE_OUTBOX": str(settings.outbox), "DICTEE_INBOX": str(settings.inbox),
           "DICTEE_MODELS_DIR": str(models), "COLUMNS": "200"}
    done = subprocess.run([sys.executable, "-m", "pipeline.cli", "adapt", "run", "--author", "../../etc"], env=env,
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "Traceback" not in done.stdout + done.stderr
    assert "invalid author" in done.stdout + done.stderr


def test_models_list_shows_each_author_s_versions_and_use_puts_his_in_use(settings, models, monkeypatch):
    from typer.testing import CliRunner

    from pipeline.cli import app

    monkeypatch.setenv("DICTEE_MODELS_DIR", str(models))
    author_version(models, "dupont", "20261205-020000")
    runner = CliRunner()
    used = runner.invoke(app, ["models", "use", "20261205-020000", "--author", "dupont"])
    assert used.exit_code == 0, used.output
    assert practice_model_in_use(models, "dupont") == practice_dir(models, "dupont") / "20261205-020000"
    assert practice_model_in_use(models) is None
    listed = runner.invoke(app, ["models", "list"], env={"COLUMNS": "200"}).output
    row = next(line for line in listed.splitlines() if "dupont" in line)
    assert "20261205-020000" in row and "✓" in row and "0.400 → 0.300" in row


def test_a_damaged_report_counts_as_no_run_and_the_author_is_trained_again(settings, models, monkeypatch):
    monkeypatch.setattr(run, "MIN_AUTHOR_EXAMPLES", 2)
    settings = settings.model_copy(update={"models_dir": models})
    add_examples(settings, "dupont", 2)
    versions = practice_dir(models, "dupont")
    versions.mkdir(parents=True)
    (versions / run.REFUSED_LOG).write_bytes(b'{"newest_example": \n\xff\xfe[1, 2]\n"text"\n')
    (versions / "v1").mkdir()
    (versions / "v1" / VERSION_REPORT).write_bytes(b"\x00" * 10)
    assert run.authors_due(settings) == ["dupont"]
