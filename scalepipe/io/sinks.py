"""Sinks: where rows go. A writer's rows become visible only at commit(), all at once,
and committing the same run id again replaces that run's rows instead of adding them.
Strings name them: see scalepipe/io/uris.py."""

from __future__ import annotations

import re
import tempfile
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from scalepipe.config import redact_url
from scalepipe.data.catalog import DatasetError
from scalepipe.io.warehouse import Warehouse, check_identifier, open_warehouse
from scalepipe.types import Sink, Writer

RUN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")


def check_run_id(run_id: str) -> str:
    """A run id names a folder: letters, digits, `_.-`, never a path."""
    if not RUN_ID.fullmatch(run_id) or ".." in run_id:
        raise DatasetError(f"run id {run_id!r} must be letters, digits and _.- (no path)")
    return run_id


@contextmanager
def writing(sink: Sink, schema: Any, run_id: str) -> Iterator[Writer]:
    """A writer of `sink` that commits when the block ends and aborts if it fails, so
    that a failed run leaves the sink as it was."""
    writer = sink.writer(schema, run_id)
    try:
        yield writer
        writer.commit()
    except BaseException:
        writer.abort()
        raise


class ParquetFolderSink:
    """A folder of runs on any fsspec URL: `run=<id>/part-0.parquet`."""

    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")

    def describe(self) -> dict[str, Any]:
        return {"kind": "parquet folder", "url": redact_url(self.url)}

    def writer(self, schema: Any, run_id: str) -> ParquetFolderWriter:
        return ParquetFolderWriter(self.url, schema, check_run_id(run_id))


class ParquetFolderWriter:
    """Writes under `_staging-<id>-<random>/` (readers skip `_` folders) and moves it to
    `run=<id>/` at commit: a rename on a local disk, so a reader sees all or nothing.

    Threads may write at once (`concurrent`): each writes its own part file, so that
    encoding runs on every core. An engine that writes files itself (Spark) writes them
    into `staging` and commits through this writer."""

    concurrent = True

    def __init__(self, url: str, schema: Any, run_id: str) -> None:
        import fsspec

        self.filesystem, root = fsspec.core.url_to_fs(url)
        self.root = root
        self.run_id = run_id
        self.schema = schema
        self._constant_text, self._file_schema = _constant_text(schema)
        self.final = f"{root}/run={run_id}"
        self._recover()
        self.staging = f"{root}/_staging-{run_id}-{uuid.uuid4().hex[:8]}"
        self.filesystem.makedirs(self.staging, exist_ok=True)
        self._parts: dict[int, tuple[Any, Any]] = {}
        self._lock = threading.Lock()
        self.rows = 0

    def write(self, batch: Any) -> None:
        self._part()[1].write_batch(self._file_batch(batch))
        with self._lock:
            self.rows += batch.num_rows

    def _file_batch(self, batch: Any) -> Any:
        """Text that is the same in every row (the model, the run id) as a dictionary of
        one value: Parquet would otherwise hash every row's copy to find it (a third of
        the write)."""
        import numpy as np
        import pyarrow as pa

        if not self._constant_text:
            return batch
        columns = list(batch.columns)
        zeros = pa.array(np.zeros(batch.num_rows, dtype=np.int32))
        for index in self._constant_text:
            columns[index] = pa.DictionaryArray.from_arrays(zeros, columns[index].slice(0, 1))
        return pa.RecordBatch.from_arrays(columns, schema=self._file_schema)

    def _part(self) -> tuple[Any, Any]:
        """This thread's part file and its Parquet writer."""
        thread = threading.get_ident()
        part = self._parts.get(thread)
        if part is None:
            import pyarrow.parquet as pq

            with self._lock:
                name = f"{self.staging}/part-{len(self._parts)}.parquet"
                handle = self.filesystem.open(name, "wb")
                writer = pq.ParquetWriter(
                    handle,
                    self._file_schema,
                    use_dictionary=_dictionary_columns(self.schema),
                    # Without the Arrow schema in the file, the one-value dictionaries read
                    # back as the plain text they stand for.
                    store_schema=not self._constant_text,
                )
                part = self._parts[thread] = (handle, writer)
        return part

    def commit(self) -> None:
        """Set the run's earlier rows aside, move the new ones in, then drop the old: a
        kill between the two moves is undone by the next writer of the run (_recover)."""
        if not self._parts and not self.filesystem.find(self.staging):
            self._part()  # a run with no rows still writes a file: its schema
        self._close()
        aside = f"{self.root}/_replaced-{self.run_id}-{uuid.uuid4().hex[:8]}"
        replacing = self.filesystem.exists(self.final)
        if replacing:
            _move_folder(self.filesystem, self.final, aside)
        _move_folder(self.filesystem, self.staging, self.final)
        if replacing:
            self.filesystem.rm(aside, recursive=True)

    def _recover(self) -> None:
        """Put back the rows of a run whose replacement was killed half-way, and remove
        what killed runs of this id left behind (hidden `_` folders)."""
        pattern = f"{self.root}/_replaced-{self.run_id}-*"
        for aside in self.filesystem.glob(pattern):
            if not self.filesystem.exists(self.final):
                _move_folder(self.filesystem, aside, self.final)
            else:
                self.filesystem.rm(aside, recursive=True)
        for staging in self.filesystem.glob(f"{self.root}/_staging-{self.run_id}-*"):
            self.filesystem.rm(staging, recursive=True)

    def abort(self) -> None:
        self._close()
        if self.filesystem.exists(self.staging):
            self.filesystem.rm(self.staging, recursive=True)

    def _close(self) -> None:
        with self._lock:
            parts, self._parts = list(self._parts.values()), {}
        for handle, writer in parts:
            writer.close()
            handle.close()


