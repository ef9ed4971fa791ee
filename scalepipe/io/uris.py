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
    table:NAME?mode=append                     ... or the run's rows added (a rerun replaces them)
    redis://HOST:6379/0?prefix=games:          a Redis hash per row, keyed by the key columns
    datastore://PROJECT/KIND?namespace=NS      a Datastore entity per row, named by its key
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from scalepipe.config import Settings
from scalepipe.errors import DatasetError
from scalepipe.io.cloud import BigQuerySource, KaggleSource
from scalepipe.io.keyvalue import DatastoreSink, RedisSink
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


def open_sink(
    text: str, *, settings: Settings | None = None, keys: Sequence[str] | None = None
) -> Sink:
    """The Sink a string names (see the module's docstring); `keys` name the entries of a
    key-value store."""
    settings = settings or Settings.load()
    if text.startswith("table:"):
        table, _, query = text.removeprefix("table:").strip().partition("?")
        options = dict(parse_qsl(query, keep_blank_values=True))
        mode = options.pop("mode", "replace")
        if options or mode not in ("replace", "append"):
            raise DatasetError(f"a table sink takes only ?mode=replace|append, not {text!r}")
        return WarehouseTableSink(settings.warehouse, table, append=mode == "append")
    if text.startswith(("redis://", "rediss://")):
        return RedisSink(text, keys)
    if text.startswith("datastore://"):
        return DatastoreSink(text, keys)
    scheme, separator, _ = text.partition("://")
    if separator and scheme not in file_schemes():
        raise DatasetError(
            f"unknown sink {text!r}: use a folder (local, s3://, gs://), table:NAME or "
            "redis://HOST:PORT/DB?prefix=P"
        )
    return ParquetFolderSink(text)


def file_schemes() -> set[str]:
    from fsspec.registry import known_implementations

    return set(known_implementations)


def is_local(filesystem: Any) -> bool:
    """Whether an fsspec filesystem is the local disk (where a rename is atomic)."""
    protocol = filesystem.protocol
    return "file" in ((protocol,) if isinstance(protocol, str) else tuple(protocol))
