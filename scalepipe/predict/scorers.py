"""Scorers: turn checked rows into the model's output (probability or value)."""

from __future__ import annotations

import copy
import math
import operator
from collections.abc import Sequence
from typing import Any

from scalepipe.errors import IntegrityError


class Scorer:
    def score_row(self, row: list[float]) -> float:
        return float(self.score_matrix([row])[0])

    def score_matrix(self, matrix: Any) -> Any:
        raise NotImplementedError


class LinearScorer(Scorer):
    """Linear and logistic regression as plain arithmetic: no scikit-learn at serving time."""

    def __init__(self, weights: Sequence[float], bias: float, logistic: bool) -> None:
        self.weights = list(weights)
        self.bias = bias
        self.logistic = logistic
        self._weights_array: Any = None

    def score_row(self, row: list[float]) -> float:
        if len(row) != len(self.weights):
            raise ValueError(f"{len(row)} values for {len(self.weights)} weights")
        total: float = self.bias + sum(map(operator.mul, self.weights, row))
        if not self.logistic:
            return total
        if total >= 0.0:
            return 1.0 / (1.0 + math.exp(-total))
        odds = math.exp(total)
        return odds / (1.0 + odds)

    def score_matrix(self, matrix: Any) -> Any:
        import numpy as np

        if self._weights_array is None:
            self._weights_array = np.asarray(self.weights, dtype=np.float64)
        # Extreme inputs may overflow; the Predictor refuses non-finite outputs by name.
        with np.errstate(over="ignore", invalid="ignore"):
            linear = matrix @ self._weights_array + self.bias
        if not self.logistic:
            return linear
        # exp(-|z|) never overflows, as in scipy's expit: 1 / (1 + e) for z >= 0, and
        # e / (1 + e) for z < 0. Whole-array steps: indexing by sign costs more.
        odds = np.exp(-np.abs(linear))
        total = odds + 1.0
        np.divide(odds, total, out=odds)
        np.divide(1.0, total, out=total)
        return np.where(linear >= 0, total, odds)


class EstimatorScorer(Scorer):
    """Any scikit-learn model, given a float64 matrix in signature order.

    A model fitted on a DataFrame knows its feature names; they must be the signature's,
    in its order. The scorer then hands the model plain arrays (the Predictor has put the
    columns in that order) through a copy that does not ask for names, so that the model
    warns on no call and the published artifact keeps its names for MLflow's tools.
    """

    def __init__(self, model: Any, probability: bool, names: Sequence[str]) -> None:
        fitted = getattr(model, "feature_names_in_", None)
        if fitted is not None and [str(n) for n in fitted] != list(names):
            raise IntegrityError(
                f"the model was fitted on features {', '.join(map(str, fitted))}; "
                f"its signature says {', '.join(names)}"
            )
        self.model = _positional(model)
        self.probability = probability

    def score_matrix(self, matrix: Any) -> Any:
        import numpy as np

        if self.probability:
            return np.asarray(self.model.predict_proba(matrix))[:, 1]
        return np.asarray(self.model.predict(matrix), dtype=np.float64).reshape(-1)


def _positional(model: Any) -> Any:
    """A shallow copy of a fitted estimator (or pipeline) without `feature_names_in_`."""
    steps = getattr(model, "steps", None)
    if isinstance(steps, list):
        twin = copy.copy(model)
        twin.steps = [(name, _positional(step)) for name, step in steps]
        return twin
    if "feature_names_in_" in getattr(model, "__dict__", {}):
        twin = copy.copy(model)
        del twin.feature_names_in_
        return twin
    return model


class KerasScorer(Scorer):
    """A Keras model, given a float32 batch."""

    def __init__(self, model: Any) -> None:
        self.model = model

    def score_matrix(self, matrix: Any) -> Any:
        import numpy as np

        batch = np.asarray(matrix, dtype=np.float32)
        return np.asarray(self.model.predict_on_batch(batch), dtype=np.float64).reshape(-1)


def scorer_for(model: Any, probability: bool, names: Sequence[str]) -> Scorer:
    """The scorer of a fitted scikit-learn or Keras model (training and the Predictor)."""
    if any(cls.__module__.startswith("keras") for cls in type(model).__mro__):
        return KerasScorer(model)
    return EstimatorScorer(model, probability, names)
