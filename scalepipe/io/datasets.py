"""Named datasets read through Sources: `data show`, `data load` and `train` share this path.

The `--source` of a named dataset is any Source string (scalepipe/io/sources.py) for a
one-table dataset, plus these names:

    generated                 the deterministic generator (the default)
    warehouse                 the dataset's own tables in the warehouse (see `data load`)
    FOLDER                    a folder holding <table>.csv or <table>.parquet per table
    bigquery                  the book's natality query on BigQuery (network, credentials)
    kaggle                    the book's NHL tables from Kaggle (network, API token)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa

from scalepipe.config import Settings, redact_url
from scalepipe.data.catalog import DatasetError, DatasetSpec, Tables, spec
from scalepipe.io.sources import QuerySource, check_columns
from scalepipe.io.uris import open_source
from scalepipe.io.warehouse import Warehouse, check_identifier
from scalepipe.types import Source

if TYPE_CHECKING:
    import pandas as pd

GENERATED = "generated"
WAREHOUSE = "warehouse"
CLOUD_SOURCES = {"bigquery": "natality", "kaggle": "nhl"}
BlockCallback = Callable[[str, int, int], None]
_TABLE_FILES = (".parquet", ".csv", ".csv.gz")


def dataset_sources(
    name: str, source: str, *, rows: int | None = None, settings: Settings | None = None
) -> dict[str, Source]:
    """The Source of every table of dataset `name`, for a `--source` string."""
    dataset = spec(name)
    settings = settings or Settings.load()
    if source == WAREHOUSE:
        return {
            table: QuerySource(f'SELECT * FROM "{check_identifier(table)}"', settings.warehouse)
            for table in dataset.tables
        }
    if source in CLOUD_SOURCES:
        return _cloud_sources(dataset, source, rows, settings)
    folder = _table_files(dataset, source)
    if folder is not None:
        return {table: open_source(path, settings=settings) for table, path in folder.items()}
    if len(dataset.tables) > 1:
        raise DatasetError(
            f"{dataset.name} has {len(dataset.tables)} tables ({', '.join(dataset.tables)}); "
            f"{redact_url(source)} holds one: use a folder holding {_files(dataset)}, "
            "or --source warehouse"
        )
    return {dataset.main_table: open_source(source, settings=settings)}


def load_tables(
    name: str,
    *,
    source: str | None = None,
    rows: int | None = None,
    seed: int = 0,
    warehouse: str | None = None,
    settings: Settings | None = None,
) -> Tables:
    """Every table of dataset `name`, read from `source` and checked against its schema."""
    dataset = spec(name)
    if rows is not None and rows < 0:
        raise DatasetError(f"rows must be 0 or more, got {rows}")
    if source in (None, GENERATED):
        return dataset.generate(rows, seed)
    settings = _with_warehouse(settings or Settings.load(), warehouse)
    tables = {}
    for table, table_source in dataset_sources(name, source, rows=rows, settings=settings).items():
        tables[table] = _read_frame(dataset, table, table_source, rows)
    return tables


def load(name: str, *, table: str | None = None, **options: object) -> pd.DataFrame:
    """One table of dataset `name` (its main table by default); options as load_tables."""
    dataset = spec(name)
    wanted = table or dataset.main_table
    if wanted not in dataset.tables:
        raise DatasetError(
            f"dataset {name!r} has tables {', '.join(dataset.tables)}, not {wanted!r}"
        )
    return load_tables(name, **options)[wanted]  # type: ignore[arg-type]


def write_dataset(
    name: str,
    warehouse: Warehouse,
    *,
    rows: int | None = None,
    source: str | None = None,
    seed: int = 0,
    on_block: BlockCallback | None = None,
    settings: Settings | None = None,
) -> dict[str, int]:
    """Replace the dataset's tables in `warehouse`; return rows written per table.

    Every source streams batch by batch in bounded memory, so millions of rows fit;
    `on_block` hears (dataset, blocks done, blocks in all) after each generated block.
    """
    dataset = spec(name)
    if source in (None, GENERATED):
        return warehouse.write_tables(_generated_blocks(dataset, rows, seed, on_block))
    sources = dataset_sources(name, source, rows=rows, settings=settings)
    return warehouse.write_tables(_source_blocks(dataset, sources, rows))


def _generated_blocks(
    dataset: DatasetSpec, rows: int | None, seed: int, on_block: BlockCallback | None
) -> Iterator[Tables]:
    total = dataset.default_rows if rows is None else rows
    blocks = max(1, math.ceil(total / dataset.block_rows))
    for done, block in enumerate(dataset.generate_blocks(rows, seed), start=1):
        yield block
        if on_block is not None:
            on_block(dataset.name, done, blocks)


def _source_blocks(
    dataset: DatasetSpec, sources: Mapping[str, Source], rows: int | None
) -> Iterator[dict[str, pa.RecordBatch]]:
    for table, source in sources.items():
        for batch in _checked_batches(dataset, table, source, rows):
            yield {table: batch}


def _checked_batches(
    dataset: DatasetSpec, table: str, source: Source, rows: int | None
) -> Iterator[pa.RecordBatch]:
    """The source's batches, checked for the table's columns before the first is given
    out (read once: asking a query's schema apart would run it twice); at most `rows`."""
    needed = dataset.required_columns(table)
    where = f"{dataset.name} table {table!r} ({_where(source)})"
    checked = False
    left = rows
    for batch in source.read_batches():
        if not checked:
            check_columns(batch.schema, needed, where)
            checked = True
        if left is not None:
            batch = batch.slice(0, left)
            left -= batch.num_rows
        if batch.num_rows:
            yield batch
        if left == 0:
            break
    if not checked:  # no rows at all: the schema still has to hold the columns
        check_columns(source.schema(), needed, where)


def _read_frame(dataset: DatasetSpec, table: str, source: Source, rows: int | None) -> pd.DataFrame:
    batches = list(_checked_batches(dataset, table, source, rows))
    rows_read = pa.Table.from_batches(batches) if batches else source.schema().empty_table()
    frame: pd.DataFrame = rows_read.to_pandas()
    return frame


def _where(source: Source) -> str:
    described = source.describe()
    return str(described.get("url") or described.get("sql") or described.get("kind"))


def _table_files(dataset: DatasetSpec, source: str) -> dict[str, str] | None:
    """For a local folder holding a file per table: table -> file; otherwise None."""
    folder = Path(source)
    if "://" in source or ":" in source.split("/", 1)[0] or not folder.is_dir():
        return None
    found = {}
    for table in dataset.tables:
        path = next((folder / f"{table}{suffix}" for suffix in _TABLE_FILES
                     if (folder / f"{table}{suffix}").is_file()), None)  # fmt: skip
        if path is None:
            if len(dataset.tables) == 1:
                return None
            raise DatasetError(
                f"{folder} holds no {table}.csv or {table}.parquet for {dataset.name}"
            )
        found[table] = str(path)
    return found


def _cloud_sources(
    dataset: DatasetSpec, source: str, rows: int | None, settings: Settings
) -> dict[str, Source]:
    from scalepipe.io.cloud import NATALITY_QUERY, NHL_KAGGLE_DATASET, BigQuerySource, KaggleSource

    if CLOUD_SOURCES[source] != dataset.name:
        raise DatasetError(
            f"{source} holds the book's {CLOUD_SOURCES[source]} data, not {dataset.name}"
        )
    if source == "bigquery":
        query = NATALITY_QUERY.format(rows=int(rows or dataset.default_rows))
        return {dataset.main_table: BigQuerySource(query)}
    cache = Path(settings.cache_dir)
    return {
        table: KaggleSource(f"{NHL_KAGGLE_DATASET}/{table}.csv", cache) for table in dataset.tables
    }


def _with_warehouse(settings: Settings, warehouse: str | None) -> Settings:
    if warehouse is None:
        return settings
    from dataclasses import replace

    return replace(settings, warehouse=warehouse)


def _files(dataset: DatasetSpec) -> str:
    return " and ".join(f"{table}.csv" for table in dataset.tables)
