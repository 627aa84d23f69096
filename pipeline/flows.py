"""Prefect orchestration: the only module that imports Prefect. Each task is one stage.

Only paths and job ids cross into Prefect: flow parameters are folders, task results are
kept in memory (never persisted), and nothing prints transcript text. A bad dictation is
a normal outcome (quarantined), not a failed task, so it never shows a traceback.
"""

from __future__ import annotations

import logging
import os
import signal
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

# Before Prefect is imported: no telemetry, quiet console, embedded ephemeral server.
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
os.environ.setdefault("PREFECT_RESULTS_PERSIST_BY_DEFAULT", "false")
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "90")

from prefect import flow, task  # noqa: E402
from prefect.cache_policies import NO_CACHE  # noqa: E402
from prefect.futures import as_completed  # noqa: E402
from prefect.states import Completed, Failed  # noqa: E402
from prefect.task_runners import ThreadPoolTaskRunner  # noqa: E402

from pipeline import ingest, job, progress  # noqa: E402
from pipeline.errors import BadInput, DicteeError, TransientError  # noqa: E402
from pipeline.records import Dictation, JobOutcome  # noqa: E402
from pipeline.settings import Settings, load_settings  # noqa: E402

log = logging.getLogger("dictee.flows")


class ExplainedErrorsWithoutTraceback(logging.Filter):
    """A DicteeError explains itself in French and English (a full outbox, a damaged model):
    Prefect logs its message, not a traceback. Anything else, a bug, keeps its traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and isinstance(record.exc_info[1], DicteeError):
            record.exc_info, record.exc_text = None, None
        return True


for _run_logger in ("prefect.task_runs", "prefect.flow_runs"):
    logging.getLogger(_run_logger).addFilter(ExplainedErrorsWithoutTraceback())
STAGES_PER_JOB = 4
TASK_OPTIONS = {"cache_policy": NO_CACHE, "persist_result": False, "log_prints": False}


def _is_transient(task, task_run, state) -> bool:
    try:
        state.result()
    except (TransientError, OSError):
        return True
    except Exception:
        return False
    return False


@task(name="decode", task_run_name="decode-{dictation.job_id}", **TASK_OPTIONS)
def decode_task(dictation: Dictation, settings: Settings):
    started = time.perf_counter()
    try:
        return job.decode_step(dictation, settings), time.perf_counter() - started
    except BadInput as error:
        return job.quarantine_step(dictation, error, settings)


@task(name="transcribe", task_run_name="transcribe-{dictation.job_id}", **TASK_OPTIONS)
def transcribe_task(dictation: Dictation, decoded, settings: Settings):
    if isinstance(decoded, JobOutcome):
        return decoded
    samples, decode_s = decoded
    job.load_models(settings)  # once per worker process (a Dask worker's first task pays it)
    try:
        return job.transcribe_step(dictation, samples, settings, decode_s=decode_s)
    except BadInput as error:
        return job.quarantine_step(dictation, error, settings)


@task(name="understand", **TASK_OPTIONS)
def understand_task(heard, settings: Settings):
    return heard if isinstance(heard, JobOutcome) else job.understand_step(heard, settings)


# A transient failure (I/O, a full disk) is retried after a growing delay; bad input never is.
@task(name="draft", retries=2, retry_delay_seconds=[5, 30], retry_condition_fn=_is_transient, **TASK_OPTIONS)
def draft_task(understood, settings: Settings) -> JobOutcome:
    return understood if isinstance(understood, JobOutcome) else job.draft_step(understood, settings)


def _submit_job(dictation: Dictation, settings: Settings):
    decoded = decode_task.submit(dictation, settings)
    heard = transcribe_task.submit(dictation, decoded, settings)
    understood = understand_task.submit(heard, settings)
    return draft_task.submit(understood, settings)


def _settings(inbox: str | None, outbox: str | None, whisper_model: str | None, workers: int | None,
              practice: str | None = None) -> Settings:
    if practice is not None:  # a centre's practice, by its id: its own settings file alone
        from pipeline.practices import Centre

        centre = Centre()
        return centre.checked_settings(centre.by_id(practice), whisper_model=whisper_model, workers=workers)
    return load_settings(inbox=inbox, outbox=outbox, whisper_model=whisper_model, workers=workers)


@flow(name="process-backlog", task_runner=ThreadPoolTaskRunner(max_workers=4 * STAGES_PER_JOB), log_prints=False)
def process_backlog(
    inbox: str | None = None,
    outbox: str | None = None,
    whisper_model: str | None = None,
    workers: int | None = None,
    practice: str | None = None,
) -> list[JobOutcome]:
    """Every dictation waiting in the inbox (and any left unfinished), drafted or quarantined.
    `practice`: a centre's practice by its id, in place of its folders (no path reaches Prefect)."""
    settings = _settings(inbox, outbox, whisper_model, workers, practice)
    dictations, outcomes = job.begin_backlog(settings)
    if not dictations:
        return outcomes
    if settings.dask_address is None:
        job.load_models(settings)  # here, before the first task needs them
    in_flight = settings.workers + 1  # bounded: decoded audio of a long backlog stays out of memory
    pending = list(dictations)
    running = {_submit_job(dictation, settings): dictation.job_id
               for dictation in [pending.pop(0) for _ in range(min(in_flight, len(pending)))]}
    while running:
        finished = next(iter(as_completed(list(running))))
        outcome = _outcome_of(finished, running.pop(finished))
        progress.job_finished(outcome)  # here, not in the task: tasks may run on other machines
        log.info("job %s %s", outcome.job_id, outcome.status)
        outcomes.append(outcome)
        if pending:
            dictation = pending.pop(0)
            running[_submit_job(dictation, settings)] = dictation.job_id
    return outcomes


