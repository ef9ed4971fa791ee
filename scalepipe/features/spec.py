"""A feature spec: what deep feature synthesis aggregates, and how, for one parent table
and one child table (the book's games and their plays).

The spec names the tables and keys, the categorical columns to one-hot (their top-N
values are learned from data once and kept as the definition, as featuretools'
`encode_features` does), the primitives and the depth. Every other column of the child
takes the role its Arrow type gives it: numbers are aggregated by the numeric
primitives, booleans by PERCENT_TRUE, text by MODE and NUM_UNIQUE, times through the
DAY, MONTH, WEEKDAY and YEAR transforms at depth 2.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

import pyarrow as pa

from scalepipe.errors import DatasetError

TABLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")
Role = Literal["numeric", "boolean", "categorical", "datetime"]
ROLES: tuple[Role, ...] = ("numeric", "boolean", "categorical", "datetime")
# featuretools' default primitives (1.31), which the book's chapter 1 uses.
AGGREGATIONS = (
    "sum", "std", "max", "skew", "min", "mean", "count", "percent_true", "num_unique", "mode",
)  # fmt: skip
TRANSFORMS = ("day", "year", "month", "weekday")
# Which aggregations take which role of column (featuretools' input types).
TAKES: dict[str, tuple[Role, ...]] = {
    "sum": ("numeric",),
    "std": ("numeric",),
    "max": ("numeric",),
    "skew": ("numeric",),
    "min": ("numeric",),
    "mean": ("numeric",),
    "percent_true": ("boolean",),
    "num_unique": ("categorical",),
    "mode": ("categorical",),
}


@dataclass(frozen=True)
class FeatureSpec:
    """Deep feature synthesis of `child` rows onto `parent` rows, joined by `key`."""

    parent: str  # the entity the features describe ("games")
    key: str  # the parent's index, a column of the child ("game_id")
    child: str  # the child entity's name in feature names ("plays")
    child_table: str  # the table that holds the child rows ("game_plays")
    child_index: str | None = None  # the child's own id, never a feature ("play_id")
    one_hot: Mapping[str, int] = field(default_factory=dict)  # column -> top N values
    roles: Mapping[str, Role] = field(default_factory=dict)  # overrides of inferred roles
    ignore: tuple[str, ...] = ()
    aggregations: tuple[str, ...] = AGGREGATIONS
    transforms: tuple[str, ...] = TRANSFORMS
    depth: int = 2

    def __post_init__(self) -> None:
        if not TABLE_NAME.fullmatch(self.child_table):
            raise DatasetError(
                f"child_table must be a plain table name (letters, digits, _), "
                f"not {self.child_table!r}"
            )
        unknown = [name for name in self.aggregations if name not in (*TAKES, "count")]
        if unknown:
            raise DatasetError(
                f"unknown aggregation primitive(s) {', '.join(unknown)}; "
                f"known: {', '.join(AGGREGATIONS)}"
            )
        unknown = [name for name in self.transforms if name not in TRANSFORMS]
        if unknown:
            raise DatasetError(
                f"unknown transform primitive(s) {', '.join(unknown)}; "
                f"known: {', '.join(TRANSFORMS)}"
            )
        if self.depth not in (1, 2):
            raise DatasetError(f"depth must be 1 or 2, not {self.depth}")
        for column, top in self.one_hot.items():
            if not isinstance(top, int) or top < 1:
                raise DatasetError(f"one_hot[{column!r}] must be a count of 1 or more, not {top!r}")
        for column, role in self.roles.items():
            if role not in ROLES:
                raise DatasetError(f"roles[{column!r}] must be one of {', '.join(ROLES)}")

    def columns(self, schema: pa.Schema) -> dict[str, Role]:
        """The child's columns that become features, with their roles, in schema order;
        one-hot columns are not among them (their indicators are)."""
        if self.key not in schema.names:
            raise DatasetError(
                f"{self.child_table} lacks the key column {self.key!r}; "
                f"it has {', '.join(schema.names[:20])}"
            )
        for name in (*self.one_hot, *self.roles, *self.ignore):
            if name not in schema.names:
                raise DatasetError(f"{self.child_table} has no column {name!r} (named in the spec)")
        skipped = {self.key, self.child_index, *self.ignore, *self.one_hot}
        roles: dict[str, Role] = {}
        for column in schema:
            if column.name in skipped:
                continue
            role = self.roles.get(column.name) or _role(column.type)
            if role is not None:
                roles[column.name] = role
        return roles


def _role(kind: pa.DataType) -> Role | None:
    if pa.types.is_dictionary(kind):
        kind = kind.value_type
    if pa.types.is_boolean(kind):
        return "boolean"
    if pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_decimal(kind):
        return "numeric"
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return "categorical"
    if pa.types.is_timestamp(kind) or pa.types.is_date(kind):
        return "datetime"
    return None


def nhl_spec() -> FeatureSpec:
    """The book's chapter 1: plays one-hot encoded (event and secondary type, top 10 of
    each), normalised into games by game_id, every default primitive, depth 2."""
    return FeatureSpec(
        parent="games",
        key="game_id",
        child="plays",
        child_table="game_plays",
        child_index="play_id",
        one_hot={"event": 10, "secondaryType": 10},
    )


def spec_for(dataset: str) -> FeatureSpec:
    """The feature spec of a named dataset."""
    specs = {"nhl": nhl_spec}
    if dataset not in specs:
        raise DatasetError(
            f"no feature spec for dataset {dataset!r}; datasets with one: {', '.join(specs)}"
        )
    return specs[dataset]()
