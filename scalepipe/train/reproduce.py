"""Reproduce the book's chapter-1 table: each model over many random 70/30 splits."""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from scalepipe.io.datasets import load
from scalepipe.train import plots
from scalepipe.train.run import train_frame

GAMES_FILE = "games-expand.csv"
HOUSING_FILE = "BostonHousing.csv"


@dataclass(frozen=True)
class Benchmark:
    """One row of the book's table: a model, a metric, the book's and the reference figure."""

    dataset: str
    recipe: str
    metric: str
    book: float | None
    reference: float
    tolerance: float

    @property
    def label(self) -> str:
        return f"{self.dataset} {self.recipe} {self.metric}"


# Reference: the mean over 30 splits on the real files (../shared/data/README.md);
# tolerance: how far scalepipe's mean may stray from it and still reproduce the book.
BOOK_TABLE: tuple[Benchmark, ...] = (
    Benchmark("housing", "linear", "r2", 0.699, 0.712, 0.04),
    Benchmark("housing", "linear", "mean_absolute_error", 3.36, 3.460, 0.25),
    Benchmark("games", "logistic", "accuracy", 0.866, 0.8703, 0.01),
    Benchmark("games", "logistic", "roc_auc", 0.757, 0.757, 0.015),
    Benchmark("games", "gbm", "roc_auc", None, 0.813, 0.015),
    Benchmark("games", "mlp", "roc_auc", 0.816, 0.809, 0.015),
)


@dataclass(frozen=True)
class Reproduced:
    benchmark: Benchmark
    values: tuple[float, ...]

    @property
    def mean(self) -> float:
        return statistics.fmean(self.values)

    @property
    def std(self) -> float:
        return statistics.stdev(self.values) if len(self.values) > 1 else 0.0

    @property
    def within_tolerance(self) -> bool:
        return abs(self.mean - self.benchmark.reference) <= self.benchmark.tolerance

    def to_dict(self) -> dict[str, object]:
        b = self.benchmark
        return {
            "dataset": b.dataset,
            "model": b.recipe,
            "metric": b.metric,
            "book": b.book,
            "reference": b.reference,
            "tolerance": b.tolerance,
            "splits": len(self.values),
            "mean": self.mean,
            "std": self.std,
            "min": min(self.values),
            "max": max(self.values),
            "within_tolerance": self.within_tolerance,
        }


def reproduce(
    data_dir: Path | None = None,
    *,
    splits: int = 30,
    mlp_splits: int = 3,
    recipes: Sequence[str] = ("linear", "logistic", "gbm", "mlp"),
    plot_dir: Path | None = None,
    on_split: Callable[[str, int], None] | None = None,
) -> list[Reproduced]:
    """Train each recipe on seeds 0..splits-1 (mlp: mlp_splits) and collect the metrics.

    `data_dir` holds the book's files (games-expand.csv, BostonHousing.csv); without
    it the generated datasets stand in.
    """
    frames = {
        "games": _frame("games", data_dir, GAMES_FILE),
        "housing": _frame("housing", data_dir, HOUSING_FILE),
    }
    wanted = [b for b in BOOK_TABLE if b.recipe in recipes]
    runs: dict[tuple[str, str], list[dict[str, float]]] = {}
    for dataset, recipe in dict.fromkeys((b.dataset, b.recipe) for b in wanted):
        count = mlp_splits if recipe == "mlp" else splits
        metrics = runs.setdefault((dataset, recipe), [])
        for seed in range(count):
            metrics.append(train_frame(frames[dataset], dataset, recipe, seed=seed).metrics)
            if on_split is not None:
                on_split(f"{dataset} {recipe}", seed + 1)
    results = [
        Reproduced(b, tuple(run[b.metric] for run in runs[(b.dataset, b.recipe)])) for b in wanted
    ]
    if plot_dir is not None:
        auc = {
            r.benchmark.recipe: list(r.values) for r in results if r.benchmark.metric == "roc_auc"
        }
        if auc:
            plots.metric_spread(
                plot_dir / "book-games-auc.png", auc, "ROC AUC", "games: AUC over random splits"
            )
    return results


def _frame(dataset: str, data_dir: Path | None, file_name: str) -> pd.DataFrame:
    return load(dataset, source=str(data_dir / file_name) if data_dir else None)
