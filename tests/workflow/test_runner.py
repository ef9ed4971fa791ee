"""Runs of workflows on the real warehouse, store and model server: the book's chapter 5
job from a fresh machine, reruns, the quality gate, retries, timeouts, the history."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
import requests

from scalepipe.config import Settings
from scalepipe.io.warehouse import open_warehouse
from scalepipe.predict import Predictor
from scalepipe.store import ModelStore
from scalepipe.workflow import load_workflow, parse_workflow, run_workflow
from scalepipe.workflow.history import read
from tests.serve.conftest import start_server, wait_for_url
from tests.workflow.test_spec import EXAMPLE

TUESDAY, WEDNESDAY, MONDAY = dt.date(2026, 12, 1), dt.date(2026, 12, 2), dt.date(2026, 12, 7)


def statuses(run: Any) -> dict[str, str]:
    return {name: step.status for name, step in run.steps.items()}


def predictions() -> Any:
    return open_warehouse(Settings.load().warehouse).query(
        "SELECT * FROM natality_predictions ORDER BY guid"
    )


def books_workflow(step_name: str = "promote", **changed: Any) -> Any:
    """The example, with one step's settings changed."""
    workflow = load_workflow(EXAMPLE)
    step = workflow.steps[step_name]
    steps = dict(workflow.steps)
    steps[step_name] = type(step)(**{**step.__dict__, "params": {**step.params, **changed}})
    return type(workflow)(**{**workflow.__dict__, "steps": steps})


def test_the_first_run_on_a_fresh_machine_trains_promotes_and_scores() -> None:
    run = run_workflow(load_workflow(EXAMPLE), TUESDAY)
    assert statuses(run) == dict.fromkeys(run.steps, "succeeded"), run.steps
    # No champion yet: retrain ran on a Tuesday, the candidate passed the thresholds.
    store = ModelStore(Settings.load().store)
    assert store.aliases("natality") == {"candidate": 1, "champion": 1}
    evaluated = run.steps["evaluate"].outcome
    assert evaluated is not None and evaluated.metrics["r2"] > 0.2

    scored = predictions()
    assert len(scored) == 5000 and set(scored["model_version"]) == {1}
    assert scored["run_id"].unique().tolist() == ["natality-2026-12-01-score"]
    new = open_warehouse(Settings.load().warehouse).query(
        "SELECT * FROM natality_new ORDER BY guid"
    )
    champion = Predictor.load("natality@champion", store=store)
    expected = champion.predict_frame(new.head(20))
    assert scored["prediction"].head(20).tolist() == pytest.approx(list(expected))

    history = read(open_warehouse(Settings.load().warehouse), "natality")
    assert history["step"].tolist() == ["load_new_births", "retrain", "evaluate", "promote",
                                        "score"]  # fmt: skip
    assert set(history["status"]) == {"succeeded"} and history["rows"].iloc[0] == 5000


def test_a_rerun_of_a_date_replaces_its_predictions_and_the_next_day_adds() -> None:
    workflow = load_workflow(EXAMPLE)
    run_workflow(workflow, TUESDAY)
    again = run_workflow(workflow, TUESDAY)
    assert again.steps["retrain"].status == "not due"  # a champion exists now
    assert statuses(again)["score"] == "succeeded"
    assert len(predictions()) == 5000
    next_day = run_workflow(workflow, WEDNESDAY)
    assert statuses(next_day) == {"load_new_births": "succeeded", "retrain": "not due",
                                  "evaluate": "not due", "promote": "not due",
                                  "score": "succeeded"}  # fmt: skip
    assert len(predictions()) == 10_000
    assert ModelStore(Settings.load().store).versions("natality") == [1]


def test_the_gate_keeps_the_champion_when_the_candidate_is_not_better_by_the_margin() -> None:
    run_workflow(load_workflow(EXAMPLE), TUESDAY)
    monday = run_workflow(books_workflow(margin=0.5), MONDAY)
    promote = monday.steps["promote"]
    assert promote.status == "held" and monday.ok
    assert "natality:2 stays a candidate: r2" in promote.note
    assert "does not beat the champion's" in promote.note
    store = ModelStore(Settings.load().store)
    assert store.aliases("natality") == {"candidate": 2, "champion": 1}
    assert monday.steps["score"].status == "succeeded"  # scored by the champion, v1
    assert set(predictions()["model_version"]) == {1}


def test_evaluate_reads_at_most_max_rows_held_out_rows() -> None:
    wrong = run_workflow(books_workflow("evaluate", max_rows=0), TUESDAY)
    assert wrong.steps["evaluate"].status == "failed"
    assert "max_rows must be a whole number >= 1, not 0" in str(wrong.steps["evaluate"].error)
    run = run_workflow(books_workflow("evaluate", max_rows=1234), TUESDAY)
    evaluated = run.steps["evaluate"]
    assert evaluated.status == "succeeded" and evaluated.outcome is not None
    assert evaluated.outcome.rows == 1234 and "on 1,234 held-out rows" in evaluated.outcome.detail


