"""Training recipes: the book's prototype models.

A recipe is a small contract: `make(task, seed, **params)` returns an unfitted estimator
whose `fit(x, y)` takes the features as a DataFrame (so scikit-learn records their names)
and the target as an array. The fitted estimator is what the store publishes, unless it
names another object as its `artifact` (the Keras model inside the book's MLP). Training
scores the held-out rows with the Predictor's own scorers (predict/scorers.py), so the
figures on a model card come from the same code that serves it.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from scalepipe.data.catalog import Task
from scalepipe.errors import TrainingError
from scalepipe.train.mlp import BookMLP, EpochCallback

__all__ = ["DEFAULT_RECIPE", "RECIPES", "EpochCallback", "Recipe"]


@dataclass(frozen=True)
class Recipe:
    name: str
    summary: str
    tasks: tuple[Task, ...]
    make: Callable[..., Any]  # make(task, seed, **params) -> an unfitted estimator

    def estimator(self, task: Task, seed: int, params: dict[str, Any]) -> Any:
        """An unfitted estimator; TrainingError names a parameter the recipe does not take."""
        accepted = inspect.signature(self.make).parameters
        unknown = [key for key in params if key not in accepted]
        if unknown:
            raise TrainingError(f"{', '.join(unknown)} does not apply to the {self.name} model")
        return self.make(task, seed, **params)


def artifact(estimator: Any) -> Any:
    """What the store publishes for a fitted estimator."""
    return getattr(estimator, "artifact", estimator)


def plain_params(estimator: Any) -> dict[str, Any]:
    """The estimator's parameters that a model card can hold as plain JSON."""
    plain = (str, int, float, bool, type(None))
    return {key: value for key, value in estimator.get_params().items() if isinstance(value, plain)}


def _linear(task: Task, seed: int) -> Any:
    from sklearn.linear_model import LinearRegression

    return LinearRegression()


def _logistic(task: Task, seed: int) -> Any:
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(max_iter=1000, random_state=seed)


def _gbm(task: Task, seed: int) -> Any:
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

    if task == "classification":
        return HistGradientBoostingClassifier(random_state=seed)
    return HistGradientBoostingRegressor(random_state=seed)


def _mlp(
    task: Task, seed: int, epochs: int = 100, on_epoch: EpochCallback | None = None
) -> BookMLP:
    return BookMLP(seed=seed, epochs=epochs, on_epoch=on_epoch)


RECIPES: dict[str, Recipe] = {
    recipe.name: recipe
    for recipe in (
        Recipe("linear", "ordinary least squares (book 1.5, Boston housing)", ("regression",),
               _linear),
        Recipe("logistic", "logistic regression (book 1.5, games)", ("classification",),
               _logistic),
        Recipe("mlp", "the book's Keras MLP: 64 relu, dropout 0.1, 64 relu, sigmoid (book 1.5.3)",
               ("classification",), _mlp),
        Recipe("gbm", "histogram gradient boosting, the tree ensemble the book expects to win",
               ("classification", "regression"), _gbm),
    )
}  # fmt: skip
DEFAULT_RECIPE: dict[Task, str] = {"classification": "logistic", "regression": "linear"}
