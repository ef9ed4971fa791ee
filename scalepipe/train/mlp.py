"""The book's Keras MLP for the games data, on Keras 3 with the torch backend."""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from scalepipe.errors import TrainingError
from scalepipe.train.recipes import EpochCallback, Fitted

BOOK_ARCHITECTURE = "Dense 64 relu -> Dropout 0.1 -> Dense 64 relu -> Dense 1 sigmoid"


def _keras() -> Any:
    # Keras reads its backend once, at first import; the CPU torch wheel is the one this
    # project installs, so pick it unless the user chose another backend.
    os.environ.setdefault("KERAS_BACKEND", "torch")
    import keras

    return keras


def fit_book_mlp(
    x: np.ndarray,
    y: np.ndarray,
    *,
    seed: int = 0,
    epochs: int = 100,
    batch_size: int = 100,
    validation_split: float = 0.2,
    on_epoch: EpochCallback | None = None,
) -> Fitted:
    """Dense 64 -> Dropout 0.1 -> Dense 64 -> sigmoid; rmsprop, binary cross-entropy."""
    if epochs < 1:
        raise TrainingError(f"epochs must be 1 or more, got {epochs}")
    keras = _keras()
    keras.utils.set_random_seed(seed)
    model = keras.Sequential(
        [
            keras.Input(shape=(x.shape[1],)),
            keras.layers.Dense(64, activation="relu"),
            keras.layers.Dropout(0.1),
            keras.layers.Dense(64, activation="relu"),
            keras.layers.Dense(1, activation="sigmoid"),
        ]
    )
    model.compile(
        optimizer="rmsprop", loss="binary_crossentropy", metrics=[keras.metrics.AUC(name="auc")]
    )
    callbacks = [] if on_epoch is None else [_epoch_reporter(keras, epochs, on_epoch)]
    history = model.fit(
        x.astype("float32"),
        y.astype("float32"),
        epochs=epochs,
        batch_size=batch_size,
        validation_split=validation_split,
        verbose=0,
        callbacks=callbacks,
    )
    params = {
        "architecture": BOOK_ARCHITECTURE,
        "optimizer": "rmsprop",
        "loss": "binary_crossentropy",
        "epochs": epochs,
        "batch_size": batch_size,
        "validation_split": validation_split,
        "backend": keras.backend.backend(),
    }
    curves = {key: [float(value) for value in values] for key, values in history.history.items()}
    return Fitted(model, "keras", params, curves)


def _epoch_reporter(keras: Any, epochs: int, on_epoch: EpochCallback) -> Any:
    class EpochReporter(keras.callbacks.Callback):  # type: ignore[misc]
        def on_epoch_end(self, epoch: int, logs: dict[str, float] | None = None) -> None:
            on_epoch(epoch + 1, epochs, dict(logs or {}))

    return EpochReporter()
