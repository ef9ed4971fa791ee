"""One run of a workflow for one logical date: the steps in dependency order, each in a
process of its own (so that a timeout can stop it), retried with a doubling delay, each
recorded in the run history as it ends. A failed step skips the steps after it. A step
that is not due (its `when` does not match the date) or whose gate held is not a failure:
the steps after it run if they say trigger = "none_failed", else they are not due."""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import multiprocessing
import os
import secrets
import signal
import time
import traceback
import zoneinfo
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from scalepipe.config import Settings
from scalepipe.errors import ConfigError, ScalepipeError
from scalepipe.workflow import history
from scalepipe.workflow.results import (
    FAILED,
    HELD,
    NOT_DUE,
    RUNNING,
    SKIPPED,
    SUCCEEDED,
    RunResult,
    StepRun,
)
from scalepipe.workflow.spec import Step, Workflow
from scalepipe.workflow.steps import GateClosed, Outcome, StepContext, run_step
from scalepipe.workflow.template import fill, variables

Event = Callable[[RunResult, str], None]  # (the run so far, the step that changed)


def today(workflow: Workflow) -> dt.date:
    """The date now in the workflow's time zone: the logical date of a run started now."""
    return dt.datetime.now(zoneinfo.ZoneInfo(workflow.timezone)).date()


def run_workflow(
    workflow: Workflow,
    logical_date: dt.date | None = None,
    *,
    settings: Settings | None = None,
    on_event: Event | None = None,
    sleep: Callable[[float], None] = time.sleep,
    scheduled: dt.datetime | None = None,
) -> RunResult:
    """Run every step for `logical_date` (default: today in the workflow's time zone);
    never beside another run of the same workflow on this machine."""
    settings = settings or Settings.load()
    with exclusive(workflow.name, settings):
        return _run(workflow, logical_date, settings, on_event, sleep, scheduled)


def _run(
    workflow: Workflow,
    logical_date: dt.date | None,
    settings: Settings,
    on_event: Event | None,
    sleep: Callable[[float], None],
    scheduled: dt.datetime | None,
) -> RunResult:
    if settings.warehouse in (":memory:", "duckdb:///:memory:"):
        raise ConfigError(
            "a workflow's steps run in processes of their own and share the warehouse: "
            "give it a file (SCALEPIPE_WAREHOUSE=warehouse.duckdb), not :memory:"
        )
    from scalepipe.io.warehouse import open_warehouse

    warehouse = open_warehouse(settings.warehouse)
    logical_date = logical_date or today(workflow)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S")
    run = RunResult(
        run_id=f"{workflow.name}-{logical_date:%Y%m%d}-{stamp}-{secrets.token_hex(2)}",
        workflow=workflow.name,
        logical_date=logical_date,
        steps={name: StepRun(kind=step.kind) for name, step in workflow.steps.items()},
        scheduled=scheduled,
    )
    known = variables(workflow.name, logical_date, run.run_id)
    notify = on_event or (lambda run, step: None)
    # A step that ran is recorded as it ends; one that did not joins the next write.
    unrecorded: list[str] = []
    for name in workflow.order():
        step, state = workflow.steps[name], run.steps[name]
        before = {run.steps[needed].status for needed in step.after}
        if before & {FAILED, SKIPPED}:
            state.status, state.note = SKIPPED, "a step before it failed"
        elif step.trigger == "all_success" and before - {SUCCEEDED}:
            state.status, state.note = NOT_DUE, "a step before it did not run"
        elif not is_due(step, logical_date, settings):
            state.status, state.note = NOT_DUE, f"not due on {logical_date}"
        else:
            _run_one(workflow, step, state, run, known, settings, notify, sleep)
        unrecorded.append(name)
        if state.attempts:
            history.record(warehouse, run, unrecorded)
            unrecorded = []
        notify(run, name)
    history.record(warehouse, run, unrecorded)
    return run


def is_due(step: Step, logical_date: dt.date, settings: Settings) -> bool:
    """Whether the step runs on `logical_date`: its `when` cron fires that day (or it has
    none), or the model its `or_if_missing` names does not resolve."""
    if step.when is None:
        return True
    from croniter import croniter

    midnight = dt.datetime.combine(logical_date, dt.time())
    # A cron matches a date when it fires at some minute of that day.
    fires = croniter(step.when, midnight - dt.timedelta(minutes=1)).get_next(dt.datetime)
    if fires.date() == logical_date:
        return True
    if step.or_if_missing:
        from scalepipe.errors import StoreError
        from scalepipe.store import ModelStore

        try:
            ModelStore(settings.store).resolve(step.or_if_missing)
        except StoreError:
            return True
    return False


