"""Training recipes: the book's prototype models, each fit on a feature matrix."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from scalepipe.data.catalog import Task

Flavor = Literal["sklearn", "keras"]
EpochCallback = Callable[[int, int, dict[str, float]], None]


@dataclass
class Fitted:
    """A fitted model and what it takes to score and describe it."""

    model: Any
    flavor: Flavor
    params: dict[str, Any]
    history: dict[str, list[float]] = field(default_factory=dict)

    def score(self, features: np.ndarray, task: Task) -> np.ndarray:
        """Probability of the positive class (classification) or the predicted value."""
        if self.flavor == "keras":
            return np.asarray(self.model.predict(features.astype("float32"), verbose=0)).ravel()
        if task == "classification":
            return np.asarray(self.model.predict_proba(features)[:, 1])
        return np.asarray(self.model.predict(features))


@dataclass(frozen=True)
class Recipe:
    name: str
    summary: str
    tasks: tuple[Task, ...]
    fit: Callable[[np.ndarray, np.ndarray, Task, int, dict[str, Any]], Fitted]


def _sklearn_params(model: Any) -> dict[str, Any]:
    """The estimator's parameters that a model card can hold as plain JSON."""
    plain = (str, int, float, bool, type(None))
    return {key: value for key, value in model.get_params().items() if isinstance(value, plain)}


def _fit_linear(
    x: np.ndarray, y: np.ndarray, task: Task, seed: int, options: dict[str, Any]
) -> Fitted:
    from sklearn.linear_model import LinearRegression

    model = LinearRegression().fit(x, y)
    return Fitted(model, "sklearn", _sklearn_params(model))


def _fit_logistic(
    x: np.ndarray, y: np.ndarray, task: Task, seed: int, options: dict[str, Any]
) -> Fitted:
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(max_iter=1000, random_state=seed).fit(x, y)
    return Fitted(model, "sklearn", _sklearn_params(model))


def _fit_gbm(
    x: np.ndarray, y: np.ndarray, task: Task, seed: int, options: dict[str, Any]
) -> Fitted:
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

    estimator = (
        HistGradientBoostingClassifier
        if task == "classification"
        else HistGradientBoostingRegressor
    )
    model = estimator(random_state=seed).fit(x, y)
    return Fitted(model, "sklearn", _sklearn_params(model))


def _fit_mlp(
    x: np.ndarray, y: np.ndarray, task: Task, seed: int, options: dict[str, Any]
) -> Fitted:
    from scalepipe.train.mlp import fit_book_mlp

    return fit_book_mlp(x, y, seed=seed, **options)


RECIPES: dict[str, Recipe] = {
    recipe.name: recipe
    for recipe in (
        Recipe(
            "linear",
            "ordinary least squares (book 1.5, Boston housing)",
            ("regression",),
            _fit_linear,
        ),
        Recipe(
            "logistic", "logistic regression (book 1.5, games)", ("classification",), _fit_logistic
        ),
        Recipe(
            "mlp",
            "the book's Keras MLP: 64 relu, dropout 0.1, 64 relu, sigmoid (book 1.5.3)",
            ("classification",),
            _fit_mlp,
        ),
        Recipe(
            "gbm",
            "histogram gradient boosting, the tree ensemble the book expects to win",
            ("classification", "regression"),
            _fit_gbm,
        ),
    )
}
DEFAULT_RECIPE: dict[Task, str] = {"classification": "logistic", "regression": "linear"}
