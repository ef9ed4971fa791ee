"""--log-predictions: every prediction as a PredictionRecord (scalepipe.predict.records).

The book's advice (3.2.6) is to log predictions to watch for drift. Serving threads
only append a tuple to a list; a background thread turns them into records and writes
them every second, and close() writes what is left, so SIGTERM loses nothing.

PATH ending in .parquet is a folder of Parquet files (one per flush and process,
readable as one table with pandas.read_parquet(PATH)); any other PATH is a JSON Lines
file that every worker appends whole lines to. A full disk never leaves a torn line
(what did not fit is cut back to the last whole record), is reported once in the
server's log with the count of records lost, and the server keeps serving.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import threading
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scalepipe.predict.records import prediction_records, to_line
from scalepipe.serve.background import PeriodicFlush

if TYPE_CHECKING:
    from scalepipe.predict.predictor import LoadedVersion

log = logging.getLogger("scalepipe.serve")
FLUSH_SECONDS = 1.0


class PredictionLog(PeriodicFlush):
    def __init__(self, path: Path, flush_seconds: float = FLUSH_SECONDS) -> None:
        super().__init__("prediction log", flush_seconds)
        self.path = path
        self.parquet = path.suffix == ".parquet"
        if self.parquet:
            path.mkdir(parents=True, exist_ok=True)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
        self._pending: list[tuple[float, LoadedVersion, Any, list[float], float]] = []
        self._lock = threading.Lock()
        self._lost = 0

    def record(
        self, model: LoadedVersion, request: Any, scores: list[float], seconds: float
    ) -> None:
        """The hot path: remember what happened; the writing happens elsewhere."""
        self._pending.append((time.time(), model, request, scores, seconds))

    def flush(self) -> int:
        with self._lock:
            pending, self._pending = self._pending, []
            lines = [
                to_line(record)
                for at, model, request, scores, seconds in pending
                for record in prediction_records(model, request, scores, seconds, at)
            ]
            if not lines:
                return 0
            try:
                self._write(lines)
            except OSError as error:
                self._report_loss(error, len(lines))
                return 0
            if self._lost:
                log.warning(
                    "prediction log %s: writing again (%d records were lost)", self.path, self._lost
                )
                self._lost = 0
            return len(lines)

    def _report_loss(self, error: OSError, count: int) -> None:
        if not self._lost:
            log.error(
                "prediction log %s: cannot write (%s); records are dropped until it can, and "
                "the server keeps serving",
                self.path,
                error.strerror or error,
            )
        self._lost += count

    def _write(self, lines: list[str]) -> None:
        if self.parquet:
            self._write_parquet(lines)
            return
        data = "".join(lines).encode()
        handle = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            # Workers append in turn (a lock per flush, not per request), so that one that
            # runs out of space can cut its own partial write back without touching others.
            fcntl.flock(handle, fcntl.LOCK_EX)
            start = os.fstat(handle).st_size
            written = 0
            try:
                while written < len(data):
                    written += os.write(handle, data[written:])
            except OSError:
                whole = data.rfind(b"\n", 0, written) + 1
                os.ftruncate(handle, start + whole)
                raise
        finally:
            os.close(handle)

    def _write_parquet(self, lines: list[str]) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        records = [json.loads(line) for line in lines]
        for record in records:
            if "inputs" in record:
                record["inputs"] = json.dumps(record["inputs"])
        schema = pa.schema(
            [
                ("time", pa.string()), ("model", pa.string()), ("version", pa.int64()),
                ("id", pa.string()), ("inputs", pa.string()), ("output", pa.float64()),
                ("latency_ms", pa.float64()), ("extra_fields", pa.int64()), ("error", pa.string()),
            ]
        )  # fmt: skip
        name = f"part-{os.getpid()}-{time.time_ns()}-{uuid.uuid4().hex[:6]}.parquet"
        partial = self.path / f".{name}.part"
        try:
            pq.write_table(pa.Table.from_pylist(records, schema=schema), partial)
            partial.replace(self.path / name)
        finally:
            partial.unlink(missing_ok=True)
