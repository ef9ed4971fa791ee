"""A feature definition: what a model trained on DFS features needs to score raw child
rows. Published with the model as features.json (covered by the version's manifest):
the spec, the one-hot vocabulary learned at training time, the child columns and their
kinds, the features the model reads, the value that fills a missing feature, and the
DuckDB SQL that computed the training features.

The SQL is there for people to read and rerun. Nothing here executes text from the
file: the definition is data, checked field by field, and the query is compiled again
from it; a file whose SQL differs from the compiled one is refused (it was edited, or
written by a scalepipe that computes features differently).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from functools import cached_property
from typing import Any

import pyarrow as pa

from scalepipe.errors import IntegrityError, InvalidInput
from scalepipe.features.inprocess import evaluate
from scalepipe.features.plan import FeaturePlan, plan_features
from scalepipe.features.spec import FeatureSpec
from scalepipe.features.sql import compile_plan

FEATURES_FILE = "features.json"
FORMAT = 1
# The kinds a child column can have, and the Arrow type a request's values become.
KINDS: dict[str, pa.DataType] = {
    "integer": pa.int64(),
    "float": pa.float64(),
    "boolean": pa.bool_(),
    "string": pa.string(),
    "timestamp": pa.timestamp("us"),
    "date": pa.date32(),
}


@dataclass(frozen=True)
class FeatureDefinition:
    spec: FeatureSpec
    vocabulary: Mapping[str, Sequence[str]]
    columns: Mapping[str, str]  # child column -> kind (KINDS)
    model_features: tuple[str, ...]  # the features the model reads, in its order
    fill: float = 0.0  # the value of a feature that is missing (the book's fillna(0))
    sql: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        for name, kind in self.columns.items():
            if kind not in KINDS:
                raise IntegrityError(
                    f"{FEATURES_FILE}: column {name!r} has kind {kind!r}; known: {', '.join(KINDS)}"
                )
        for column in self.spec.one_hot:
            values = self.vocabulary.get(column)
            if not isinstance(values, list | tuple) or not all(isinstance(v, str) for v in values):
                raise IntegrityError(f"{FEATURES_FILE}: the vocabulary of {column!r} is no list")
        unknown = sorted(set(self.model_features) - set(self.plan.names))
        if unknown:
            raise IntegrityError(
                f"{FEATURES_FILE}: the model reads {', '.join(unknown[:5])}, which the spec "
                "does not compute"
            )
        compiled = compile_plan(self.plan).sql
        if self.sql and self.sql != compiled:
            raise IntegrityError(
                f"{FEATURES_FILE}: its SQL differs from the query this scalepipe compiles "
                "from its spec (the file was edited, or written by a scalepipe that computes "
                "features differently); retrain the model with this version"
            )
        if not self.sql:
            object.__setattr__(self, "sql", compiled)

    @classmethod
    def of(
        cls,
        spec: FeatureSpec,
        schema: pa.Schema,
        vocabulary: Mapping[str, Sequence[str]],
        model_features: Sequence[str],
        fill: float = 0.0,
    ) -> FeatureDefinition:
        """The definition of features computed on a child table with `schema`."""
        read = {spec.key, *spec.one_hot, *spec.columns(schema)}
        columns = {f.name: _kind(f.type) for f in schema if f.name in read}
        return cls(spec, dict(vocabulary), columns, tuple(model_features), fill)

    @cached_property
    def schema(self) -> pa.Schema:
        return pa.schema([pa.field(name, KINDS[kind]) for name, kind in self.columns.items()])

    @cached_property
    def plan(self) -> FeaturePlan:
        return plan_features(self.spec, self.schema, self.vocabulary)

    # The serving path

    def child_table(self, records: Sequence[Any]) -> pa.Table:
        """A request's child rows as a table of the training schema; InvalidInput names the
        row and column at fault."""
        child = self.spec.child
        if not isinstance(records, list) or not records:
            raise InvalidInput(f"'{child}' must be a non-empty list of objects", child)
        for index, record in enumerate(records):
            if not isinstance(record, Mapping):
                raise InvalidInput(f"{child}[{index}] must be an object, got "
                                   f"{type(record).__name__}", child)  # fmt: skip
        arrays = []
        for name, kind in self.columns.items():
            values = [record.get(name) for record in records]
            if all(value is None for value in values):
                raise InvalidInput(f"the {child} lack column {name!r}", name)
            if name == self.spec.key and None in values:
                index = values.index(None)
                raise InvalidInput(f"{child}[{index}] names no {name}: whose is it?", name)
            arrays.append(_array(values, KINDS[kind], name, child))
        return pa.Table.from_arrays(arrays, schema=self.schema)

    def matrix(self, records: Sequence[Any]) -> tuple[list[Any], Any]:
        """The keys (one per parent in the child rows, in key order) and the model's
        feature rows (a float matrix, missing values filled)."""
        import numpy as np

        rows = evaluate(self.plan, self.child_table(records))
        matrix = np.array([rows.columns[name] for name in self.model_features], dtype=np.float64).T
        matrix[np.isnan(matrix)] = self.fill
        return rows.keys, matrix

    # The file

    def to_json(self) -> bytes:
        spec = {f.name: getattr(self.spec, f.name) for f in fields(self.spec)}
        document = {
            "format": FORMAT,
            "spec": spec,
            "vocabulary": dict(self.vocabulary),
            "columns": dict(self.columns),
            "model_features": list(self.model_features),
            "fill": self.fill,
            "sql": self.sql,
        }
        return json.dumps(document, indent=1, default=list).encode()

    @classmethod
    def from_json(cls, data: bytes) -> FeatureDefinition:
        try:
            raw = json.loads(data)
            if raw.get("format") != FORMAT:
                raise ValueError(f"format {raw.get('format')!r}, expected {FORMAT}")
            known = {f.name for f in fields(FeatureSpec)}
            spec_fields = raw["spec"]
            extra = sorted(set(spec_fields) - known)
            if extra:
                raise ValueError(f"unknown spec field(s) {', '.join(extra)}")
            spec = FeatureSpec(**_plain_spec(spec_fields))
            fill = raw["fill"]
            if not isinstance(fill, int | float) or isinstance(fill, bool):
                raise ValueError("fill must be a number")
            return cls(
                spec,
                {str(column): list(values) for column, values in raw["vocabulary"].items()},
                {str(column): str(kind) for column, kind in raw["columns"].items()},
                tuple(str(name) for name in raw["model_features"]),
                float(fill),
                str(raw["sql"]),
            )
        except IntegrityError:
            raise
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            raise IntegrityError(f"{FEATURES_FILE} is unreadable: {error}") from None


def _plain_spec(raw: Mapping[str, Any]) -> dict[str, Any]:
    """The spec's fields as FeatureSpec takes them, each of the type it must have."""
    spec = dict(raw)
    for name in ("parent", "key", "child", "child_table"):
        if not isinstance(spec.get(name), str):
            raise ValueError(f"spec.{name} must be text")
    if spec.get("child_index") is not None and not isinstance(spec["child_index"], str):
        raise ValueError("spec.child_index must be text")
    for name in ("ignore", "aggregations", "transforms"):
        if name in spec:
            if not isinstance(spec[name], list) or not all(isinstance(v, str) for v in spec[name]):
                raise ValueError(f"spec.{name} must be a list of names")
            spec[name] = tuple(spec[name])
    for name in ("one_hot", "roles"):
        if name in spec and not isinstance(spec[name], dict):
            raise ValueError(f"spec.{name} must be an object")
    if "depth" in spec and (type(spec["depth"]) is not int):
        raise ValueError("spec.depth must be a whole number")
    return spec


