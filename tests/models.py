"""Small fitted models for store and Predictor tests, trained once per session."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

import pandas as pd

from scalepipe.io import load
from scalepipe.signature import Signature
from scalepipe.store import PreparedModel, prepare_model
from scalepipe.train import train_frame

# The book's client sends the ten flags as strings.
BOOK_REQUEST = {f"G{i}": str(i % 2) for i in range(1, 11)}


@dataclass(frozen=True)
class Fitted:
    model: Any
    signature: Signature
    frame: pd.DataFrame
    metrics: dict[str, float]


@cache
def games() -> pd.DataFrame:
    return load("games", rows=5_000)


@cache
def fitted(recipe: str, dataset: str = "games") -> Fitted:
    frame = games() if dataset == "games" else load(dataset)
    trained = train_frame(frame, dataset, recipe, epochs=2 if recipe == "mlp" else None)
    return Fitted(trained.model, trained.signature, frame, trained.metrics)


@cache
def prepared(recipe: str, dataset: str = "games") -> PreparedModel:
    model = fitted(recipe, dataset)
    return prepare_model(model.model, signature=model.signature, metrics=model.metrics)
