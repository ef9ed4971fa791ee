"""PNG plots of a training run: ROC curve, predicted vs actual, MLP training curves."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def roc_curve(path: Path, y_true: np.ndarray, y_score: np.ndarray, title: str) -> Path:
    from sklearn.metrics import roc_auc_score
    from sklearn.metrics import roc_curve as curve

    plt = _pyplot()
    false_positive, true_positive, _ = curve(y_true, y_score)
    figure, axes = plt.subplots(figsize=(5, 5))
    axes.plot(false_positive, true_positive, label=f"AUC {roc_auc_score(y_true, y_score):.3f}")
    axes.plot([0, 1], [0, 1], linestyle="--", color="grey", label="chance")
    axes.set(xlabel="false positive rate", ylabel="true positive rate", title=title)
    axes.legend(loc="lower right")
    return _save(figure, path)


def predicted_vs_actual(path: Path, y_true: np.ndarray, y_pred: np.ndarray, title: str) -> Path:
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(5, 5))
    axes.scatter(y_true, y_pred, s=8, alpha=0.5)
    low, high = float(min(y_true.min(), y_pred.min())), float(max(y_true.max(), y_pred.max()))
    axes.plot([low, high], [low, high], linestyle="--", color="grey", label="perfect")
    axes.set(xlabel="actual", ylabel="predicted", title=title)
    axes.legend(loc="upper left")
    return _save(figure, path)


def training_curves(path: Path, history: Mapping[str, Sequence[float]], title: str) -> Path:
    """AUC per epoch on the training and validation data, like the book's figure 1.8."""
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(7, 4))
    epochs = range(1, len(history["auc"]) + 1)
    axes.plot(epochs, history["auc"], label="training AUC")
    if "val_auc" in history:
        axes.plot(epochs, history["val_auc"], label="validation AUC")
    axes.set(xlabel="epoch", ylabel="ROC AUC", title=title)
    axes.legend(loc="lower right")
    return _save(figure, path)


def metric_spread(path: Path, runs: Mapping[str, Sequence[float]], metric: str, title: str) -> Path:
    """One box per model: how a metric varies over random splits."""
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(6, 4))
    axes.boxplot(list(runs.values()), tick_labels=list(runs))
    axes.set(ylabel=metric, title=title)
    return _save(figure, path)


def _save(figure: Any, path: Path) -> Path:
    import matplotlib.pyplot as plt

    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".part.png")
    figure.tight_layout()
    figure.savefig(partial, dpi=110)
    plt.close(figure)
    partial.replace(path)
    return path
