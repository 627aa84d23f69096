"""Prefect flows with a real (temporary) Prefect database and a fake recognizer."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from benchmarks.leaks import readable_forms
from pipeline import progress
from tests.conftest import write_tone

DUMMY_NAME = "Dupont"  # dictated by the fake transcriber and present in a file name


@pytest.fixture(scope="module")
def prefect_db(tmp_path_factory):
    import os

    home = tmp_path_factory.mktemp("prefect-home")
    os.environ["PREFECT_HOME"] = str(home)
    from prefect.settings import PREFECT_API_DATABASE_CONNECTION_URL
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield PREFECT_API_DATABASE_CONNECTION_URL.value()


@pytest.fixture
def flow_env(settings, fake_transcriber, monkeypatch, prefect_db):
    monkeypatch.setenv("DICTEE_LETTER_TEMPLATES", str(settings.letter_templates))
    monkeypatch.setenv("DICTEE_STABLE_SECONDS", "0")
    return settings


class Recorder:
    def __init__(self):
        self.jobs = None
        self.outcomes = []

    def started(self, *, jobs, audio_s):
        self.jobs = jobs

    def finished(self, outcome):
        self.outcomes.append(outcome)

    def waiting(self, *, files):
        pass


def test_backlog_drafts_good_files_quarantines_bad_ones_and_absorbs_duplicates(flow_env, prefect_db):
    from pipeline.flows import process_backlog

    settings = flow_env
    for index in range(3):
        write_tone(settings.inbox / f"{DUMMY_NAME} {index}.wav", seconds=1.0 + index)
    shutil.copyfile(settings.inbox / f"{DUMMY_NAME} 0.wav", settings.inbox / "again.wav")
    (settings.inbox / "broken.wav").write_bytes(b"not audio at all" * 10)

    recorder = Recorder()
    with progress.listening(recorder):
        outcomes = process_backlog(inbox=str(settings.inbox), outbox=str(settings.outbox))

    statuses = sorted(outcome.status for outcome in outcomes)
    assert statuses == ["drafted", "drafted", "drafted", "duplicate", "quarantined"]
    assert recorder.jobs == 4 and len(recorder.outcomes) == 4
    assert list(settings.inbox.iterdir()) == []
    drafted = [o.job_id for o in outcomes if o.status == "drafted"]
    assert all((settings.outbox / job_id / "draft.docx").is_file() for job_id in drafted)
    assert not any(p for p in settings.work_dir.iterdir())

    # Nothing the patient said, nor the file names, reached Prefect's home: its database, its
    # result storage and logs — read as they are and with every base64 run decoded (a pickled
    # result is stored base64-encoded, where a plain search misses it).
    database = Path(prefect_db.split("///", 1)[1])
    import base64

    assert any(DUMMY_NAME.encode() in form for form in readable_forms(b"\x80\x04" + base64.b64encode(b"pickled Dupont 0.wav")))
    stored = [path for path in database.parent.rglob("*") if path.is_file()]
    assert any(path.name.startswith(database.name) for path in stored)
    for path in stored:
        for content in readable_forms(path.read_bytes()):
            assert DUMMY_NAME.encode() not in content, path.name
            assert "amlodipine".encode() not in content, path.name



def test_a_second_run_on_the_same_audio_does_nothing(flow_env):
    from pipeline.flows import process_backlog

    settings = flow_env
    write_tone(settings.inbox / "a.wav", seconds=1.0)
    first = process_backlog(inbox=str(settings.inbox), outbox=str(settings.outbox))
    write_tone(settings.inbox / "a copy.wav", seconds=1.0)
    second = process_backlog(inbox=str(settings.inbox), outbox=str(settings.outbox))
    assert [o.status for o in first] == ["drafted"] and [o.status for o in second] == ["duplicate"]


def test_a_claim_left_by_a_crash_is_resumed(flow_env):
    from pipeline import ingest
    from pipeline.flows import process_backlog

    settings = flow_env
    source = write_tone(settings.inbox / "b.wav", seconds=1.0)
    dictation = ingest.claim_dictation(source, work_dir=settings.work_dir, outbox=settings.outbox)
    # …the process dies here; the next run finds the claim
    outcomes = process_backlog(inbox=str(settings.inbox), outbox=str(settings.outbox))
    assert [(o.job_id, o.status) for o in outcomes] == [(dictation.job_id, "drafted")]


def test_process_dictation_takes_a_claimed_job_by_id(flow_env):
    from pipeline import ingest
    from pipeline.flows import process_dictation

    settings = flow_env
    source = write_tone(settings.inbox / "c.wav", seconds=1.0)
    dictation = ingest.claim_dictation(source, work_dir=settings.work_dir, outbox=settings.outbox)
    outcome = process_dictation(job_id=dictation.job_id, outbox=str(settings.outbox))
    assert outcome.status == "drafted"
    assert process_dictation(job_id="0" * 16, outbox=str(settings.outbox)).reason == "not_claimed"


def test_the_deployed_backlog_reports_counts_and_respects_the_run_lock(flow_env):
    from pipeline import ingest
    from pipeline.flows import deployed_backlog

    settings = flow_env
    write_tone(settings.inbox / f"{DUMMY_NAME}.wav", seconds=1.0)
    (settings.inbox / "broken.wav").write_bytes(b"not audio at all" * 10)
    with ingest.exclusive_run(settings.work_dir):  # `dictee batch` or `watch` holds this outbox
        assert deployed_backlog(inbox=str(settings.inbox), outbox=str(settings.outbox)) == {"skipped": 1}
    assert len(list(settings.inbox.iterdir())) == 2  # left for the run that holds the lock

    assert deployed_backlog(inbox=str(settings.inbox), outbox=str(settings.outbox)) == {"drafted": 1, "quarantined": 1}
    assert list(settings.inbox.iterdir()) == []


def test_a_deployed_run_with_a_failed_job_ends_failed(flow_env, monkeypatch):
    from prefect.states import State

    from pipeline import job
    from pipeline.flows import deployed_backlog

    settings = flow_env
    write_tone(settings.inbox / "a.wav", seconds=1.0)

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(job, "understand_step", disk_full)
    state = deployed_backlog(inbox=str(settings.inbox), outbox=str(settings.outbox), return_state=True)
    assert isinstance(state, State) and state.is_failed()
    assert "resumed by the next run" in state.message

    unmounted = deployed_backlog(inbox=str(settings.inbox / "absent"), outbox=str(settings.outbox), return_state=True)
    assert unmounted.is_failed() and "folder not found" in unmounted.message


def test_batch_waits_for_copies_and_says_which_file_it_left_because_it_kept_changing(flow_env, monkeypatch):
    """A recording copied a moment ago is waited for and drafted; one that keeps changing past
    the bound is left in the inbox, counted by position in the summary, and the exit code says so."""
    import threading
    import time

    from typer.testing import CliRunner

    from pipeline.cli import EXIT_LEFT_WRITING, app

    settings = flow_env
    monkeypatch.setenv("DICTEE_STABLE_SECONDS", "1")
    monkeypatch.setenv("DICTEE_WRITE_WAIT_S", "4")
    write_tone(settings.inbox / "a copied just now.wav", seconds=1.0)  # fresh: not yet stable
    growing = settings.inbox / f"{DUMMY_NAME} growing.wav"
    write_tone(growing, seconds=1.0)
    stop = threading.Event()

    def keep_writing():
        while not stop.is_set():
            with growing.open("ab") as handle:
                handle.write(b"\x00" * 320)
            time.sleep(0.1)

    writer = threading.Thread(target=keep_writing)
    writer.start()
    try:
        done = CliRunner().invoke(app, ["batch", str(settings.inbox), "--outbox", str(settings.outbox)])
    finally:
        stop.set()
        writer.join()
    assert done.exit_code == EXIT_LEFT_WRITING, done.output
    assert "1 rédigé(s)" in done.output and "1 encore en écriture" in done.output
    assert "#2" in done.output and DUMMY_NAME not in done.output  # named by position, never by file name
    assert [p.name for p in settings.inbox.iterdir()] == [growing.name]


def test_the_nightly_adaptation_with_nothing_to_learn_yet_is_skipped_not_failed(flow_env):
    from pipeline.flows import deployed_adaptation

    settings = flow_env
    state = deployed_adaptation(outbox=str(settings.outbox), models_dir=str(settings.models_dir), return_state=True)
    assert state.is_completed() and state.result() == {"practice": {"skipped": 1}}


def test_a_dictation_run_starts_no_heartbeat_thread_but_the_watchers_run_keeps_them(monkeypatch, settings):
    """Prefect's heartbeat thread sleeps in one-second steps and a run's end waits for it: half a
    second a dictation on average, for a beat never due in a run this short."""
    from types import SimpleNamespace

    from prefect.settings import get_current_settings

    from pipeline import flows

    seen = []
    monkeypatch.setattr(flows, "process_dictation",
                        lambda **_: seen.append(get_current_settings().flows.heartbeat_frequency) or "drafted")
    assert flows.watch_dictation(SimpleNamespace(job_id="0123456789abcdef"), settings) == "drafted"
    assert seen == [None] and get_current_settings().flows.heartbeat_frequency == 180


def test_with_the_server_lost_mid_day_the_dictations_run_without_it_said_once(monkeypatch, settings):
    """The orchestration's fallback lives with the flows: a dictation whose run cannot reach the
    server runs the same stages in this process, and so do the next ones, without asking again."""
    import threading
    from types import SimpleNamespace

    from pipeline import flows

    asked = []

    def unreachable(dictation, *_):
        asked.append(dictation.job_id)
        raise flows.ServerUnreachable("RuntimeError")

    monkeypatch.setattr(flows, "watch_dictation", unreachable)
    monkeypatch.setattr(flows.job, "run_job_or_defer", lambda dictation, _settings: f"drafted {dictation.job_id}")
    said = []
    dictations = flows.WatchedDictations(settings, on_fallback=lambda: said.append("unavailable"))
    stop = threading.Event()
    outcomes = [dictations(SimpleNamespace(job_id=job_id), stop) for job_id in ("a1", "b2", "c3")]
    assert outcomes == ["drafted a1", "drafted b2", "drafted c3"]
    assert asked == ["a1"] and said == ["unavailable"] and not stop.is_set()


def test_a_stop_asked_during_a_dictation_s_run_stops_the_watcher_and_leaves_the_claim(monkeypatch, settings):
    import threading
    from types import SimpleNamespace

    from pipeline import flows

    def stopped(*_):
        raise flows.StopRequested

    monkeypatch.setattr(flows, "watch_dictation", stopped)
    monkeypatch.setattr(flows.job, "run_job_or_defer", lambda *_: pytest.fail("run again after a stop"))
    stop = threading.Event()
    assert flows.WatchedDictations(settings, on_fallback=list)(SimpleNamespace(job_id="a1"), stop) is None
    assert stop.is_set()


def test_with_the_server_down_the_backlog_runs_the_same_stages_and_says_so(monkeypatch, settings):
    from pipeline import flows

    def unreachable(*_args, **_kwargs):
        raise flows.ServerUnreachable("RuntimeError")

    monkeypatch.setattr(flows, "run_backlog_flow", unreachable)
    monkeypatch.setattr(flows.job, "run_backlog", lambda _settings: ["drafted"])
    said = []
    outcomes = flows.backlog_with_fallback(settings, whisper_model=None, workers=None, on_fallback=lambda: said.append(1))
    assert outcomes == ["drafted"] and said == [1]


@pytest.fixture
def zorro(flow_env, monkeypatch, tmp_path):
    """A centre's practice « cabinet-zorro » (its settings from its own file), a dictation waiting."""
    from pipeline.practices import Centre
    from pipeline.settings import Settings
    from tests.conftest import REPO

    for variable in ("DICTEE_LETTER_TEMPLATES", "DICTEE_STABLE_SECONDS"):  # a practice's come from its file
        monkeypatch.delenv(variable)
    monkeypatch.setenv("DICTEE_CENTRE", str(tmp_path / "centre"))
    installation = Settings(models_dir=REPO / "models", letter_templates=REPO / "letter_templates")
    practice = Centre().add("cabinet-zorro", outbox=tmp_path / "zorro-outbox", installation=installation)
    with practice.settings_file.open("a") as own:
        own.write("stable_seconds = 0\n")
    settings = Centre().settings(practice)
    write_tone(settings.inbox / "Zorro Diego.wav", seconds=1.5)
    return practice, settings