def _move_folder(filesystem: Any, source: str, target: str) -> None:
    """A rename on a local disk (atomic). An object store has no folders to rename: every
    file is copied on the server, then the sources deleted, so that a kill half-way
    leaves the source whole (each object appears whole, the folder's files one by one).
    Not the store's own move: GCS's moveTo is new, GCS-compatible servers answer it 501,
    and gcsfs retries that for half a minute per file before it copies anyway."""
    if "file" in filesystem.protocol:
        filesystem.mv(source, target, recursive=True)
        return
    names = filesystem.find(source)
    filesystem.copy(names, [f"{target}/{str(name)[len(source) :].lstrip('/')}" for name in names])
    filesystem.rm(names)


def _constant_text(schema: Any) -> tuple[list[int], Any]:
    """The text columns marked constant, and the schema the Parquet file is written with
    (those columns as dictionaries)."""
    import pyarrow as pa

    from scalepipe.io.plain import is_constant

    found = [
        index
        for index, field in enumerate(schema)
        if is_constant(field) and pa.types.is_string(field.type)
    ]
    for index in found:
        field = schema.field(index)
        schema = schema.set(index, field.with_type(pa.dictionary(pa.int32(), pa.string())))
    return found, schema


def _dictionary_columns(schema: Any) -> list[str]:
    """Dictionary-encode text and times only: for numbers, mostly distinct (ids, scores),
    trying a dictionary and falling back costs 4x the whole write (benchmarks/batch.py)."""
    import pyarrow as pa

    def numeric(kind: Any) -> bool:
        return bool(pa.types.is_integer(kind) or pa.types.is_floating(kind))

    return [field.name for field in schema if not numeric(field.type)]


class WarehouseTableSink:
    """A warehouse table that each run replaces, or (append) to which each run adds its
    rows, replacing those of an earlier run with the same id: in one transaction."""

    def __init__(self, warehouse: str, table: str, *, append: bool = False) -> None:
        self.warehouse = open_warehouse(warehouse)
        self.table = check_identifier(table)
        self.append = append

    def describe(self) -> dict[str, Any]:
        return {
            "kind": "warehouse table",
            "table": self.table,
            "mode": "append" if self.append else "replace",
            "warehouse": repr(self.warehouse),
        }

    def writer(self, schema: Any, run_id: str) -> WarehouseTableWriter:
        check_run_id(run_id)
        if self.append and "run_id" not in schema.names:
            raise DatasetError(f"appending to {self.table} needs a run_id column in the rows")
        return WarehouseTableWriter(
            self.warehouse, self.table, schema, run_id if self.append else None
        )


class WarehouseTableWriter:
    """Spools the batches to a local Arrow file (bounded memory), then replaces the table
    with them, or appends them, in one transaction at commit."""

    def __init__(
        self, warehouse: Warehouse, table: str, schema: Any, append_run: str | None = None
    ) -> None:
        import pyarrow as pa

        self.warehouse = warehouse
        self.table = table
        self.append_run = append_run
        self._folder = tempfile.TemporaryDirectory(prefix="scalepipe-sink-")
        self._path = Path(self._folder.name) / "rows.arrow"
        self._spool = pa.ipc.new_file(str(self._path), schema)
        self.rows = 0

    def write(self, batch: Any) -> None:
        self._spool.write_batch(batch)
        self.rows += batch.num_rows

    def commit(self) -> None:
        import pyarrow as pa

        self._spool.close()
        try:
            with pa.memory_map(str(self._path)) as source:
                reader = pa.ipc.open_file(source)

                batches: Iterator[Any] = (
                    reader.get_batch(index) for index in range(reader.num_record_batches)
                )
                if self.append_run is not None:
                    self.warehouse.append(
                        self.table, batches, replacing=("run_id", self.append_run)
                    )
                    return
                if reader.num_record_batches == 0:  # an empty input never wipes a table
                    raise DatasetError(f"nothing to write to {self.table}: the run has no rows")
                self.warehouse.write(self.table, batches)
        finally:
            self._folder.cleanup()

    def abort(self) -> None:
        self._spool.close()
        self._folder.cleanup()
