"""Training recipes on the generated datasets: metrics, signature, fingerprint, plots."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from scalepipe.data import DatasetError
from scalepipe.io import load
from scalepipe.train import TrainingError, train, train_frame

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _is_png(path: Path | None) -> bool:
    return path is not None and path.is_file() and path.read_bytes()[:8] == PNG_MAGIC


def test_games_logistic_reports_accuracy_auc_and_an_roc_plot(tmp_path: Path) -> None:
    trained = train("games", "logistic")
    assert set(trained.metrics) == {"accuracy", "roc_auc"}
    assert 0.84 < trained.metrics["accuracy"] < 0.9
    assert 0.72 < trained.metrics["roc_auc"] < 0.8
    assert trained.signature.names == tuple(f"G{i}" for i in range(1, 11))
    assert {f.type for f in trained.signature.features} == {"integer"}
    assert trained.signature.output == "probability"
    assert trained.signature.target == "label"
    assert trained.params["recipe"] == "logistic" and trained.params["test_size"] == 0.3
    assert _is_png(trained.plot)
    assert trained.plot is not None and trained.plot.parent == tmp_path / "plots"


def test_housing_linear_reports_r2_mae_and_predicted_vs_actual() -> None:
    trained = train("housing")
    assert trained.recipe == "linear"
    assert set(trained.metrics) == {"r2", "mean_absolute_error"}
    assert 0.5 < trained.metrics["r2"] < 0.9
    assert trained.signature.output == "value"
    assert _is_png(trained.plot)


def test_natality_trains_linear_and_gbm() -> None:
    for recipe in ("linear", "gbm"):
        trained = train("natality", recipe, rows=5_000, plot=False)
        assert trained.metrics["r2"] > 0.2
        assert trained.plot is None
        assert "guid" not in trained.signature.names


def test_training_scores_with_the_predictors_scorer_and_records_feature_names() -> None:
    games = load("games")
    trained = train_frame(games, "games", "logistic")
    features = games[list(trained.signature.names)]
    assert list(trained.model.feature_names_in_) == list(trained.signature.names)
    expected = trained.model.predict_proba(features)[:, 1]
    assert np.allclose(trained.scorer.score_matrix(features.to_numpy(dtype=float)), expected)


def test_the_fingerprint_follows_the_data_not_the_run() -> None:
    games = load("games", rows=2_000)
    first = train_frame(games, "games", "logistic", seed=0)
    other_split = train_frame(games, "games", "logistic", seed=1)
    changed = games.copy()
    changed["G1"] = changed["G1"].where(changed.index != 0, 1 - changed["G1"])
    assert first.data_fingerprint == other_split.data_fingerprint
    assert first.data_fingerprint != train_frame(changed, "games", "logistic").data_fingerprint


def test_the_mlp_trains_with_per_epoch_progress_and_training_curves() -> None:
    epochs_seen: list[int] = []
    trained = train(
        "games", "mlp", rows=3_000, epochs=3, on_epoch=lambda e, n, logs: epochs_seen.append(e)
    )
    assert epochs_seen == [1, 2, 3]
    assert len(trained.history["auc"]) == 3 and len(trained.history["val_auc"]) == 3
    assert trained.flavor == "keras"
    assert trained.params["backend"] == "torch"
    assert 0.5 < trained.metrics["roc_auc"] <= 1.0
    assert _is_png(trained.plot)
    rows = load("games", rows=50)[list(trained.signature.names)].to_numpy(dtype=float)
    scores = trained.scorer.score_matrix(rows)
    assert scores.shape == (50,) and ((scores >= 0) & (scores <= 1)).all()


@pytest.mark.parametrize(
    ("dataset", "recipe", "options", "message"),
    [
        (
            "games",
            "linear",
            {},
            "linear does not fit classification .* use one of: logistic, mlp, gbm",
        ),
        (
            "housing",
            "forest",
            {},
            "unknown model 'forest'; choose one of: linear, logistic, mlp, gbm",
        ),
        ("nhl", "linear", {}, r"linear does not fit classification \(nhl\)"),
        ("nhl", "mlp", {"epochs": 5}, "nhl trains on the local engine, without epochs"),
        ("games", "logistic", {"test_size": 1.5}, "test size must be between 0 and 1"),
        ("games", "logistic", {"epochs": 5}, "epochs does not apply to the logistic model"),
    ],
)
def test_bad_requests_are_refused_with_what_to_change(
    dataset: str, recipe: str | None, options: dict[str, float], message: str
) -> None:
    with pytest.raises(TrainingError, match=message):
        train(dataset, recipe, plot=False, **options)  # type: ignore[arg-type]


def test_a_non_binary_label_is_refused(tmp_path: Path) -> None:
    games = load("games", rows=100)
    games.loc[3, "label"] = 2
    path = tmp_path / "games.csv"
    games.to_csv(path, index=False)
    with pytest.raises(DatasetError, match="must be 0/1"):
        train("games", source=str(path))
