"""Sources and sinks: where rows come from and where they go, as Arrow record batches.

    from scalepipe.io import open_source, open_sink
    source = open_source("s3://bucket/new-users/")          # or data.parquet, sql:SELECT ...
    for batch in source.read_batches(["G1", "G2"]): ...
    writer = open_sink("predictions/").writer(schema, run_id="2026-11-28")
    writer.write(batch); writer.commit()                    # visible only now, once per run id

The contracts (Source, Sink, Writer) are in scalepipe/types.py; `data load`, `train`
and the batch and stream jobs to come read and write through them.
"""

from scalepipe.io.cloud import BigQuerySource, KaggleSource
from scalepipe.io.datasets import load, load_tables, write_dataset
from scalepipe.io.sinks import ParquetFolderSink, WarehouseTableSink
from scalepipe.io.sources import (
    DatasetSource,
    FileSource,
    QuerySource,
    UrlSource,
)
from scalepipe.io.uris import open_sink, open_source
from scalepipe.io.warehouse import DuckDBWarehouse, PostgresWarehouse, Warehouse, open_warehouse

__all__ = [
    "BigQuerySource",
    "DatasetSource",
    "DuckDBWarehouse",
    "FileSource",
    "KaggleSource",
    "ParquetFolderSink",
    "PostgresWarehouse",
    "QuerySource",
    "UrlSource",
    "Warehouse",
    "WarehouseTableSink",
    "load",
    "load_tables",
    "open_sink",
    "open_source",
    "open_warehouse",
    "write_dataset",
]
