"""Scorers: turn checked rows into the model's output (probability or value)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any


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
        total = self.bias
        for weight, value in zip(self.weights, row, strict=True):
            total += weight * value
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
        # Split by sign so exp never overflows, as scipy's expit does.
        result = np.empty_like(linear)
        positive = linear >= 0
        result[positive] = 1.0 / (1.0 + np.exp(-linear[positive]))
        odds = np.exp(linear[~positive])
        result[~positive] = odds / (1.0 + odds)
        return result


class EstimatorScorer(Scorer):
    """Any scikit-learn model, given a float64 matrix in signature order."""

    def __init__(self, model: Any, probability: bool) -> None:
        self.model = model
        self.probability = probability

    def score_matrix(self, matrix: Any) -> Any:
        import numpy as np

        if self.probability:
            return np.asarray(self.model.predict_proba(matrix))[:, 1]
        return np.asarray(self.model.predict(matrix), dtype=np.float64).reshape(-1)


class KerasScorer(Scorer):
    """A Keras model, given a float32 batch."""

    def __init__(self, model: Any) -> None:
        self.model = model

    def score_matrix(self, matrix: Any) -> Any:
        import numpy as np

        batch = np.asarray(matrix, dtype=np.float32)
        return np.asarray(self.model.predict_on_batch(batch), dtype=np.float64).reshape(-1)