def backlog_flow(settings: Settings):
    """process_backlog on this machine's threads, or fanned out on the Dask cluster in settings."""
    if settings.dask_address is None:
        return process_backlog
    from prefect_dask import DaskTaskRunner

    return process_backlog.with_options(task_runner=DaskTaskRunner(address=settings.dask_address))


@flow(name="dictee-backlog", log_prints=False)
def deployed_backlog(inbox: str | None = None, outbox: str | None = None, practice: str | None = None):
    """The backlog as a Prefect worker runs it (registered by `dictee deploy`): the same flow as
    `dictee batch`, under the same one-run-per-outbox lock. The server gets counts, nothing else.
    `practice`: a centre's practice by its id, in place of its folders (no path reaches Prefect)."""
    settings = _deployed_settings(inbox, outbox, practice)
    if not isinstance(settings, Settings):
        return settings
    try:
        ingest.require_inbox(settings.inbox)  # e.g. the shared folder is not mounted on this worker
    except DicteeError as error:
        return Failed(message=str(error) if practice is None else f"practice {practice[:20]!r}: inbox not found")
    try:
        with ingest.exclusive_run(settings.work_dir):
            outcomes = backlog_flow(settings)(**_flow_folders(settings, practice))
    except ingest.AlreadyRunning:
        log.warning("another run is using this outbox: nothing left for this one")
        return {"skipped": 1}
    counts = dict(Counter(outcome.status for outcome in outcomes))
    if counts.get("failed"):
        return Failed(message=f"{counts['failed']} job(s) failed and will be resumed by the next run", data=counts)
    return counts


def _flow_folders(settings: Settings, practice_id: str | None) -> dict[str, str]:
    """What the backlog flow is told of where to work: a centre's practice by its id alone (no
    path reaches Prefect), else the inbox and outbox."""
    return {"practice": practice_id} if practice_id else {"inbox": str(settings.inbox), "outbox": str(settings.outbox)}


def _deployed_settings(inbox: str | None, outbox: str | None, practice: str | None, **overrides):
    """The settings of a deployed run, or what it returns instead: a centre's practice disabled
    since it was deployed is skipped; one removed, or whose settings no longer hold, fails, named
    by its id only (its name and folders stay off the server)."""
    if practice is None:
        return load_settings(inbox=inbox, outbox=outbox, **overrides)
    from pipeline.practices import Centre

    centre = Centre()
    try:
        chosen = centre.by_id(practice)
        if chosen.disabled:
            log.warning("practice %s is disabled: not served", practice)
            return {"skipped": 1}
        return centre.checked_settings(chosen, **overrides)
    except (DicteeError, ValueError, OSError) as error:  # ValueError: its file malformed (TOML, pydantic)
        return Failed(message=f"practice {practice[:20]!r}: its settings are refused ({type(error).__name__}); "
                              f"see dictee --practice … on this machine")


