"""What a feature spec computes over one child schema, engine by engine alike: the child
rows' inputs (columns, transforms of times, one-hot indicators) and the aggregations of
each, named as featuretools names them and in its order. The SQL compiler
(features/sql.py) and the in-process evaluator (features/inprocess.py) both follow it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pyarrow as pa

from scalepipe.features.spec import TAKES, FeatureSpec, Role


@dataclass(frozen=True)
class Input:
    """One value per child row that aggregations read."""

    label: str  # its name inside feature names: "x", "DAY(dateTime)", "event = Goal"
    role: Role
    depth: int
    column: str  # the child column it comes from
    floating: bool = False  # a float column, whose NaN counts as missing
    transform: str | None = None  # "day", "month", "weekday" or "year" of a time
    equals: str | None = None  # a one-hot indicator: the column holds this value
    kept: tuple[str, ...] | None = None  # "is unknown": the column holds none of these


@dataclass(frozen=True)
class Feature:
    name: str  # "SUM(plays.x)", "COUNT(plays)"
    primitive: str
    input: Input | None  # None for COUNT of the child rows
    depth: int


@dataclass(frozen=True)
class FeaturePlan:
    spec: FeatureSpec
    inputs: tuple[Input, ...]
    features: tuple[Feature, ...]  # in featuretools' order: by depth, then by name

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(feature.name for feature in self.features)


def one_hot_names(column: str, values: Sequence[str]) -> list[str]:
    return [f"{column} = {value}" for value in values] + [f"{column} is unknown"]


def plan_features(
    spec: FeatureSpec, schema: pa.Schema, vocabulary: Mapping[str, Sequence[str]]
) -> FeaturePlan:
    """Every input and feature of `spec` over a child table with `schema`, with
    `vocabulary`: the kept values of each one-hot column."""
    inputs: list[Input] = []
    for name, role in spec.columns(schema).items():
        floating = pa.types.is_floating(schema.field(name).type)
        inputs.append(Input(name, role, 1, name, floating=floating))
        if role == "datetime" and spec.depth >= 2:
            for transform in spec.transforms:
                label = f"{transform.upper()}({name})"
                inputs.append(Input(label, "categorical", 2, name, transform=transform))
    for name in spec.one_hot:
        values = [str(value) for value in vocabulary[name]]
        labels = one_hot_names(name, values)
        for value, label in zip(values, labels, strict=False):
            inputs.append(Input(label, "boolean", 1, name, equals=value))
        inputs.append(Input(labels[-1], "boolean", 1, name, kept=tuple(values)))

    features: list[Feature] = []
    if "count" in spec.aggregations:
        features.append(Feature(f"COUNT({spec.child})", "count", None, 1))
    for item in inputs:
        for primitive in spec.aggregations:
            if item.role in TAKES.get(primitive, ()):
                name = f"{primitive.upper()}({spec.child}.{item.label})"
                features.append(Feature(name, primitive, item, item.depth))
    features.sort(key=lambda feature: (feature.depth, feature.name))
    return FeaturePlan(spec, tuple(inputs), tuple(features))
