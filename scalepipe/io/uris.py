"""The strings that name sources and sinks, wherever a command or a job takes one.

Sources (rows to read):

    data.parquet | data.csv | folder/        files on this machine (a folder: every
    s3://bucket/path | gs://bucket/path       .parquet, or every .csv, file in it)
    https://host/file.csv                     downloaded once into the cache folder
    sql:SELECT ...                            a query on the warehouse (DuckDB, PostgreSQL)
    table:NAME                                a warehouse table
    dataset:games?rows=10000&seed=0&table=…   a generated dataset, block by block
    bigquery:SELECT ...                       a query on BigQuery
    kaggle:OWNER/DATASET/FILE.csv             a file of a Kaggle dataset, downloaded once

Sinks (rows to write, visible only when complete, once per run id):

    predictions/ | s3://bucket/predictions/    a Parquet folder: one `run=<id>/` each run
    table:NAME                                 a warehouse table, replaced by the run's rows
"""

from __future__ import annotations

from pathlib import Path

from scalepipe.config import Settings
from scalepipe.io.cloud import BigQuerySource, KaggleSource
from scalepipe.io.sinks import ParquetFolderSink, WarehouseTableSink
from scalepipe.io.sources import DatasetSource, FileSource, QuerySource, UrlSource
from scalepipe.io.warehouse import check_identifier
from scalepipe.types import Sink, Source


def open_source(text: str, *, settings: Settings | None = None) -> Source:
    """The Source a string names (see the module's docstring)."""
    settings = settings or Settings.load()
    if text.startswith("sql:"):
        return QuerySource(text.removeprefix("sql:").strip(), settings.warehouse)
    if text.startswith("table:"):
        table = check_identifier(text.removeprefix("table:").strip())
        return QuerySource(f'SELECT * FROM "{table}"', settings.warehouse)
    if text.startswith("dataset:"):
        return DatasetSource.parse(text)
    if text.startswith("bigquery:"):
        return BigQuerySource(text.removeprefix("bigquery:"))
    if text.startswith("kaggle:"):
        return KaggleSource(text.removeprefix("kaggle:"), Path(settings.cache_dir))
    if text.startswith(("http://", "https://")):
        return UrlSource(text, Path(settings.cache_dir))
    return FileSource(text)


def open_sink(text: str, *, settings: Settings | None = None) -> Sink:
    """The Sink a string names (see the module's docstring)."""
    settings = settings or Settings.load()
    if text.startswith("table:"):
        return WarehouseTableSink(settings.warehouse, text.removeprefix("table:").strip())
    return ParquetFolderSink(text)
