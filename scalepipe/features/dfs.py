"""Deep feature synthesis run where the data is: the spec's query on DuckDB (in process)
or on Spark SQL (the book's chapter 6: feature engineering distributed)."""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from scalepipe.errors import DatasetError
from scalepipe.features.plan import FeaturePlan, plan_features
from scalepipe.features.spec import FeatureSpec
from scalepipe.features.sql import (
    DIALECTS,
    CompiledFeatures,
    Engine,
    compile_plan,
    vocabulary_sql,
)

if TYPE_CHECKING:
    import pandas as pd

# A pyarrow Table or dataset, a pandas DataFrame, a Parquet file or folder (a path), or
# (engine spark) a Spark DataFrame.
Table = Any
ArrowChild = Any  # a pyarrow Table, RecordBatchReader or dataset
ENGINES: tuple[Engine, ...] = ("duckdb", "spark")


@dataclass(frozen=True)
class Features:
    """The feature rows (the key, then every feature) and what made them: the learned
    one-hot vocabulary and the query, to publish with a model trained on them."""

    table: pa.Table
    vocabulary: dict[str, list[str]]
    compiled: CompiledFeatures
    plan: FeaturePlan

    @property
    def names(self) -> tuple[str, ...]:
        return self.compiled.names

    def to_pandas(self) -> pd.DataFrame:
        frame: pd.DataFrame = self.table.to_pandas()
        return frame


def dfs(
    spec: FeatureSpec,
    tables: Mapping[str, Table],
    *,
    vocabulary: Mapping[str, Sequence[str]] | None = None,
    engine: Engine = "duckdb",
    spark: Any = None,
) -> Features:
    """The features of every parent row of `tables[spec.child_table]`. `vocabulary`: the
    one-hot values kept at training time (learned from these rows when None). `spark`:
    the SparkSession for engine "spark" (scalepipe.spark.spark_session() when None)."""
    if engine not in ENGINES:
        raise DatasetError(f"engine must be one of {', '.join(ENGINES)}, not {engine!r}")
    if spec.child_table not in tables:
        raise DatasetError(
            f"no table {spec.child_table!r} among {', '.join(tables) or 'none'} (the spec's child)"
        )
    if vocabulary is not None:
        missing = [column for column in spec.one_hot if column not in vocabulary]
        if missing:
            raise DatasetError(f"the vocabulary lacks one-hot column(s) {', '.join(missing)}")
    run = _on_spark if engine == "spark" else _on_duckdb
    return run(spec, tables[spec.child_table], vocabulary, spark)


def _on_duckdb(
    spec: FeatureSpec, table: Table, vocabulary: Mapping[str, Sequence[str]] | None, _: Any
) -> Features:
    # A Parquet file or folder is read by DuckDB itself, row group by row group as it
    # aggregates, only the columns the query needs: the least memory and time. A pyarrow
    # dataset is scanned through Arrow; anything else becomes an Arrow table first.
    child: ArrowChild | Path
    if isinstance(table, str | os.PathLike):
        child = _parquet(Path(table))
    else:
        child = table if _is_dataset(table) else _arrow(table)
    with _duckdb(spec.child_table, child) as query:
        if isinstance(child, Path):
            schema = query(f"SELECT * FROM {DIALECTS['duckdb'].identifier(spec.child_table)} "
                           "LIMIT 0").schema  # fmt: skip
        else:
            schema = child.schema
        spec.columns(schema)  # names a missing column before any query does
        return _run(spec, schema, vocabulary, "duckdb", query)


def _is_dataset(table: Any) -> bool:
    """A pyarrow dataset; checked without importing pyarrow.dataset (and pandas with it),
    which a caller holding a dataset has imported already."""
    dataset = sys.modules.get("pyarrow.dataset")
    return dataset is not None and isinstance(table, dataset.Dataset)


