"""Train a recipe on a named dataset and report the book's held-out figures."""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from scalepipe.config import Settings, redact_url
from scalepipe.data.catalog import DatasetError, DatasetSpec, Task, spec
from scalepipe.data.fingerprint import fingerprint
from scalepipe.errors import (
    TrainingError as TrainingError,
)
from scalepipe.features.definition import FEATURES_FILE
from scalepipe.io.datasets import load_tables
from scalepipe.predict.scorers import KerasScorer, Scorer, scorer_for
from scalepipe.signature import Signature
from scalepipe.train import plots
from scalepipe.train.engineered import engineered, engineered_data
from scalepipe.train.metrics import evaluate
from scalepipe.train.profile import feature_profile
from scalepipe.train.recipes import (
    DEFAULT_RECIPE,
    RECIPES,
    EpochCallback,
    artifact,
    plain_params,
)

if TYPE_CHECKING:
    from scalepipe.features.definition import FeatureDefinition
    from scalepipe.store import ModelStore


@dataclass
class TrainedModel:
    """A fitted model with everything the model store needs to publish it."""

    dataset: str
    recipe: str
    task: Task
    model: Any
    flavor: Literal["sklearn", "keras"]
    signature: Signature
    metrics: dict[str, float]
    params: dict[str, Any]
    data_fingerprint: str
    plot: Path | None = None
    history: dict[str, list[float]] = field(default_factory=dict)
    features: FeatureDefinition | None = None  # the model's inputs are computed from rows
    profile: dict[str, Any] | None = None  # the training rows per feature (train/profile.py)

    def publish(
        self,
        store: ModelStore | str | None = None,
        *,
        name: str | None = None,
        alias: str | None = None,
    ) -> int:
        """Publish to the model store (default: the `store` setting); return the version."""
        from scalepipe.store import ModelStore

        target = store if isinstance(store, ModelStore) else ModelStore(store)
        return target.publish(
            self.model,
            name or self.dataset,
            signature=self.signature,
            metrics=self.metrics,
            params=self.params,
            data_fingerprint=self.data_fingerprint,
            alias=alias,
            features=None if self.features is None else (FEATURES_FILE, self.features.to_json()),
            profile=self.profile,
            plot=self.plot.read_bytes() if self.plot is not None and self.plot.is_file() else None,
        )

    @property
    def scorer(self) -> Scorer:
        """The Predictor's scorer for this model: a matrix in signature order -> scores."""
        return scorer_for(self.model, self.task == "classification", self.signature.names)


def split(
    frame: pd.DataFrame, dataset: DatasetSpec, test_size: float, seed: int
) -> tuple[Any, ...]:
    """Features (a DataFrame, so estimators learn the names) and target, split like the
    book: train_test_split with a seed."""
    from sklearn.model_selection import train_test_split

    if not 0.0 < test_size < 1.0:
        raise TrainingError(f"test size must be between 0 and 1, got {test_size}")
    x = frame[list(dataset.features)]
    y = frame[str(dataset.target)].to_numpy()
    if len(frame) < 10:
        raise TrainingError(f"{dataset.name} has {len(frame)} rows; training needs at least 10")
    parts: list[Any] = train_test_split(x, y, test_size=test_size, random_state=seed)
    return tuple(parts)


def train_frame(
    frame: pd.DataFrame,
    dataset: str,
    recipe: str | None = None,
    *,
    seed: int = 0,
    test_size: float = 0.3,
    epochs: int | None = None,
    plot_dir: Path | None = None,
    on_epoch: EpochCallback | None = None,
    extra_params: dict[str, Any] | None = None,
    engine: Literal["local", "spark"] = "local",
    spark_master: str | None = None,
    described: DatasetSpec | None = None,
    report_training: bool = False,
    scale: bool = False,
) -> TrainedModel:
    """Fit `recipe` on a dataset's table held in `frame`, score the held-out split. With
    `engine="spark"`, linear and logistic models are fitted by MLlib (train/spark.py).
    `described`: the features and target, when not the named dataset's own (engineered
    features). `report_training`: also score the training rows (the book's way in
    chapter 1), as metrics named training_*. `scale`: standardise the features before a
    linear or logistic model (folded into its weights when published)."""
    described = described or spec(dataset)
    if described.task is None or described.target is None:
        raise TrainingError(
            f"{dataset} has no single table to model ({', '.join(described.tables)}); "
            "engineer per-game features from it first"
        )
    task = described.task
    name = recipe or DEFAULT_RECIPE[task]
    chosen = RECIPES.get(name)
    if chosen is None:
        raise TrainingError(f"unknown model {name!r}; choose one of: {', '.join(RECIPES)}")
    if task not in chosen.tasks:
        suitable = [r.name for r in RECIPES.values() if task in r.tasks]
        raise TrainingError(
            f"{name} does not fit {task} ({dataset}); use one of: {', '.join(suitable)}"
        )
    _check_target(frame, described, task)
    x_train, x_test, y_train, y_test = split(frame, described, test_size, seed)
    wanted: dict[str, Any] = {"epochs": epochs} if epochs else {}
    if on_epoch is not None and "on_epoch" in inspect.signature(chosen.make).parameters:
        wanted["on_epoch"] = on_epoch
    if engine == "spark":
        from scalepipe.train.spark import MLlibEstimator

        if wanted:
            raise TrainingError("--engine spark takes no epochs (MLlib's linear models)")
        estimator: Any = MLlibEstimator(name, seed, spark_master).fit(x_train, y_train)
    else:
        unfitted = chosen.estimator(task, seed, wanted)
        if scale and name in ("linear", "logistic"):
            from sklearn.pipeline import make_pipeline
            from sklearn.preprocessing import StandardScaler

            unfitted = make_pipeline(StandardScaler(), unfitted)
        estimator = unfitted.fit(x_train, y_train)
    model = artifact(estimator)
    signature = Signature.from_frame(
        frame,
        described.features,
        described.target,
        "probability" if task == "classification" else "value",
    )
    scorer = scorer_for(model, task == "classification", signature.names)
    scores = scorer.score_matrix(x_test.to_numpy(dtype=np.float64))
    metrics = evaluate(task, y_test, scores)
    if report_training:
        fitted = scorer.score_matrix(x_train.to_numpy(dtype=np.float64))
        metrics |= {f"training_{k}": v for k, v in evaluate(task, y_train, fitted).items()}
    trained = TrainedModel(
        dataset=dataset,
        recipe=name,
        task=task,
        model=model,
        flavor="keras" if isinstance(scorer, KerasScorer) else "sklearn",
        signature=signature,
        metrics=metrics,
        params={"recipe": name, "seed": seed, "test_size": test_size, "rows": len(frame)}
        | (extra_params or {})
        | plain_params(estimator),
        data_fingerprint=fingerprint(frame),
        history=getattr(estimator, "history", {}),
        profile=feature_profile(x_train, signature.names, seed=seed, output=scores),
    )
    if plot_dir is not None:
        trained.plot = _plot(trained, plot_dir, y_test, scores)
    return trained


