"""Workflows: the cost of scalepipe's runner and scheduler, and the book's chapter 5
workflow on Apache Airflow 3 (from the DAG `scalepipe workflow airflow` writes).

(a) DAG parse time: Airflow's DagBag loading the DAG file (goal <= 0.5 s);
(b) `dag.test()` of the book's workflow, end to end, first run (goal <= 60 s);
(c) the built-in scheduler's drift from the schedule: a fake-clock day of a 5-minute
    schedule whose runs take 0-4 minutes, and 30 s of a 5-second schedule on the real
    clock;
(d) a workflow run against the same steps called by hand in one process (the library
    calls the steps make), median of --runs: the overhead of forking each step, the
    history rows and the lock.

    python benchmarks/workflow.py [--runs 5]      (Airflow: make .venv-airflow first)
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "ch5_workflow.toml"
AIRFLOW = ROOT / ".venv-airflow" / "bin"
PARSE = """
import json, sys, time
from airflow.dag_processing.dagbag import DagBag
started = time.perf_counter()
bag = DagBag(dag_folder=sys.argv[1])
print(json.dumps({"seconds": time.perf_counter() - started, "errors": len(bag.import_errors)}))
"""
TEST = """
import datetime, json, sys, time
from airflow.dag_processing.dagbag import DagBag
dag = DagBag(dag_folder=sys.argv[1]).get_dag("natality")
started = time.perf_counter()
run = dag.test(logical_date=datetime.datetime.fromisoformat(sys.argv[2]))
print(json.dumps({"seconds": time.perf_counter() - started, "state": str(run.state)}))
"""


def airflow_figures(folder: Path) -> dict[str, float]:
    from scalepipe.workflow import load_workflow
    from scalepipe.workflow.dag import write_dag

    home = folder / "airflow"
    write_dag(load_workflow(EXAMPLE), home / "dags", start=dt.date(2026, 11, 1))  # before 12-01
    environment = os.environ | {
        "AIRFLOW_HOME": str(home), "AIRFLOW__CORE__DAGS_FOLDER": str(home / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "SCALEPIPE_STORE": str(folder / "airflow-models"),
        "SCALEPIPE_WAREHOUSE": str(folder / "airflow-warehouse.duckdb"),
    }  # fmt: skip
    subprocess.run([str(AIRFLOW / "airflow"), "db", "migrate"], env=environment,
                   capture_output=True, check=True)  # fmt: skip

    def script(code: str, *args: str) -> dict[str, Any]:
        done = subprocess.run([str(AIRFLOW / "python"), "-c", code, *args], env=environment,
                              capture_output=True, text=True, check=True)  # fmt: skip
        figures: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
        return figures

    parse = statistics.median(script(PARSE, str(home / "dags"))["seconds"] for _ in range(3))
    tested = script(TEST, str(home / "dags"), "2026-12-01T06:00:00+00:00")
    assert tested["state"] == "success", tested
    return {"parse": parse, "test": tested["seconds"]}


def drift_figures() -> dict[str, float]:
    from scalepipe.workflow import parse_workflow
    from scalepipe.workflow.scheduler import Firing, ManualClock, schedule

    def workflow(cron: str) -> Any:
        steps = {"a": {"kind": "run", "command": "true"}}
        return parse_workflow({"schedule": cron, "steps": steps}, default_name="drift")

    start = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
    clock = ManualClock(start)
    chance = random.Random(0)
    fake: list[float] = []

    def run(firing: Firing) -> None:
        fake.append((firing.started - firing.due).total_seconds())
        clock.time += dt.timedelta(seconds=chance.uniform(0, 240))

    schedule(workflow("*/5 * * * *"), run, clock=clock, until=start + dt.timedelta(days=1))
    real: list[float] = []
    begin = dt.datetime.now(dt.UTC)
    schedule(
        workflow("* * * * * */5"),
        lambda firing: real.append((dt.datetime.now(dt.UTC) - firing.due).total_seconds()),
        until=begin + dt.timedelta(seconds=30),
    )
    return {"fake_runs": len(fake), "fake_max": max(fake), "real_runs": len(real),
            "real_median": statistics.median(real), "real_max": max(real)}  # fmt: skip


def overhead_figures(folder: Path, runs: int) -> dict[str, float]:
    from scalepipe.batch import score
    from scalepipe.config import Settings
    from scalepipe.io import open_source
    from scalepipe.io.warehouse import open_warehouse
    from scalepipe.workflow import load_workflow, run_workflow

    os.environ["SCALEPIPE_STORE"] = str(folder / "models")
    os.environ["SCALEPIPE_WAREHOUSE"] = str(folder / "warehouse.duckdb")
    workflow = load_workflow(EXAMPLE)
    run_workflow(workflow, dt.date(2026, 12, 1))  # trains and promotes the champion
    settings = Settings.load()

    def by_hand(day: dt.date) -> None:
        source = open_source(f"dataset:natality?rows=5000&seed={day:%Y%m%d}", settings=settings)
        open_warehouse(settings.warehouse).write("natality_new", source.read_batches(None))
        score("natality@champion", "table:natality_new",
              "table:natality_predictions?mode=append", keys=["guid"],
              run_id=f"natality-{day}-score", settings=settings)  # fmt: skip

    def timed(call: object) -> float:
        started = time.perf_counter()
        call()  # type: ignore[operator]
        return time.perf_counter() - started

    wednesday = dt.date(2026, 12, 2)  # load and score; the weekly steps are not due
    hand = statistics.median(timed(lambda: by_hand(wednesday)) for _ in range(runs))
    flow = statistics.median(timed(lambda: run_workflow(workflow, wednesday)) for _ in range(runs))
    return {"hand": hand, "workflow": flow}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        overhead = overhead_figures(folder, options.runs)
        drift = drift_figures()
        airflow = airflow_figures(folder) if (AIRFLOW / "python").exists() else None
    rows = [
        ("(a) Airflow DagBag parse of the DAG, s (goal <= 0.5)",
         f"{airflow['parse']:.3f}" if airflow else "no .venv-airflow"),
        ("(b) Airflow dag.test() of the book's workflow, first run, s (goal <= 60)",
         f"{airflow['test']:.1f}" if airflow else "no .venv-airflow"),
        (f"(c) scheduler, fake-clock day, {drift['fake_runs']:.0f} runs taking 0-4 min: "
         "max drift, s", f"{drift['fake_max']:.3f}"),
        (f"(c) scheduler, real clock, {drift['real_runs']:.0f} runs every 5 s: median / max "
         "drift, ms", f"{drift['real_median'] * 1e3:.1f} / {drift['real_max'] * 1e3:.1f}"),
        ("(d) load + score by hand, s (median)", f"{overhead['hand']:.2f}"),
        ("(d) the same as a workflow run (5 steps, 3 not due), s (median)",
         f"{overhead['workflow']:.2f}"),
        ("(d) overhead of the workflow run",
         f"{overhead['workflow'] - overhead['hand']:+.2f} s "
         f"({overhead['workflow'] / overhead['hand'] - 1:+.0%})"),
    ]  # fmt: skip
    print("| case | figure |")
    print("|---|---:|")
    for name, figure in rows:
        print(f"| {name} | {figure} |")


if __name__ == "__main__":
    main()
