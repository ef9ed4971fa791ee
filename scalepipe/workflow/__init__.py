"""Scheduled workflows: the book's chapter 5 batch job and retraining behind a quality
gate, run once, on a schedule, from cron or as an Airflow DAG."""

from scalepipe.workflow.results import RunResult
from scalepipe.workflow.runner import run_workflow, today
from scalepipe.workflow.spec import Step, Workflow, load_workflow, parse_workflow

__all__ = [
    "RunResult",
    "Step",
    "Workflow",
    "load_workflow",
    "parse_workflow",
    "run_workflow",
    "today",
]