def train(
    dataset: str,
    recipe: str | None = None,
    *,
    source: str | None = None,
    rows: int | None = None,
    warehouse: str | None = None,
    seed: int = 0,
    test_size: float = 0.3,
    epochs: int | None = None,
    plot: bool = True,
    settings: Settings | None = None,
    on_epoch: EpochCallback | None = None,
    engine: Literal["local", "spark"] = "local",
    spark_master: str | None = None,
) -> TrainedModel:
    """Load a named dataset from its source and train `recipe` on it (on its engineered
    features, for a dataset of parents and child rows: train/engineered.py)."""
    settings = settings or Settings.load()
    described = spec(dataset)
    tables = load_tables(
        dataset, source=source, rows=rows, seed=seed, warehouse=warehouse, settings=settings
    )
    common: dict[str, Any] = {
        "seed": seed,
        "test_size": test_size,
        "plot_dir": Path(settings.plots_dir) if plot else None,
    }
    source_param = {"source": redact_url(source) if source else "generated"}
    if engineered(dataset):
        if engine != "local" or epochs:
            raise TrainingError(f"{dataset} trains on the local engine, without epochs")
        data = engineered_data(dataset, tables)
        trained = train_frame(
            data.frame,
            dataset,
            recipe,
            **common,
            extra_params=source_param | {"parents": len(data.frame)},
            described=data.described,
            report_training=True,
            scale=True,
        )
        trained.features = data.definition
        return trained
    return train_frame(
        tables[described.main_table],
        dataset,
        recipe,
        **common,
        epochs=epochs,
        on_epoch=on_epoch,
        extra_params=source_param,
        engine=engine,
        spark_master=spark_master,
    )


def _check_target(frame: pd.DataFrame, dataset: DatasetSpec, task: Task) -> None:
    target = frame[str(dataset.target)]
    missing = int(target.isna().sum())
    if missing:
        raise DatasetError(
            f"{dataset.name}: target {dataset.target!r} has {missing} missing values"
        )
    classes = set(pd.unique(target))
    if task == "classification" and not classes <= {0, 1}:
        raise DatasetError(
            f"{dataset.name}: target {dataset.target!r} must be 0/1 for classification"
        )
    if task == "classification" and len(classes) < 2:
        raise DatasetError(
            f"{dataset.name}: target {dataset.target!r} is {int(next(iter(classes), 0))} in "
            f"all {len(frame):,} rows; a classifier needs rows of both classes (more rows?)"
        )
    non_numeric = [
        name for name in dataset.features if not pd.api.types.is_numeric_dtype(frame[name])
    ]
    if non_numeric:
        raise DatasetError(f"{dataset.name}: feature(s) {', '.join(non_numeric)} must be numeric")


def _plot(trained: TrainedModel, plot_dir: Path, y_test: np.ndarray, scores: np.ndarray) -> Path:
    stem = plot_dir / f"{trained.dataset}-{trained.recipe}-seed{trained.params['seed']}"
    title = f"{trained.dataset} {trained.recipe}"
    if trained.history:
        return plots.training_curves(
            stem.with_suffix(".png"), trained.history, f"{title}: AUC per epoch"
        )
    if trained.task == "classification":
        return plots.roc_curve(
            stem.with_suffix(".png"), y_test, scores, f"{title}: ROC on held-out data"
        )
    return plots.predicted_vs_actual(
        stem.with_suffix(".png"), y_test, scores, f"{title}: held-out data"
    )