def _kind(kind: pa.DataType) -> str:
    if pa.types.is_dictionary(kind):
        kind = kind.value_type
    if pa.types.is_boolean(kind):
        return "boolean"
    if pa.types.is_integer(kind):
        return "integer"
    if pa.types.is_floating(kind) or pa.types.is_decimal(kind):
        return "float"
    if pa.types.is_timestamp(kind):
        return "timestamp"
    if pa.types.is_date(kind):
        return "date"
    return "string"


def _array(values: list[Any], kind: pa.DataType, name: str, child: str) -> pa.Array:
    try:
        return _converted(values, kind)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, OverflowError):
        pass
    for index, value in enumerate(values):
        try:
            _converted([value], kind)
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, OverflowError):
            raise InvalidInput(
                f"{child}[{index}].{name} must be {_described(kind)}, got {value!r}"[:300], name
            ) from None
    raise InvalidInput(f"the {child}' column {name!r} mixes kinds of values", name)


def _converted(values: list[Any], kind: pa.DataType) -> pa.Array:
    if pa.types.is_string(kind):
        return pa.array(_texts(values), kind)
    if pa.types.is_boolean(kind):
        return pa.array(values, kind)
    if pa.types.is_timestamp(kind) or pa.types.is_date(kind):
        return pa.array(_texts(values), pa.string()).cast(kind)
    return pa.array(values).cast(kind)


def _texts(values: list[Any]) -> list[Any]:
    if not all(value is None or isinstance(value, str) for value in values):
        raise pa.ArrowTypeError("not text")
    return values


def _described(kind: pa.DataType) -> str:
    if pa.types.is_string(kind):
        return "text"
    if pa.types.is_timestamp(kind):
        return "a time (ISO 8601 text)"
    if pa.types.is_date(kind):
        return "a date (ISO 8601 text)"
    return {"int64": "a whole number", "double": "a number", "bool": "true or false"}.get(
        str(kind), str(kind)
    )