class ServerUnreachable(Exception):
    pass


def _unreachable_or(error: RuntimeError) -> Exception:
    """ServerUnreachable when Prefect could not reach its server (it says so only in its
    message), the error itself otherwise."""
    return ServerUnreachable(type(error).__name__) if "Failed to reach API" in str(error) else error


def api_url() -> str | None:
    """The Prefect server this machine is pointed at (PREFECT_API_URL), if any."""
    from prefect.settings import PREFECT_API_URL

    return PREFECT_API_URL.value()


def backlog_with_fallback(settings: Settings, *, whisper_model: str | None, workers: int | None,
                          on_fallback: Callable[[], None], practice_id: str | None = None) -> list[JobOutcome]:
    """The backlog through Prefect; when its server does not answer, the same stages without
    orchestration (`on_fallback` says so first). `practice_id`: a centre's practice."""
    try:
        return run_backlog_flow(settings, whisper_model=whisper_model, workers=workers, practice_id=practice_id)
    except ServerUnreachable:
        on_fallback()
        return job.run_backlog(settings)


def run_backlog_flow(settings: Settings, *, whisper_model: str | None, workers: int | None,
                     practice_id: str | None = None) -> list[JobOutcome]:
    """The backlog through Prefect; ServerUnreachable when the configured server does not answer,
    so the caller can fall back to the same stages without orchestration."""
    try:
        return backlog_flow(settings)(whisper_model=whisper_model, workers=workers,
                                      **_flow_folders(settings, practice_id))
    except RuntimeError as error:
        raise _unreachable_or(error) from None


@flow(name="dictee-adaptation", log_prints=False)
def deployed_adaptation(outbox: str | None = None, models_dir: str | None = None, practice: str | None = None):
    """One adaptation of the recognizer (`dictee adapt run`), as the nightly deployment runs it,
    then one per author with new letters of his own (`--author`). The server gets verdicts and
    figures: no text, no name (authors are numbered, their folders stay on this machine).
    `practice`: a centre's practice by its id, as for the backlog."""
    from pipeline.adapt.run import AdaptationError, authors_due, run_adaptation

    settings = _deployed_settings(None, outbox, practice, **({"models_dir": models_dir} if models_dir else {}))
    if not isinstance(settings, Settings):
        return settings
    summary: dict = {}
    for index, author in enumerate([None, *authors_due(settings)]):
        key = "practice" if author is None else f"author-{index}"
        try:
            result = run_adaptation(settings, author=author)
        except AdaptationError as error:  # too few examples yet, or a run already going: not a failure
            log.warning("%s: %s", key, error)
            summary[key] = {"skipped": 1}
            continue
        summary[key] = {"version": result.version, "promoted": result.promoted, "reason": result.verdict.reason,
                        "current": result.verdict.current.as_dict(), "candidate": result.verdict.candidate.as_dict(),
                        "training_s": result.training.seconds}
    return summary


def deploy_backlog(settings: Settings, *, pool: str, name: str, cron: str | None, practice_id: str | None = None) -> str:
    """Register `deployed_backlog` on the Prefect server for the process workers of `pool`
    (created if missing). Workers import it from the installed package: nothing is uploaded.
    A centre's practice is registered by its id (`<name>-<id>`), its folders read on the worker.
    Returns the deployment's full name."""
    if practice_id:
        name, parameters = f"{name}-{practice_id}", {"practice": practice_id}
    else:
        parameters = {"inbox": str(settings.inbox.resolve()), "outbox": str(settings.outbox.resolve())}
    return _deploy(deployed_backlog, pool=pool, name=name, cron=cron, parameters=parameters,
                   description="Dictée: every dictation waiting in the inbox, drafted or quarantined.")


def deploy_adaptation(settings: Settings, *, pool: str, cron: str, practice_id: str | None = None) -> str:
    """Register the nightly adaptation (`deployed_adaptation`) like the backlog."""
    if practice_id:
        name, parameters = f"nightly-{practice_id}", {"practice": practice_id}
    else:
        name = "nightly"
        parameters = {"outbox": str(settings.outbox.resolve()), "models_dir": str(settings.models_dir.resolve())}
    return _deploy(deployed_adaptation, pool=pool, name=name, cron=cron, parameters=parameters,
                   description="Dictée: adapt the recognizer to the letters reviewed; promoted only if better.")


