"""Held-out metrics, the figures the book reports for each task."""

from __future__ import annotations

import numpy as np

from scalepipe.data.catalog import Task

CLASSIFICATION_METRICS = ("accuracy", "roc_auc")
REGRESSION_METRICS = ("r2", "mean_absolute_error")


def evaluate(task: Task, y_true: np.ndarray, y_score: np.ndarray) -> dict[str, float]:
    """Accuracy and ROC AUC of probabilities, or R² and mean absolute error of values."""
    from sklearn import metrics

    if task == "classification":
        return {
            "accuracy": float(metrics.accuracy_score(y_true, y_score >= 0.5)),
            "roc_auc": float(metrics.roc_auc_score(y_true, y_score)),
        }
    return {
        "r2": float(metrics.r2_score(y_true, y_score)),
        "mean_absolute_error": float(metrics.mean_absolute_error(y_true, y_score)),
    }
