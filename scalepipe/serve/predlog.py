"""--log-predictions: inputs, output, model version and latency of every prediction.

The book's advice (3.2.6) is to log predictions to watch for drift. Serving threads
only append a tuple to a list; a background thread turns them into rows and writes
them every second, and close() writes what is left, so SIGTERM loses nothing.

PATH ending in .parquet is a folder of Parquet files (one per flush and process,
readable as one table with pandas.read_parquet(PATH)); any other PATH is a JSON Lines
file that every worker appends whole lines to.
"""

from __future__ import annotations

import json
import os
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scalepipe.serve.background import PeriodicFlush

if TYPE_CHECKING:
    from scalepipe.predict.predictor import LoadedVersion

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
        self._pending: list[tuple[float, str, int, Any, list[float], float]] = []
        self._lock = threading.Lock()

    def record(
        self, model: LoadedVersion, request: Any, scores: list[float], seconds: float
    ) -> None:
        """The hot path: remember what happened; the writing happens elsewhere."""
        self._pending.append((time.time(), model.name, model.version, request, scores, seconds))

    def flush(self) -> int:
        with self._lock:
            pending, self._pending = self._pending, []
            rows = [row for entry in pending for row in _rows(*entry)]
            if rows:
                self._write(rows)
            return len(rows)

    def _write(self, rows: list[dict[str, Any]]) -> None:
        if self.parquet:
            import pyarrow as pa
            import pyarrow.parquet as pq

            table = pa.Table.from_pylist(
                [row | {"inputs": json.dumps(row["inputs"])} for row in rows]
            )
            name = f"part-{os.getpid()}-{time.time_ns()}-{uuid.uuid4().hex[:6]}.parquet"
            partial = self.path / f".{name}.part"
            pq.write_table(table, partial)
            partial.replace(self.path / name)
            return
        data = "".join(json.dumps(row, separators=(",", ":")) + "\n" for row in rows).encode()
        # One write() of whole lines on an O_APPEND file: workers never interleave a line.
        handle = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            while data:
                data = data[os.write(handle, data) :]
        finally:
            os.close(handle)


def _rows(
    at: float, name: str, version: int, request: Any, scores: list[float], seconds: float
) -> list[dict[str, Any]]:
    if isinstance(request, dict):
        inputs: list[Any] = [request]
    elif isinstance(request, list):
        inputs = request
    else:  # rows under named columns (dataframe_split)
        inputs = [dict(zip(request.columns, row, strict=False)) for row in request.rows]
    when = datetime.fromtimestamp(at, UTC).isoformat(timespec="milliseconds")
    latency_ms = seconds * 1000.0
    return [
        {
            "time": when,
            "model": name,
            "version": version,
            "inputs": record,
            "output": score,
            "latency_ms": latency_ms,
        }
        for record, score in zip(inputs, scores, strict=False)
    ]
