"""Training on engineered features: the book's chapter 1 NHL model. Deep feature
synthesis turns each game's plays into one feature row (scalepipe.features), the game
table gives the label, and the model is published with the feature definition, so that
it scores a game's raw plays."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass

import pandas as pd

from scalepipe.data import nhl
from scalepipe.data.catalog import DatasetSpec, spec
from scalepipe.errors import TrainingError
from scalepipe.features import dfs, spec_for
from scalepipe.features.definition import FeatureDefinition

FILL = 0.0  # a feature with no value (the spread of one play) counts as 0, as in the book
# The named datasets whose model is trained on features computed from child rows:
# the table with the label and how to read it.
LABELS = {"nhl": ("game", nhl.LABEL, nhl.labels)}


def engineered(dataset: str) -> bool:
    return dataset in LABELS


@dataclass(frozen=True)
class EngineeredData:
    frame: pd.DataFrame  # one row per parent: its features and its label
    described: DatasetSpec  # the features and target to train on
    definition: FeatureDefinition  # how the features come from child rows, to publish


def engineered_data(dataset: str, tables: Mapping[str, pd.DataFrame]) -> EngineeredData:
    """Features per parent (DuckDB) with the label joined by key. The model reads the
    numeric features; MODE features are categories, which a linear model cannot take."""
    import pyarrow as pa

    if dataset not in LABELS:
        raise TrainingError(f"{dataset} has no engineered features; known: {', '.join(LABELS)}")
    feature_spec = spec_for(dataset)
    child = pa.Table.from_pandas(tables[feature_spec.child_table], preserve_index=False)
    features = dfs(feature_spec, {feature_spec.child_table: child})
    numeric = [f.name for f in features.plan.features if f.primitive != "mode"]
    table_name, label, read_labels = LABELS[dataset]
    frame = _joined(features.to_pandas(), read_labels(tables[table_name]), feature_spec.key)
    frame[numeric] = frame[numeric].astype("float64").fillna(FILL)
    described = dataclasses.replace(
        spec(dataset), target=label, features=tuple(numeric), task="classification"
    )
    definition = FeatureDefinition.of(
        feature_spec, child.schema, features.vocabulary, numeric, FILL
    )
    return EngineeredData(frame, described, definition)


def _joined(features: pd.DataFrame, labels: pd.DataFrame, key: str) -> pd.DataFrame:
    """Features with their label; a parent with no child rows has no features to learn
    from, and a child row without a labelled parent no target."""
    frame = features.merge(labels, on=key, how="inner", validate="one_to_one")
    if frame.empty:
        raise TrainingError(f"no {key} has both child rows and a label")
    return frame
