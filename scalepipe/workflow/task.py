"""One step of a workflow run as an Airflow task (the DAGs `scalepipe workflow airflow`
writes call this): the step's outcome goes to XCom for the steps after it; a step that
is not due, or whose quality gate holds, is skipped (Airflow's trigger rules then decide
what runs after it, as scalepipe's runner does); each task is recorded in the history."""

from __future__ import annotations

import dataclasses
import re
import zoneinfo
from collections.abc import Mapping
from typing import Any

from scalepipe.config import Settings
from scalepipe.workflow import history
from scalepipe.workflow.results import FAILED, HELD, NOT_DUE, SUCCEEDED, RunResult, StepRun
from scalepipe.workflow.runner import is_due, step_context
from scalepipe.workflow.spec import parse_workflow
from scalepipe.workflow.steps import GateClosed, Outcome, run_step
from scalepipe.workflow.template import variables


def run_task(raw: Mapping[str, Any], step_name: str, context: Mapping[str, Any]) -> dict[str, Any]:
    from airflow.exceptions import AirflowSkipException

    workflow = parse_workflow(dict(raw), default_name=str(raw.get("name", "workflow")))
    step = workflow.steps[step_name]
    settings = Settings.load()
    when = context.get("logical_date") or context["dag_run"].run_after
    day = when.astimezone(zoneinfo.ZoneInfo(workflow.timezone)).date()
    run_id = re.sub(r"[^A-Za-z0-9_.-]", "_", f"{workflow.name}-{context['run_id']}")
    instance = context["ti"]
    earlier = {}
    for before in step.after:
        pulled = instance.xcom_pull(task_ids=before)
        if pulled:
            earlier[before] = Outcome(**pulled)
    state = StepRun(kind=step.kind, attempts=int(getattr(instance, "try_number", 1) or 1))
    run = RunResult(run_id, workflow.name, day, {step_name: state})
    state.started = history.utc_now()
    try:
        if not is_due(step, day, settings):
            state.status, state.note = NOT_DUE, f"not due on {day}"
            raise AirflowSkipException(state.note)
        params, step_settings = step_context(
            workflow, step, variables(workflow.name, day, run_id), settings, earlier
        )
        try:
            state.outcome = run_step(step.kind, params, step_settings)
        except GateClosed as held:
            state.status, state.note = HELD, str(held)
            raise AirflowSkipException(str(held)) from None
        state.status = SUCCEEDED
    except AirflowSkipException:
        raise
    except Exception as error:
        state.status, state.error = FAILED, str(error)
        raise
    finally:
        state.ended = history.utc_now()
        from scalepipe.io.warehouse import open_warehouse

        history.record(open_warehouse(settings.warehouse), run, [step_name])
    return dataclasses.asdict(state.outcome) if state.outcome else {}


__all__ = ["run_task"]
