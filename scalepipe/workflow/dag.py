"""An Apache Airflow 3 DAG (TaskFlow) for a workflow: one task per step, with the same
schedule and time zone, retries (exponential backoff), timeouts, dependencies and
trigger rules. The workflow travels inside the DAG file, so the file alone is the DAG;
each task runs its step through scalepipe in the Airflow worker (scalepipe/workflow/task.py)."""

from __future__ import annotations

import datetime as dt
import pprint
import re
from pathlib import Path

from scalepipe.workflow.spec import Workflow

_TEMPLATE = '''"""Airflow DAG written by `scalepipe workflow airflow` from {source}.
Write it again rather than edit it. Its tasks need scalepipe in the Airflow workers'
environment: pip install 'scalepipe[workflow]'."""

import datetime

import pendulum
from airflow.sdk import dag, task

WORKFLOW = {workflow}


@dag(
    dag_id={dag_id!r},
    schedule={schedule!r},
    start_date=pendulum.datetime({start.year}, {start.month}, {start.day}, tz={timezone!r}),
    catchup={catchup!r},
    max_active_runs=1,
    tags=["scalepipe"],
    doc_md=__doc__,
)
def {function}():
{tasks}
{edges}

{function}()
'''
_TASK = """    @task(
        task_id={name!r},
        retries={retries},
        retry_delay=datetime.timedelta(seconds={delay!r}),
        retry_exponential_backoff=True,
        execution_timeout=datetime.timedelta(seconds={timeout!r}),
        trigger_rule={trigger!r},
    )
    def {function}(**context):
        from scalepipe.workflow.task import run_task  # in the task: the DAG parses fast

        return run_task(WORKFLOW, {name!r}, context)

    {variable} = {function}()
"""


def dag_source(workflow: Workflow, *, start: dt.date | None = None) -> str:
    functions = {name: f"step_{index}_{_identifier(name)}" for index, name in
                 enumerate(workflow.order())}  # fmt: skip
    tasks = "\n".join(
        _TASK.format(
            name=name,
            retries=step.retries,
            delay=step.retry_delay,
            timeout=step.timeout,
            trigger=step.trigger,
            function=functions[name],
            variable=f"{functions[name]}_task",
        )
        for name, step in ((name, workflow.steps[name]) for name in workflow.order())
    )
    edges = "\n".join(
        f"    [{', '.join(f'{functions[before]}_task' for before in step.after)}] >> "
        f"{functions[name]}_task"
        for name, step in workflow.steps.items()
        if step.after
    )
    begin = start or dt.date.today() - dt.timedelta(days=1)
    return _TEMPLATE.format(
        source=workflow.source.name if workflow.source else "a workflow",
        workflow=pprint.pformat(dict(workflow.raw), sort_dicts=False, width=92),
        dag_id=workflow.name,
        schedule=workflow.schedule,
        start=begin,
        timezone=workflow.timezone,
        catchup=workflow.catchup,
        function=_identifier(workflow.name),
        tasks=tasks,
        edges=edges,
    )


def write_dag(workflow: Workflow, folder: Path, *, start: dt.date | None = None) -> Path:
    """The DAG file; `start`: its start_date (default yesterday). Airflow runs no task
    for a logical date before it, backfills and `airflow dags test` included."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"scalepipe_{_identifier(workflow.name)}.py"
    partial = path.with_name(f".{path.name}.part")
    partial.write_text(dag_source(workflow, start=start))
    partial.replace(path)  # the DAG processor never reads half a file
    return path


def _identifier(name: str) -> str:
    return re.sub(r"\W", "_", name)
