"""A feature spec compiled to one SQL query, for DuckDB or Spark SQL: the child rows
one-hot encoded and transformed, grouped by the parent's key, every aggregation a
column named as featuretools names it (`SUM(plays.x)`, `PERCENT_TRUE(plays.event = Goal)`,
`MODE(plays.DAY(dateTime))`).

The values follow pandas, as featuretools computes them: STD is the sample standard
deviation, SKEW the adjusted Fisher-Pearson skewness (NULL under 3 values, 0 for values
with no spread), SUM of no values is 0, NaN counts as missing, PERCENT_TRUE counts a
missing value as false, MODE breaks ties by the smallest value, WEEKDAY is 0 for Monday.
Where an engine's function means something else (Spark's skewness is the population
skewness), the dialect corrects it.

Every name and value that comes from data is quoted, never pasted: a category value
is a string literal escaped as the dialect reads it, a column name a quoted identifier.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import pyarrow as pa

from scalepipe.features.plan import FeaturePlan, Input, plan_features
from scalepipe.features.spec import FeatureSpec

Engine = Literal["duckdb", "spark"]
KEY = "__scalepipe_key"
VALUE = "__scalepipe_value"
ROWS = "__scalepipe_rows"


@dataclass(frozen=True)
class Dialect:
    """How one engine spells what the features need."""

    name: Engine
    quote: str  # the identifier quote, doubled inside a name
    text: str  # the text type
    transforms: Mapping[str, str]
    skew: str
    # The most frequent value, ties to the smallest (pandas' mode); NULL if there is none.
    mode: str
    num_unique: str = "count(DISTINCT {0})"
    escapes_backslash: bool = False
    common: Mapping[str, str] = field(
        default_factory=lambda: {
            "sum": "CAST(coalesce(sum({0}), 0) AS DOUBLE)",
            "std": "stddev_samp({0})",
            "max": "CAST(max({0}) AS DOUBLE)",
            "min": "CAST(min({0}) AS DOUBLE)",
            "mean": "avg({0})",
            "percent_true": "avg(coalesce(CAST({0} AS DOUBLE), 0))",
            "count": "count({0})",
        }
    )

    def identifier(self, name: str) -> str:
        return self.quote + name.replace(self.quote, self.quote * 2) + self.quote

    def literal(self, value: str) -> str:
        if self.escapes_backslash:  # Spark reads \ as an escape inside a literal
            return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
        return "'" + value.replace("'", "''") + "'"

    def aggregate(self, primitive: str, column: str) -> str:
        if primitive == "skew":
            return self.skew.format(column)
        if primitive == "mode":
            return self.mode.format(column)
        if primitive == "num_unique":
            return self.num_unique.format(column)
        return self.common[primitive].format(column)


DIALECTS: dict[Engine, Dialect] = {
    "duckdb": Dialect(
        name="duckdb",
        quote='"',
        text="VARCHAR",
        transforms={
            "day": "dayofmonth({0})",
            "month": "month({0})",
            "weekday": "isodow({0}) - 1",
            "year": "year({0})",
        },
        # DuckDB's skewness is pandas' but for values with no spread (NULL, pandas 0).
        skew="CASE WHEN count({0}) >= 3 AND var_pop({0}) = 0 THEN 0 ELSE skewness({0}) END",
        # The value counts of the group as a map, then the entry with the most rows and
        # the smallest value (structs compare field by field).
        mode=(
            "list_min(list_transform(map_entries(histogram({0})), "
            "lambda e: {{'n': -CAST(e.value AS BIGINT), 'v': e.key}})).v"
        ),
    ),
    "spark": Dialect(
        name="spark",
        quote="`",
        text="STRING",
        transforms={
            "day": "dayofmonth({0})",
            "month": "month({0})",
            "weekday": "weekday({0})",
            "year": "year({0})",
        },
        # Spark's skewness is the population skewness: adjusted by sqrt(n(n-1))/(n-2).
        skew=(
            "CASE WHEN count({0}) < 3 THEN NULL WHEN var_pop({0}) = 0 THEN 0 "
            "ELSE skewness({0}) * sqrt(count({0}) * (count({0}) - 1)) / (count({0}) - 2) END"
        ),
        mode="mode({0}, true)",  # deterministic: the lowest value among ties
        # Spark plans several count(DISTINCT) by copying every row once per column
        # (Expand): a set per group reads each row once.
        num_unique="size(collect_set({0}))",
        escapes_backslash=True,
    ),
}


@dataclass(frozen=True)
class CompiledFeatures:
    sql: str
    names: tuple[str, ...]  # the feature columns, in featuretools' order
    engine: Engine = "duckdb"


def compile_features(
    spec: FeatureSpec,
    schema: pa.Schema,
    vocabulary: Mapping[str, Sequence[str]],
    engine: Engine = "duckdb",
) -> CompiledFeatures:
    """The query over `spec.child_table` (with `schema`) that computes every feature,
    one row per key; `vocabulary`: the kept values of each one-hot column."""
    return compile_plan(plan_features(spec, schema, vocabulary), engine)


def compile_plan(plan: FeaturePlan, engine: Engine = "duckdb") -> CompiledFeatures:
    dialect = DIALECTS[engine]
    quoted = dialect.identifier
    spec = plan.spec
    selected = [f"{quoted(spec.key)} AS {KEY}"]
    selected += [f"{_expression(item, dialect)} AS {quoted(item.label)}" for item in plan.inputs]
    # A child row without a key belongs to no parent.
    child = (
        f"SELECT {', '.join(selected)}\n  FROM {quoted(spec.child_table)}"
        f"\n  WHERE {quoted(spec.key)} IS NOT NULL"
    )
    # Every feature is an aggregate of one GROUP BY: one pass over the child rows, which
    # the engine streams rather than keeps.
    aggregated = [f"{KEY} AS {quoted(spec.key)}"]
    for feature in plan.features:
        column = "*" if feature.input is None else quoted(feature.input.label)
        aggregated.append(
            f"{dialect.aggregate(feature.primitive, column)} AS {quoted(feature.name)}"
        )
    columns = ",\n  ".join(aggregated)
    sql = f"WITH child AS (\n  {child}\n)\nSELECT {columns}\nFROM child GROUP BY {KEY}"
    sql += f"\nORDER BY {KEY}"
    return CompiledFeatures(sql, plan.names, engine)


def _expression(item: Input, dialect: Dialect) -> str:
    """The SQL of one input's value in a child row."""
    column = dialect.identifier(item.column)
    if item.transform is not None:
        return dialect.transforms[item.transform].format(column)
    if item.equals is not None:
        return f"coalesce(CAST({column} AS {dialect.text}) = {dialect.literal(item.equals)}, false)"
    if item.kept is not None:
        kept = ", ".join(dialect.literal(value) for value in item.kept) or "NULL"
        return f"coalesce(CAST({column} AS {dialect.text}) NOT IN ({kept}), true)"
    if item.floating:
        return f"CASE WHEN isnan({column}) THEN NULL ELSE {column} END"
    if item.role == "categorical":
        return f"CAST({column} AS {dialect.text})"
    return column


def vocabulary_sql(spec: FeatureSpec, column: str, engine: Engine = "duckdb") -> str:
    """The query for the `spec.one_hot[column]` most frequent values of a column (ties:
    the smaller value first)."""
    dialect = DIALECTS[engine]
    value = f"CAST({dialect.identifier(column)} AS {dialect.text})"
    return (
        f"SELECT {value} AS {VALUE}, count(*) AS {ROWS} "
        f"FROM {dialect.identifier(spec.child_table)} WHERE {dialect.identifier(column)} "
        f"IS NOT NULL GROUP BY {value} ORDER BY {ROWS} DESC, {VALUE} "
        f"LIMIT {int(spec.one_hot[column])}"
    )
