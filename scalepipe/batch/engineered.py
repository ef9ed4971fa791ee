"""A source of child rows (NHL plays) seen as the feature rows (one per game) that a model
trained on engineered features scores: the published feature definition computed on
DuckDB in one streaming pass over the source, then handed to the job like any table."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from scalepipe.errors import DatasetError
from scalepipe.features.definition import FeatureDefinition
from scalepipe.features.dfs import compute_plan
from scalepipe.types import Source

BATCH_ROWS = 65_536


class FeatureRowsSource:
    def __init__(self, source: Source, definition: FeatureDefinition) -> None:
        self.source = source
        self.definition = definition
        have = source.schema().names
        missing = [name for name in definition.columns if name not in have]
        if missing:
            child = definition.spec.child
            raise DatasetError(
                f"the source lacks the {child}' column(s) {', '.join(missing)}; a model "
                f"trained on {child} features scores {child} rows ({', '.join(definition.columns)})"
            )

    def schema(self) -> pa.Schema:
        key = self.definition.spec.key
        fields = [self.definition.schema.field(key)]
        fields += [pa.field(name, pa.float64()) for name in self.definition.model_features]
        return pa.schema(fields)

    def read_batches(self, columns: Sequence[str] | None = None) -> Iterator[pa.RecordBatch]:
        child = list(self.definition.columns)
        schema = pa.schema([self.source.schema().field(name) for name in child])
        batches = (batch.select(child) for batch in self.source.read_batches(child))
        reader = pa.RecordBatchReader.from_batches(schema, batches)
        features = compute_plan(self.definition.plan, reader)
        wanted = list(columns) if columns is not None else self.schema().names
        arrays = []
        for name in wanted:
            column = features.column(name)
            if name != self.definition.spec.key:
                column = pc.fill_null(column.cast(pa.float64()), self.definition.fill)
            arrays.append(column)
        table = pa.Table.from_arrays(arrays, names=wanted)
        yield from table.to_batches(max_chunksize=BATCH_ROWS)

    def describe(self) -> dict[str, Any]:
        spec = self.definition.spec
        return {
            "kind": f"{spec.parent} features of {spec.child}",
            "features": len(self.definition.model_features),
            "of": self.source.describe(),
        }