def _deploy(deployed, *, pool: str, name: str, cron: str | None, parameters: dict, description: str) -> str:
    import httpx
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.deployments.runner import deploy
    from prefect.exceptions import ObjectNotFound
    from prefect.types.entrypoint import EntrypointType

    try:
        with get_client(sync_client=True) as client:
            try:
                client.read_work_pool(pool)
            except ObjectNotFound:
                client.create_work_pool(WorkPoolCreate(name=pool, type="process"))
    except (httpx.HTTPError, RuntimeError) as error:  # refused, timed out, or Prefect's "Failed to reach API"
        raise ServerUnreachable(type(error).__name__) from None
    deployment = deployed.to_deployment(
        name=name,
        cron=cron,
        concurrency_limit=1,  # a scheduled run and a manual one would only wait on the lock
        entrypoint_type=EntrypointType.MODULE_PATH,
        parameters=parameters,
        # Runs start where `dictee deploy` was run: its dictee.toml and relative folders apply.
        job_variables={"working_dir": str(Path.cwd())},
        description=description,
    )
    deploy(deployment, work_pool_name=pool, build=False, push=False, print_next_steps_message=False,
           ignore_warnings=True)
    return f"{deployed.name}/{name}"


def _outcome_of(future, job_id: str) -> JobOutcome:
    try:
        return future.result()
    except Exception as error:  # left in the work area; the next run resumes it
        return job.deferred(job_id, error)


@flow(name="process-dictation", flow_run_name="dictation-{job_id}", log_prints=False, retries=1, persist_result=False,
      retry_delay_seconds=10)
def process_dictation(
    job_id: str,
    outbox: str | None = None,
    whisper_model: str | None = None,
    inbox: str | None = None,
    practice: str | None = None,
) -> JobOutcome:
    """One claimed dictation (claimed by `dictee watch` or the caller), by job id: a flow run of
    its own, named by the job id only. Bad input ends quarantined (a completed run); a transient
    failure (I/O, a full disk) fails the run, which Prefect retries once. `practice`: a centre's
    practice by its id, whose settings give the folders (no path, no name reaches Prefect)."""
    settings = _settings(inbox, outbox, whisper_model, 1, practice)
    dictation = next((d for d in ingest.unfinished_claims(settings.work_dir) if d.job_id == job_id), None)
    if dictation is None:
        return JobOutcome(job_id=job_id, status="failed", reason="not_claimed")
    decoded = decode_task(dictation, settings)
    heard = transcribe_task(dictation, decoded, settings)
    outcome = draft_task(understand_task(heard, settings), settings)
    if outcome.status == "quarantined":
        log.warning("dictation %s quarantined: %s", job_id, outcome.reason)  # the code only, never the file name
        # Bad input is not a failure of the run, but the administrator sees it apart in the UI.
        return Completed(name="Quarantined", message=outcome.reason, data=outcome)
    return outcome


def mark_abandoned_runs(job_ids: list[str]) -> int:
    """Dictation runs a killed watcher left « Running » (their claims are being resumed now)
    are marked Crashed, so the UI shows no run that will never end. Returns how many."""
    if not job_ids:
        return 0
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterName, FlowRunFilterState, FlowRunFilterStateType
    from prefect.client.schemas.objects import StateType
    from prefect.states import Crashed

    names = [f"dictation-{job_id}" for job_id in job_ids]
    marked = 0
    try:
        with get_client(sync_client=True) as client:
            runs = client.read_flow_runs(flow_run_filter=FlowRunFilter(
                name=FlowRunFilterName(any_=names),
                state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.RUNNING, StateType.PENDING]))))
            for run in runs:
                client.set_flow_run_state(run.id, Crashed(message="watcher stopped mid-dictation; resumed by the next one"),
                                          force=True)
                marked += 1
    except Exception as error:  # bookkeeping only: never in the way of the dictations themselves
        log.warning("could not mark abandoned runs: %s", type(error).__name__)
    return marked


