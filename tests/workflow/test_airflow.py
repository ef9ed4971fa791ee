"""The DAG `scalepipe workflow airflow` writes, loaded and run by Apache Airflow 3 itself,
in its own virtual environment (.venv-airflow, made by `make test`) with scalepipe
installed next to it as a user would."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from scalepipe.config import Settings
from scalepipe.io.warehouse import open_warehouse
from scalepipe.store import ModelStore
from scalepipe.workflow import load_workflow
from scalepipe.workflow.dag import write_dag
from scalepipe.workflow.history import read
from tests.workflow.test_spec import EXAMPLE

pytestmark = pytest.mark.slow
AIRFLOW_PYTHON = Path(__file__).parents[2] / ".venv-airflow" / "bin" / "python"
LOAD = """
import json, sys, time
from airflow.dag_processing.dagbag import DagBag
started = time.perf_counter()
bag = DagBag(dag_folder=sys.argv[1])
dag = bag.get_dag("natality")
print(json.dumps({
    "errors": {path: str(error) for path, error in bag.import_errors.items()},
    "seconds": time.perf_counter() - started,
    "schedule": str(dag.schedule), "max_active_runs": dag.max_active_runs,
    "tasks": {task.task_id: {"upstream": sorted(task.upstream_task_ids),
                             "retries": task.retries, "trigger_rule": task.trigger_rule.value,
                             "timeout": task.execution_timeout.total_seconds()}
              for task in dag.tasks},
}))
"""
TEST = """
import datetime, json, sys
from airflow.dag_processing.dagbag import DagBag
dag = DagBag(dag_folder=sys.argv[1]).get_dag("natality")
run = dag.test(logical_date=datetime.datetime.fromisoformat(sys.argv[2]))
print(json.dumps({"state": str(run.state),
                  "tasks": {ti.task_id: str(ti.state) for ti in run.get_task_instances()}}))
"""


def airflow(script: str, *args: str, home: Path) -> dict[str, Any]:
    assert AIRFLOW_PYTHON.is_file(), "make test installs Airflow into .venv-airflow"
    environment = os.environ | {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(home / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    }
    done = subprocess.run([str(AIRFLOW_PYTHON), "-c", script, *args], capture_output=True,
                          text=True, env=environment, timeout=600, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


@pytest.fixture
def airflow_home(tmp_path: Path) -> Path:
    home = tmp_path / "airflow"
    # The DAG starts before the dates the tests run (Airflow runs no task before it).
    write_dag(load_workflow(EXAMPLE), home / "dags", start=dt.date(2026, 11, 1))
    migrate = [str(AIRFLOW_PYTHON.parent / "airflow"), "db", "migrate"]
    subprocess.run(migrate, env=os.environ | {"AIRFLOW_HOME": str(home)}, capture_output=True,
                   check=True, timeout=300)  # fmt: skip
    return home


def test_the_dagbag_loads_the_dag_with_the_workflows_shape(airflow_home: Path) -> None:
    loaded = airflow(LOAD, str(airflow_home / "dags"), home=airflow_home)
    assert loaded["errors"] == {}
    assert loaded["schedule"] == "0 6 * * *" and loaded["max_active_runs"] == 1
    tasks = loaded["tasks"]
    assert tasks["evaluate"]["upstream"] == ["load_new_births", "retrain"]
    assert tasks["score"]["trigger_rule"] == "none_failed"
    assert tasks["retrain"]["retries"] == 2 and tasks["retrain"]["timeout"] == 1800.0


def test_dag_test_runs_the_books_workflow_end_to_end(airflow_home: Path) -> None:
    dags = str(airflow_home / "dags")
    tuesday = airflow(TEST, dags, "2026-12-01T06:00:00+00:00", home=airflow_home)
    assert tuesday == {"state": "success", "tasks": dict.fromkeys(
        ["evaluate", "load_new_births", "promote", "retrain", "score"], "success")}  # fmt: skip
    wednesday = airflow(TEST, dags, "2026-12-02T06:00:00+00:00", home=airflow_home)
    assert wednesday["state"] == "success"
    assert wednesday["tasks"] == {"load_new_births": "success", "retrain": "skipped",
                                  "evaluate": "skipped", "promote": "skipped",
                                  "score": "success"}  # fmt: skip

    settings = Settings.load()
    assert ModelStore(settings.store).aliases("natality") == {"candidate": 1, "champion": 1}
    warehouse = open_warehouse(settings.warehouse)
    scored = warehouse.query("SELECT run_id, count(*) AS n FROM natality_predictions "
                             "GROUP BY run_id ORDER BY run_id")  # fmt: skip
    assert scored.to_dict("records") == [
        {"run_id": "natality-2026-12-01-score", "n": 5000},
        {"run_id": "natality-2026-12-02-score", "n": 5000},
    ]
    history = read(warehouse, "natality", runs=20)
    by_date = {
        date: dict(zip(rows["step"], rows["status"], strict=True))
        for date, rows in history.groupby("logical_date")
    }
    assert by_date["2026-12-01"] == dict.fromkeys(
        ["load_new_births", "retrain", "evaluate", "promote", "score"], "succeeded")  # fmt: skip
    # Airflow itself skips the tasks after a skipped one: they never start.
    assert by_date["2026-12-02"] == {"load_new_births": "succeeded", "retrain": "not due",
                                     "score": "succeeded"}  # fmt: skip