def test_a_promotion_reaches_a_server_that_refreshes_without_a_restart() -> None:
    run_workflow(load_workflow(EXAMPLE), TUESDAY)
    settings = Settings.load()
    process = start_server("--store", settings.store, "--refresh", "0.5", "natality")
    try:
        url = wait_for_url(process)
        row = open_warehouse(settings.warehouse).query("SELECT * FROM natality_new LIMIT 1")
        record = {str(k): v for k, v in row.drop(columns=["weight_pounds", "guid"]).iloc[0].items()}

        def served_version() -> str:
            answer = requests.post(f"{url}/v1/models/natality/predict",
                                   json={"instances": [record]}, timeout=10)  # fmt: skip
            return answer.headers["x-model-version"]

        assert served_version() == "1"
        monday = run_workflow(books_workflow(margin=-1.0), MONDAY)  # any candidate wins
        assert monday.steps["promote"].status == "succeeded"
        deadline = dt.datetime.now() + dt.timedelta(seconds=20)
        while served_version() != "2":
            assert dt.datetime.now() < deadline, "the server never served the new champion"
    finally:
        process.terminate()
        process.wait(timeout=60)


def test_a_failing_step_is_retried_with_a_doubling_delay_then_the_steps_after_it_skip(
    tmp_path: Path,
) -> None:
    marker = tmp_path / "independent"
    workflow = parse_workflow(
        {"defaults": {"retries": 2, "retry_delay": "1s"}, "steps": {
            "flaky": {"kind": "run", "command": "echo trying; exit 3"},
            "after_flaky": {"kind": "run", "command": "true", "after": "flaky"},
            "independent": {"kind": "run", "command": f"touch {marker}"}}},
        default_name="failing",
    )  # fmt: skip
    slept: list[float] = []
    run = run_workflow(workflow, TUESDAY, sleep=slept.append)
    flaky = run.steps["flaky"]
    assert (flaky.status, flaky.attempts, slept) == ("failed", 3, [1.0, 2.0])
    assert flaky.error == "the command exited with 3: trying"
    assert run.steps["after_flaky"].status == "skipped" and not run.ok
    assert run.steps["independent"].status == "succeeded" and marker.exists()
    history = read(open_warehouse(Settings.load().warehouse), "failing")
    failed = history[history["step"] == "flaky"].iloc[0]
    assert failed["error"] == flaky.error and failed["attempts"] == 3


def test_a_step_past_its_timeout_is_stopped_with_its_children(tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    workflow = parse_workflow(
        {"steps": {"stuck": {"kind": "run", "timeout": "1s",
                             "command": f"echo $$ > {pid_file}; exec sleep 60"}}},
        default_name="stuck",
    )  # fmt: skip
    started = dt.datetime.now()
    run = run_workflow(workflow, TUESDAY)
    assert run.steps["stuck"].status == "failed"
    assert run.steps["stuck"].error == "timed out after 1 s"
    assert dt.datetime.now() - started < dt.timedelta(seconds=10)
    stat = Path(f"/proc/{int(pid_file.read_text())}/stat")
    deadline = dt.datetime.now() + dt.timedelta(seconds=5)
    while _state(stat) not in (None, "Z"):  # gone, or dead and not yet reaped
        assert dt.datetime.now() < deadline, "the step's shell command outlived its timeout"


def _state(stat: Path) -> str | None:
    try:
        return stat.read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return None


def test_the_logical_date_reaches_every_step(tmp_path: Path) -> None:
    out = tmp_path / "out.txt"
    workflow = parse_workflow(
        {"steps": {"say": {"kind": "run",
                           "command": f"echo {{{{ ds }}}} $SCALEPIPE_DS_NODASH > {out}"}}},
        default_name="dates",
    )  # fmt: skip
    run_workflow(workflow, MONDAY)
    assert out.read_text() == "2026-12-07 20261207\n"


def test_an_export_writes_a_dates_rows_once_however_often_it_is_rerun(tmp_path: Path) -> None:
    folder = tmp_path / "exported"
    workflow = parse_workflow(
        {"steps": {
            "load": {"kind": "load", "source": "dataset:games?rows=300&seed={{ day }}",
                     "table": "games_today"},
            "export": {"kind": "export", "after": "load", "input": "table:games_today",
                       "output": str(folder)}}},
        default_name="copy",
    )  # fmt: skip
    for _ in range(2):
        run = run_workflow(workflow, TUESDAY)
        assert run.steps["export"].outcome is not None
        assert run.steps["export"].outcome.rows == 300
    run_workflow(workflow, WEDNESDAY)
    runs = sorted(path.name for path in folder.iterdir() if not path.name.startswith("_"))
    assert runs == ["run=copy-2026-12-01-export", "run=copy-2026-12-02-export"]
    import pyarrow.parquet as pq

    assert pq.read_table(folder).num_rows == 600