def _run_one(
    workflow: Workflow,
    step: Step,
    state: StepRun,
    run: RunResult,
    known: Mapping[str, str],
    settings: Settings,
    notify: Event,
    sleep: Callable[[float], None],
) -> None:
    earlier = {name: done.outcome for name, done in run.steps.items() if done.outcome}
    params, context = step_context(workflow, step, known, settings, earlier)
    state.started = history.utc_now()
    delay = step.retry_delay
    while True:
        state.attempts += 1
        state.status = RUNNING
        notify(run, step.name)
        try:
            state.outcome = _attempt(step, params, context)
        except GateClosed as closed:
            state.status, state.note = HELD, str(closed)
            break
        except ScalepipeError as error:
            state.error = str(error)
            if state.attempts > step.retries:
                state.status = FAILED
                break
            state.note = f"retrying in {delay:g} s: {error}"
            notify(run, step.name)
            sleep(delay)
            delay *= 2
        else:
            state.status, state.error, state.note = SUCCEEDED, None, ""
            break
    state.ended = history.utc_now()


def step_context(
    workflow: Workflow,
    step: Step,
    known: Mapping[str, str],
    settings: Settings,
    earlier: Mapping[str, Outcome],
) -> tuple[dict[str, Any], StepContext]:
    """The step's settings with the run's variables filled in, and its context."""
    params = fill(dict(step.params), known, f"step {step.name!r}")
    return params, StepContext(
        workflow=workflow.name,
        step=step.name,
        data_run_id=f"{workflow.name}-{known['ds']}-{step.name}",
        variables=known,
        settings=settings,
        earlier=earlier,
    )


@contextlib.contextmanager
def exclusive(name: str, settings: Settings) -> Iterator[None]:
    """Hold the workflow's lock file (in the cache folder) for the run; a second run of
    the workflow while this one holds it is refused."""
    folder = Path(settings.cache_dir) / "workflow-locks"
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / f"{name}.lock").open("a+") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.seek(0)
            holder = lock.read().strip() or "another process"
            raise ConfigError(
                f"workflow {name} is already running ({holder}); one run at a time"
            ) from None
        lock.seek(0)
        lock.truncate()
        lock.write(f"pid {os.getpid()}")
        lock.flush()
        try:
            yield
        finally:
            lock.truncate(0)
            fcntl.flock(lock, fcntl.LOCK_UN)


class StepFailed(ScalepipeError):
    """A step's error, as its process reported it."""


def _attempt(step: Step, params: Mapping[str, Any], context: StepContext) -> Outcome:
    """Run the step in a forked process; past its timeout the process is killed."""
    forked = multiprocessing.get_context("fork")
    receiver, sender = forked.Pipe(duplex=False)
    process = forked.Process(target=_child, args=(sender, step.kind, params, context), daemon=True)
    process.start()
    sender.close()
    group = process.pid
    assert group is not None  # started
    try:
        if not receiver.poll(step.timeout):
            # The step's process leads a group of its own: its children (a shell
            # command's) go with it.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(group, signal.SIGKILL)
            raise StepFailed(f"timed out after {step.timeout:g} s")
        try:
            status, payload = receiver.recv()
        except EOFError:
            process.join()
            raise StepFailed(f"its process died (exit code {process.exitcode})") from None
    finally:
        receiver.close()
        process.join()
    if status == "ok":
        outcome: Outcome = payload
        return outcome
    if status == "held":
        raise GateClosed(payload)
    raise StepFailed(payload)


def _child(sender: Any, kind: str, params: Mapping[str, Any], context: StepContext) -> None:
    os.setsid()
    try:
        sender.send(("ok", run_step(kind, params, context)))
    except GateClosed as closed:
        sender.send(("held", str(closed)))
    except ScalepipeError as error:
        sender.send(("error", str(error)))
    except Exception as error:  # a bug: the step fails with where it happened
        frame = traceback.extract_tb(error.__traceback__)[-1]
        sender.send(("error", f"{type(error).__name__}: {error} ({frame.filename}:{frame.lineno})"))
    finally:
        sender.close()
