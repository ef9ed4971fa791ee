"""The book's Keras MLP for the games data, on Keras 3 with the torch backend."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import numpy as np

from scalepipe.errors import TrainingError

# (epoch, of epochs, the epoch's logs) after each epoch: the CLI's progress bar.
EpochCallback = Callable[[int, int, dict[str, float]], None]

BOOK_ARCHITECTURE = "Dense 64 relu -> Dropout 0.1 -> Dense 64 relu -> Dense 1 sigmoid"


def _keras() -> Any:
    # Keras reads its backend once, at first import; the CPU torch wheel is the one this
    # project installs, so pick it unless the user chose another backend.
    os.environ.setdefault("KERAS_BACKEND", "torch")
    import keras

    return keras


class BookMLP:
    """The book's MLP as a recipe's estimator: Dense 64 -> Dropout 0.1 -> Dense 64 ->
    sigmoid; rmsprop, binary cross-entropy. `artifact` is the fitted Keras model."""

    def __init__(
        self,
        *,
        seed: int = 0,
        epochs: int = 100,
        batch_size: int = 100,
        validation_split: float = 0.2,
        on_epoch: EpochCallback | None = None,
    ) -> None:
        if epochs < 1:
            raise TrainingError(f"epochs must be 1 or more, got {epochs}")
        self.seed = seed
        self.epochs = epochs
        self.batch_size = batch_size
        self.validation_split = validation_split
        self.on_epoch = on_epoch
        self.artifact: Any = None
        self.history: dict[str, list[float]] = {}

    def get_params(self) -> dict[str, Any]:
        return {
            "architecture": BOOK_ARCHITECTURE,
            "optimizer": "rmsprop",
            "loss": "binary_crossentropy",
            "epochs": self.epochs,
            "batch_size": self.batch_size,
            "validation_split": self.validation_split,
            "backend": _keras().backend.backend(),
        }

    def fit(self, x: Any, y: Any) -> BookMLP:
        keras = _keras()
        keras.utils.set_random_seed(self.seed)
        features = np.asarray(x, dtype=np.float32)
        model = keras.Sequential(
            [
                keras.Input(shape=(features.shape[1],)),
                keras.layers.Dense(64, activation="relu"),
                keras.layers.Dropout(0.1),
                keras.layers.Dense(64, activation="relu"),
                keras.layers.Dense(1, activation="sigmoid"),
            ]
        )
        model.compile(
            optimizer="rmsprop", loss="binary_crossentropy", metrics=[keras.metrics.AUC(name="auc")]
        )
        on_epoch = self.on_epoch
        callbacks = [] if on_epoch is None else [_epoch_reporter(keras, self.epochs, on_epoch)]
        history = model.fit(
            features,
            np.asarray(y, dtype=np.float32),
            epochs=self.epochs,
            batch_size=self.batch_size,
            validation_split=self.validation_split,
            verbose=0,
            callbacks=callbacks,
        )
        self.artifact = model
        self.history = {
            key: [float(value) for value in values] for key, values in history.history.items()
        }
        return self


def _epoch_reporter(keras: Any, epochs: int, on_epoch: EpochCallback) -> Any:
    class EpochReporter(keras.callbacks.Callback):  # type: ignore[misc]
        def on_epoch_end(self, epoch: int, logs: dict[str, float] | None = None) -> None:
            on_epoch(epoch + 1, epochs, dict(logs or {}))

    return EpochReporter()