def test_a_centre_practice_s_backlog_reaches_prefect_by_id_never_by_name_or_folder(zorro, prefect_db, tmp_path):
    from pipeline import flows

    practice, settings = zorro
    outcomes = flows.run_backlog_flow(settings, whisper_model=None, workers=None, practice_id=practice.id)
    assert [outcome.status for outcome in outcomes] == ["drafted"]
    assert len(list((tmp_path / "zorro-outbox").glob("*/draft.docx"))) == 1
    database = Path(prefect_db.split("///", 1)[1])
    stored = b"".join(path.read_bytes() for path in database.parent.rglob("*") if path.is_file())
    assert practice.id.encode() in stored and b"zorro" not in stored.lower()


def test_a_deployed_run_of_a_centre_practice_serves_it_by_id_and_skips_or_fails_it_cleanly(zorro, tmp_path):
    """`dictee --practice NAME deploy` registers the runs with the practice's id only: the worker
    finds its folders through the centre's register; disabled since, it is skipped; removed, or
    its settings broken, the run fails saying the id, never the name."""
    from prefect.states import State

    from pipeline.flows import deployed_adaptation, deployed_backlog
    from pipeline.practices import Centre

    practice, settings = zorro
    assert deployed_backlog(practice=practice.id) == {"drafted": 1}
    assert len(list((tmp_path / "zorro-outbox").glob("*/draft.docx"))) == 1
    # The nightly adaptation of that practice: nothing reviewed yet, nothing to learn, not a failure.
    assert deployed_adaptation(practice=practice.id) == {"practice": {"skipped": 1}}

    Centre().set_disabled("cabinet-zorro", True)
    write_tone(settings.inbox / "Zorro Diego 2.wav", seconds=1.5)
    assert deployed_backlog(practice=practice.id) == {"skipped": 1}
    assert len(list(settings.inbox.iterdir())) == 1  # left for when it is served again
    Centre().set_disabled("cabinet-zorro", False)

    practice.settings_file.write_text("outbox = 'nowhere' \n[[[", encoding="utf-8")  # broken by hand
    for state in (deployed_backlog(practice=practice.id, return_state=True),
                  deployed_backlog(practice="0" * len(practice.id), return_state=True),
                  deployed_adaptation(practice="0" * len(practice.id), return_state=True),
                  deployed_backlog(practice="p-\x1b[2J\n../" * 10_000, return_state=True)):  # a crafted parameter
        assert isinstance(state, State) and state.is_failed()
        assert "practice " in state.message and "zorro" not in state.message.lower()
        assert len(state.message) < 200 and "\x1b" not in state.message and "\n" not in state.message
