"""Sources and sinks: where rows come from and where they go, as Arrow record batches.

    from scalepipe.io import open_source, open_sink
    source = open_source("s3://bucket/new-users/")          # or data.parquet, sql:SELECT ...
    for batch in source.read_batches(["G1", "G2"]): ...
    writer = open_sink("predictions/").writer(schema, run_id="2026-11-28")
    writer.write(batch); writer.commit()                    # visible only now, once per run id

The contracts (Source, Sink, Writer) are in scalepipe/types.py; `data load`, `train`
and the batch and stream jobs to come read and write through them.
"""

from scalepipe.io.sinks import ParquetFolderSink, WarehouseTableSink, open_sink
from scalepipe.io.sources import (
    DatasetSource,
    FileSource,
    QuerySource,
    UrlSource,
    open_source,
)

__all__ = [
    "DatasetSource",
    "FileSource",
    "ParquetFolderSink",
    "QuerySource",
    "UrlSource",
    "WarehouseTableSink",
    "open_sink",
    "open_source",
]
