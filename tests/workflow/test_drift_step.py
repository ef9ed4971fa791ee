"""A `drift` step gates retraining: without drift in the prediction log it holds and the
retraining does not run; with drift, the retraining runs and publishes a candidate."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pytest

from scalepipe.batch import score
from scalepipe.config import Settings
from scalepipe.io import load
from scalepipe.store import ModelStore
from scalepipe.train import train
from scalepipe.workflow import parse_workflow, run_workflow

DAY = dt.date(2026, 12, 1)


def logged_games(folder: Path, shifted: bool) -> Path:
    """A prediction log of 1,000 players, from a batch job."""
    games = load("games", rows=1_000, seed=8)
    if shifted:
        rng = np.random.default_rng(8)
        for name in ("G1", "G2", "G3", "G4", "G5"):
            games[name] = (rng.random(len(games)) < 0.95).astype(int)
    games.to_parquet(folder / "games.parquet")
    log = folder / "log.jsonl"
    score("games", str(folder / "games.parquet"), str(folder / "out"), log_predictions=str(log))
    return log


@pytest.mark.parametrize(
    ("shifted", "drift", "retrain"),
    [(False, "held", "not due"), (True, "succeeded", "succeeded")],
)
def test_drift_gates_the_retraining(
    tmp_path: Path, shifted: bool, drift: str, retrain: str
) -> None:
    store = ModelStore(Settings.load().store)
    train("games", "logistic", plot=False).publish(store, name="games", alias="champion")
    log = logged_games(tmp_path, shifted)
    workflow = parse_workflow({"steps": {
        "drift": {"kind": "drift", "model": "games@champion", "log": str(log),
                  "report": str(tmp_path / "drift.html")},
        "retrain": {"kind": "train", "dataset": "games", "recipe": "logistic",
                    "after": ["drift"]},
    }}, default_name="games")  # fmt: skip
    run = run_workflow(workflow, DAY)
    assert run.steps["drift"].status == drift and run.ok
    assert run.steps["retrain"].status == retrain
    assert (tmp_path / "drift.html").is_file()
    if shifted:
        outcome = run.steps["drift"].outcome
        assert outcome is not None and "drift: 5 of 10 features drifted" in outcome.detail
        assert store.aliases("games") == {"champion": 1, "candidate": 2}
    else:
        assert "no drift, nothing to retrain" in run.steps["drift"].note
        assert store.versions("games") == [1]