class WatchedDictations:
    """`dictee watch`'s hand-off of each claimed dictation: a Prefect run while the server answers;
    from the first time it does not, the same stages without orchestration (`on_fallback` says so,
    once). Returns None when a stop was asked mid-run (the claim stays, resumed at the next start)."""

    def __init__(self, settings: Settings, *, on_fallback: Callable[[], None]) -> None:
        self.settings, self.on_fallback, self.orchestrated = settings, on_fallback, True

    def without_orchestration(self) -> None:
        if self.orchestrated:  # said once; runs are not recorded afterwards, nor retroactively
            self.orchestrated = False
            self.on_fallback()

    def __call__(self, dictation: Dictation, stop_event, *, settings: Settings | None = None,
                 practice_id: str | None = None) -> JobOutcome | None:
        """`settings` and `practice_id`: a centre's practice the dictation belongs to."""
        settings = settings or self.settings
        if self.orchestrated:
            try:
                return watch_dictation(dictation, settings, practice_id)
            except StopRequested:
                stop_event.set()
                return None
            except ServerUnreachable:
                self.without_orchestration()
            except Exception as error:  # failed twice in Prefect: left claimed, tried again later
                return job.deferred(dictation.job_id, error)
        return job.run_job_or_defer(dictation, settings)

    def watch(self, watchers, *, max_seconds: float | None = None) -> None:
        """The day as one flow run, a run per dictation in it; without a server, the watchers
        alone. `watchers`: one inbox's, or a centre's practices' (sharing one stop event)."""
        from pipeline.watch import run_together, stop_on_signals

        watchers = watchers if isinstance(watchers, list) else [watchers]
        try:
            watch_inbox(watchers, max_seconds=max_seconds)
        except ServerUnreachable:
            self.without_orchestration()  # at start; a server lost during the day was said when it happened
            if not watchers[0].started:
                stop_on_signals(watchers[0].stop_event)
                run_together(watchers, max_seconds=max_seconds)


def watch_inbox(watchers: list, *, max_seconds: float | None = None) -> dict:
    """`dictee watch` as one long-lived `watch-inbox` flow run (named by its start time), in
    which each dictation is a `process-dictation` run of its own. Returns the day's counts.
    ServerUnreachable when the Prefect server does not answer at start."""
    from pipeline.watch import run_together, stop_on_signals

    started = time.strftime("%Y-%m-%d %H:%M")

    @flow(name="watch-inbox", flow_run_name=f"watch-inbox-{started}", log_prints=False, persist_result=False)
    def watch_inbox_flow() -> dict:
        # Prefect swaps in its own SIGTERM handler for a run; the watcher's comes back, so a
        # stop request between dictations ends this run Completed, not Crashed.
        stop_on_signals(watchers[0].stop_event)
        mark_abandoned_runs([claim.job_id for watcher in watchers
                             for claim in ingest.unfinished_claims(watcher.settings.work_dir)])
        run_together(watchers, max_seconds=max_seconds)
        return dict(sum((watcher.counts for watcher in watchers), Counter()))

    try:
        return watch_inbox_flow()
    except RuntimeError as error:
        raise _unreachable_or(error) from None


def watch_dictation(dictation: Dictation, settings: Settings, practice_id: str | None = None) -> JobOutcome:
    """`dictee watch`'s hand-off: the claimed dictation as a `process-dictation` flow run, in this
    process (the models stay loaded). ServerUnreachable when the Prefect server does not answer."""
    from prefect.exceptions import TerminationSignal

    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings

    own_handler = signal.getsignal(signal.SIGTERM)  # Prefect installs its own while a run lasts
    try:
        # No heartbeat thread for a dictation's run: it ends long before a first beat is due, and
        # Prefect waits for that thread's one-second sleep to end (+0.5 s a dictation, measured).
        # The watcher's own long `watch-inbox` run keeps its heartbeats.
        with temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
            model = str(settings.whisper_model) if settings.whisper_model else None
            if practice_id is not None:  # the practice by its id: its folders may carry its name
                return process_dictation(job_id=dictation.job_id, practice=practice_id, whisper_model=model)
            return process_dictation(job_id=dictation.job_id, outbox=str(settings.outbox), inbox=str(settings.inbox),
                                     whisper_model=model)
    except TerminationSignal:
        raise StopRequested from None  # asked to stop mid-run: the claim stays and is resumed at the next start
    except RuntimeError as error:
        raise _unreachable_or(error) from None
    finally:
        signal.signal(signal.SIGTERM, own_handler)


class StopRequested(Exception):
    """SIGTERM arrived while a dictation's flow run was under way."""
