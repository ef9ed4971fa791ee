"""Plain Arrow types: what every sink and engine writes, whatever the source handed over.

Sources give dictionary-encoded columns (Parquet's categoricals) and large strings
(pandas 3's strings); sinks, Spark and Beam want one type per column whatever the
source, so the columns are decoded and narrowed on the way out, and every field may
hold nulls.
"""

from __future__ import annotations

import pyarrow as pa

# The metadata of a field that holds one value in every row of a run (the model, the run
# id): a sink may store that value once per batch instead of once per row.
CONSTANT = {b"scalepipe": b"constant"}


def plain_type(kind: pa.DataType) -> pa.DataType:
    if pa.types.is_dictionary(kind):
        kind = kind.value_type
    return pa.string() if pa.types.is_large_string(kind) else kind


def plain_field(field: pa.Field) -> pa.Field:
    return pa.field(field.name, plain_type(field.type), nullable=True)


def plain_schema(schema: pa.Schema) -> pa.Schema:
    return pa.schema([plain_field(field) for field in schema])


def plain_column(column: pa.Array) -> pa.Array:
    if pa.types.is_dictionary(column.type):
        column = column.dictionary_decode()
    return column.cast(pa.string()) if pa.types.is_large_string(column.type) else column


def plain_batch(batch: pa.RecordBatch) -> pa.RecordBatch:
    return pa.RecordBatch.from_arrays(
        [plain_column(column) for column in batch.columns], schema=plain_schema(batch.schema)
    )


def is_constant(field: pa.Field) -> bool:
    return bool(field.metadata) and field.metadata.get(b"scalepipe") == CONSTANT[b"scalepipe"]