def _parquet(path: Path) -> Path:
    if not path.exists():
        raise DatasetError(f"no Parquet file or folder {str(path)!r}")
    if path.is_dir() and not any(path.rglob("*.parquet")):
        raise DatasetError(f"{str(path)!r} holds no .parquet file")
    return path


def compute_plan(plan: FeaturePlan, child: ArrowChild) -> pa.Table:
    """A published plan's features (the key, then every feature) of child rows on DuckDB:
    a table, or a stream of record batches that DuckDB reads once, as it groups them."""
    with _duckdb(plan.spec.child_table, child) as query:
        return query(compile_plan(plan, "duckdb").sql)


@contextmanager
def _duckdb(name: str, child: ArrowChild | Path) -> Iterator[Any]:
    """A private DuckDB connection that sees the child rows as table `name`. Given Arrow
    data it can open no file at all: the query is compiled from a spec, and no spec
    needs the disk; given a Parquet path, it reads that path, named by the caller."""
    import duckdb

    if isinstance(child, Path):
        connection = duckdb.connect()
        pattern = str(child / "**" / "*.parquet") if child.is_dir() else str(child)
        connection.read_parquet(pattern).create_view(name)
    else:
        connection = duckdb.connect(config={"enable_external_access": False})
        connection.register(name, child)
    try:

        def query(sql: str) -> pa.Table:
            result: pa.Table = connection.sql(sql).to_arrow_table()
            return result

        yield query
    finally:
        connection.close()


def _on_spark(
    spec: FeatureSpec, table: Table, vocabulary: Mapping[str, Sequence[str]] | None, spark: Any
) -> Features:
    from pyspark.sql.pandas.types import to_arrow_schema

    if spark is None:
        from scalepipe.spark import spark_session

        spark = spark_session()
    # A session of its own, so that the child's view, named as in the spec, leaves the
    # caller's views alone; a caller's DataFrame reaches it as a global view.
    session = spark.newSession()
    shared = None
    if isinstance(table, str | os.PathLike):
        table = session.read.parquet(str(_parquet(Path(table))))
    if hasattr(table, "createOrReplaceGlobalTempView"):
        shared = f"scalepipe_{uuid.uuid4().hex[:12]}"
        table.createOrReplaceGlobalTempView(shared)
        frame = session.table(f"global_temp.{shared}")
    else:
        frame = session.createDataFrame(_plain(_arrow(table)))
    try:
        schema = to_arrow_schema(frame.schema, timezone="UTC")
        spec.columns(schema)
        frame.createOrReplaceTempView(spec.child_table)

        def query(sql: str) -> pa.Table:
            result: pa.Table = session.sql(sql).toArrow()
            return result

        return _run(spec, schema, vocabulary, "spark", query)
    finally:
        if shared is not None:
            session.catalog.dropGlobalTempView(shared)


def _run(
    spec: FeatureSpec,
    schema: pa.Schema,
    vocabulary: Mapping[str, Sequence[str]] | None,
    engine: Engine,
    query: Any,
) -> Features:
    if vocabulary is None:
        learned = {
            column: query(vocabulary_sql(spec, column, engine)).column(0).to_pylist()
            for column in spec.one_hot
        }
    else:
        learned = {column: list(vocabulary[column]) for column in spec.one_hot}
    plan = plan_features(spec, schema, learned)
    compiled = compile_plan(plan, engine)
    return Features(query(compiled.sql), learned, compiled, plan)


def _arrow(table: Table) -> pa.Table:
    if isinstance(table, pa.Table):
        return table
    if _is_dataset(table):
        return table.to_table()
    return pa.Table.from_pandas(table, preserve_index=False)


def _plain(table: pa.Table) -> pa.Table:
    """Dictionary columns decoded: Spark takes no Arrow dictionaries."""
    fields = [
        field.with_type(field.type.value_type) if pa.types.is_dictionary(field.type) else field
        for field in table.schema
    ]
    return table.cast(pa.schema(fields))
