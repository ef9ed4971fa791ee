"""--log-predictions for batch and stream jobs: a PredictionRecord (scalepipe/predict/
records.py) for every row scored, built from Arrow batches, written on a thread of its
own.

    PATH.parquet          a folder of Parquet files (`inputs` as a struct column), a file
                          per 100,000 records and at the end; local or s3://, gs://
    table:NAME            rows of a warehouse table (`inputs` as JSON text)
    any other PATH        JSON Lines, a record per line

The job hands each scored batch over through a queue of at most 8 batches: writing
overlaps scoring, memory stays bounded, and a job that outruns its log waits for it.
`close()` writes everything still queued, so a job that ends (or is stopped with
SIGTERM) loses no record; a write that fails is reported when the job ends.
"""

from __future__ import annotations

import json
import os
import queue
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pyarrow as pa

from scalepipe.config import Settings
from scalepipe.errors import DatasetError
from scalepipe.io.uris import is_local

PARQUET_FILE_ROWS = 100_000
PENDING_BATCHES = 8


@dataclass(frozen=True)
class _Batch:
    model: str
    version: int
    ids: pa.Array
    inputs: pa.RecordBatch
    outputs: np.ndarray
    latency_ms: float
    at: float


def is_parquet_log(path: str) -> bool:
    """Whether `path` names a log written as a folder of Parquet files."""
    return not path.startswith("table:") and path.rstrip("/").endswith(".parquet")


class PredictionLogWriter:
    def __init__(self, path: str, *, settings: Settings | None = None) -> None:
        self.path = path.rstrip("/")
        self.kind = (
            "table" if path.startswith("table:") else "parquet" if is_parquet_log(path) else "jsonl"
        )
        self._settings = settings
        self._queue: queue.Queue[_Batch | None] = queue.Queue(maxsize=PENDING_BATCHES)
        self._parts: list[pa.Table] = []
        self._error: BaseException | None = None
        self.records = 0
        self._open()
        self._thread = threading.Thread(target=self._run, name="prediction log", daemon=True)
        self._thread.start()

    def add(
        self,
        model: str,
        version: int,
        ids: pa.Array | list[str],
        inputs: pa.RecordBatch,
        outputs: Any,
        seconds: float,
        at: float | None = None,
    ) -> None:
        """The records of one scored batch: `inputs` the features of its scored rows, in
        order, `outputs` their scores, `seconds` the time scoring the batch took, `at`
        when it was scored (now, unless a worker scored it earlier)."""
        if self._error is not None:
            return  # reported at close(); the job goes on
        ids = ids if isinstance(ids, pa.Array) else pa.array(ids, pa.string())
        latency = seconds * 1000.0 / max(inputs.num_rows, 1)
        scores = np.asarray(outputs, dtype=np.float64)
        moment = time.time() if at is None else at
        self._queue.put(_Batch(model, version, ids, inputs, scores, latency, moment))

    def close(self) -> int:
        """Write what is queued; the count of records written, or a DatasetError naming
        what failed."""
        self._queue.put(None)
        self._thread.join()
        if self._error is not None:
            raise DatasetError(
                f"the prediction log {self.path} stopped after {self.records:,} records: "
                f"{self._error}"
            ) from self._error
        return self.records

    def _open(self) -> None:
        if self.kind == "table":
            from scalepipe.io.warehouse import check_identifier, open_warehouse

            self._table = check_identifier(self.path.removeprefix("table:"))
            self._warehouse = open_warehouse((self._settings or Settings.load()).warehouse)
            return
        import fsspec

        self._filesystem, self._root = fsspec.core.url_to_fs(self.path)
        if self.kind == "parquet":
            self._filesystem.makedirs(self._root, exist_ok=True)
        else:
            parent = self._root.rsplit("/", 1)[0] if "/" in self._root else "."
            self._filesystem.makedirs(parent, exist_ok=True)

    def _run(self) -> None:
        while True:
            batch = self._queue.get()
            try:
                if batch is None:
                    self._flush_parquet()
                    return
                if self._error is None:
                    self._write(_records(batch))
            except Exception as error:  # kept for close(): logging never stops a job
                self._error = error

    def _write(self, table: pa.Table) -> None:
        if self.kind == "parquet":
            self._parts.append(table)
            if sum(part.num_rows for part in self._parts) >= PARQUET_FILE_ROWS:
                self._flush_parquet()
            return
        if self.kind == "table":
            inputs = table.column("inputs").to_pylist()
            text = pa.array([_json(row) for row in inputs], pa.string())
            rows = table.set_column(table.schema.get_field_index("inputs"), "inputs", text)
            self._warehouse.append(self._table, [rows], replacing=("id", []))
        else:
            # The standard library's json: the batch and workflow installs have no orjson.
            lines = "".join(_json(row) + "\n" for row in table.to_pylist()).encode()
            with self._filesystem.open(self._root, "ab") as handle:
                handle.write(lines)
        self.records += table.num_rows

    def _flush_parquet(self) -> None:
        if not self._parts:
            return
        import pyarrow.parquet as pq

        table = pa.concat_tables(self._parts)
        name = f"part-{os.getpid()}-{time.time_ns()}-{uuid.uuid4().hex[:6]}.parquet"
        if is_local(self._filesystem):  # written aside, then renamed whole
            partial = f"{self._root}/.{name}.part"
            pq.write_table(table, partial, filesystem=self._filesystem)
            self._filesystem.mv(partial, f"{self._root}/{name}")
        else:
            pq.write_table(table, f"{self._root}/{name}", filesystem=self._filesystem)
        self._parts = []
        self.records += table.num_rows


def _records(batch: _Batch) -> pa.Table:
    rows = batch.inputs.num_rows
    at = datetime.fromtimestamp(batch.at, UTC).isoformat(timespec="milliseconds")
    inputs = pa.StructArray.from_arrays(
        [_numbers(column) for column in batch.inputs.columns],
        names=batch.inputs.schema.names,
    )
    return pa.table({
        "time": pa.array([at] * rows, pa.string()),
        "model": pa.array([batch.model] * rows, pa.string()),
        "version": pa.array(np.full(rows, batch.version, dtype=np.int64)),
        "id": batch.ids.cast(pa.string()),
        "inputs": inputs,
        "output": _numbers(batch.outputs),
        "latency_ms": pa.array(np.full(rows, batch.latency_ms)),
    })  # fmt: skip


def _numbers(column: Any) -> pa.Array:
    """Numbers as float64, NaN as null (JSON has no NaN)."""
    import pyarrow.compute as pc

    if isinstance(column, np.ndarray):
        column = pa.array(column)
    if pa.types.is_dictionary(column.type):
        column = column.dictionary_decode()
    numbers = column.cast(pa.float64())
    return pc.if_else(pc.is_nan(numbers), pa.scalar(None, pa.float64()), numbers)


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), allow_nan=False)
