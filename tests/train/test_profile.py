"""The training rows' profile in the model card: what the model app draws its widgets
from and drift monitoring compares with."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from scalepipe.store import ModelStore
from scalepipe.train import train
from scalepipe.train.profile import QUANTILES, feature_profile
from tests.test_cli import scalepipe


def test_a_trained_model_records_each_features_training_values(tmp_path: Path) -> None:
    trained = train("games", "logistic", plot=False)
    profile = trained.profile
    assert profile is not None and list(profile["features"]) == list(trained.signature.names)
    rows = trained.params["rows"] * (1 - trained.params["test_size"])
    assert profile["rows"] == pytest.approx(rows, abs=1)
    g1 = profile["features"]["G1"]
    assert (g1["min"], g1["max"], g1["distinct"], g1["integer"]) == (0.0, 1.0, 2, True)
    assert set(g1["values"]) == {"0", "1"} and sum(g1["values"].values()) == profile["rows"]
    assert len(profile["examples"]) == 5
    assert all(set(row) == set(trained.signature.names) for row in profile["examples"])

    store = ModelStore(str(tmp_path / "store"))
    version = trained.publish(store, name="games")
    assert store.card("games", version).profile == profile
    shown = scalepipe("models", "show", f"{store.url}/games:{version}")
    assert "training data" in shown.stdout and "G10" in shown.stdout


def test_a_continuous_feature_has_quantiles_and_a_histogram() -> None:
    rng = np.random.default_rng(3)
    values = rng.normal(10.0, 2.0, size=5_000)
    values[:50] = np.nan
    frame = pd.DataFrame({"x": values, "n": rng.integers(0, 1_000, size=5_000)})
    profile = feature_profile(frame, ["x", "n"], examples=3, seed=1)
    x = profile["features"]["x"]
    assert x["missing"] == 50 and x["count"] == 5_000
    assert sum(x["histogram"]["counts"]) == 4_950
    assert len(x["histogram"]["edges"]) == len(x["histogram"]["counts"]) + 1
    quantiles = [x["quantiles"][f"{q:g}"] for q in QUANTILES]
    assert quantiles == sorted(quantiles)
    assert x["quantiles"]["0.5"] == pytest.approx(np.nanmedian(values))
    assert x["mean"] == pytest.approx(10.0, abs=4 * 2.0 / np.sqrt(4_950))
    assert "values" not in x and not x["integer"]
    assert profile["features"]["n"]["integer"] and "values" not in profile["features"]["n"]
    assert len(profile["examples"]) == 3
    assert any(row["x"] is None for row in feature_profile(frame.head(60), ["x"], examples=60)[
        "examples"])  # fmt: skip
