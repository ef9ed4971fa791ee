"""--log-predictions: every prediction as a PredictionRecord (scalepipe.predict.records).

The book's advice (3.2.6) is to log predictions to watch for drift. Serving threads
only append a tuple to a list; a background thread turns them into records and writes
them every second, and close() writes what is left, so SIGTERM loses nothing. That
thread shares the worker's GIL with the event loop, so a record costs as little as it
can: requests of plain records (most traffic) are written a column at a time per model
version (numbers through orjson, lines through one bytes template), the others record
by record (benchmarks/monitor.py measures what logging costs the server).

PATH ending in .parquet is a folder of Parquet files (one per flush and process,
readable as one table with pandas.read_parquet(PATH)); any other PATH is a JSON Lines
file that every worker appends whole lines to. A full disk never leaves a torn line
(what did not fit is cut back to the last whole record), is reported once in the
server's log with the count of records lost, and the server keeps serving.
"""

from __future__ import annotations

import fcntl
import logging
import os
import threading
import time
import uuid
from collections.abc import Sequence
from operator import itemgetter
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import orjson

from scalepipe.predict.inputs import text_number_rows
from scalepipe.predict.records import MAX_RECORD_BYTES, prediction_records, to_line
from scalepipe.predict.requests import Records
from scalepipe.serve.background import PeriodicFlush

if TYPE_CHECKING:
    from scalepipe.predict.predictor import LoadedVersion
    from scalepipe.serve.metrics import Metrics

log = logging.getLogger("scalepipe.serve")
FLUSH_SECONDS = 1.0


class PredictionLog(PeriodicFlush):
    """`metrics`: where to count the records written and lost, and the writer's CPU time."""

    def __init__(
        self, path: Path, flush_seconds: float = FLUSH_SECONDS, metrics: Metrics | None = None
    ) -> None:
        super().__init__("prediction log", flush_seconds)
        self.path = path
        self.metrics = metrics
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
            started = time.thread_time()
            written = self._flush()
            if self.metrics is not None:
                self.metrics.log_cpu.inc(time.thread_time() - started)
            return written

    def _flush(self) -> int:
        pending, self._pending = self._pending, []
        lines = encode(pending)
        if not lines:
            return 0
        try:
            self._write(lines)
        except OSError as error:
            self._report_loss(error, len(lines))
            return 0
        if self.metrics is not None:
            self.metrics.log_records.inc(len(lines))
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
        if self.metrics is not None:
            self.metrics.log_lost.inc(count)

    def _write(self, lines: list[bytes]) -> None:
        if self.parquet:
            self._write_parquet(lines)
            return
        data = b"".join(lines)
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

    def _write_parquet(self, lines: list[bytes]) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        records = [orjson.loads(line) for line in lines]
        for record in records:
            if "inputs" in record:
                record["inputs"] = orjson.dumps(record["inputs"]).decode()
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


Pending = tuple[float, "LoadedVersion", Any, list[float], float]
NUMPY = orjson.OPT_SERIALIZE_NUMPY


def encode(pending: Sequence[Pending]) -> list[bytes]:
    """The JSON lines of the (time, model, request, scores, seconds) of scored requests:
    lists of plain records a model version at a time, anything else record by record
    (prediction_records: it also words what it cannot describe)."""
    if not pending:
        return []
    ids = np.frombuffer(os.urandom(8 * len(pending)).hex().encode(), dtype="S16")
    times = encoded_times(np.fromiter((entry[0] for entry in pending), np.float64, len(pending)))
    groups: dict[int, _Plain] = {}
    one_by_one: list[int] = []
    for index, (_, model, request, scores, seconds) in enumerate(pending):
        group = groups.get(id(model))
        if group is None:
            group = groups[id(model)] = _Plain(model)
        if not group.add(index, request, scores, seconds):
            one_by_one.append(index)
    written: list[tuple[list[int], list[bytes]]] = []
    for group in groups.values():
        columns = group.lines(ids, times)
        if columns is None:
            one_by_one.extend(group.requests)
        else:
            written.append(columns)
    if not one_by_one and len(written) == 1:
        return written[0][1]
    for index in sorted(one_by_one):
        at, model, request, scores, seconds = pending[index]
        records = prediction_records(model, request, scores, seconds, at,
                                     request_id=ids[index].decode(),
                                     time_text=times[index].decode() + "+00:00")  # fmt: skip
        lines = [to_line(record, orjson.dumps) for record in records]
        written.append(([index] * len(lines), lines))
    # In the order the requests came (a sort of a few ordered runs: nearly linear).
    pairs = (pair for requests, lines in written for pair in zip(requests, lines, strict=True))
    keyed = sorted(pairs, key=itemgetter(0))
    return [line for _, line in keyed]


def encoded_times(at: np.ndarray) -> np.ndarray:
    """record_time's text without its "+00:00", for many times at once (rounded to the
    microsecond as datetime does, then cut to the millisecond)."""
    whole = np.floor(at)
    micro = np.round((at - whole) * 1e6).astype(np.int64)  # half to even, as datetime
    millis = whole.astype(np.int64) * 1000 + micro // 1000
    texts: np.ndarray = np.datetime_as_string(millis.astype("datetime64[ms]"))
    return texts.astype(np.bytes_)


class _Plain:
    """One model version's requests of plain records (objects with every feature), as
    columns; lines() writes them through one template, a column of numbers at a time."""

    def __init__(self, model: LoadedVersion) -> None:
        self.model = model
        self.requests: list[int] = []
        self.counts: list[int] = []
        self.rows: list[tuple[Any, ...]] = []
        self.sizes: list[int] = []
        self.scores: list[float] = []
        self.seconds: list[float] = []

    def add(self, index: int, request: Any, scores: list[float], seconds: float) -> bool:
        items = request.items if type(request) is Records else request
        if type(items) is list and len(items) == 1:
            items = items[0]
        try:
            if type(items) is dict and len(scores) == 1:  # most requests: one record
                self.rows.append(self.model.pick(items))
                self.sizes.append(len(items))
                self.scores.append(scores[0])
                self.counts.append(1)
            elif type(items) is list and items and len(items) == len(scores):
                self.rows.extend(map(self.model.pick, items))
                self.sizes.extend(map(len, items))
                self.scores.extend(scores)
                self.counts.append(len(items))
            else:
                return False
        except (KeyError, TypeError):  # not records of every feature
            self._forget()
            return False
        self.requests.append(index)
        self.seconds.append(seconds)
        return True

    def _forget(self) -> None:
        """Drop the part of a request that add() had taken before it found it was not
        plain records."""
        kept = sum(self.counts)
        del self.rows[kept:], self.sizes[kept:], self.scores[kept:]

    def lines(self, ids: np.ndarray, times: np.ndarray) -> tuple[list[int], list[bytes]] | None:
        """The request of each line and the lines; None when a value is not a number (the
        requests then go record by record, whose error records name it) or a line could
        pass MAX_RECORD_BYTES."""
        if not self.rows:
            return [], []
        names = self.model.names
        template = self._template()
        if len(template) + 32 * (len(names) + 3) > MAX_RECORD_BYTES:
            return None
        matrix = _numbers(self.rows)
        if matrix is None or matrix.shape != (len(self.rows), len(names)):
            return None
        counts = np.array(self.counts)
        requests = np.repeat(np.array(self.requests), counts)
        positions = np.arange(len(self.rows)) - np.repeat(np.cumsum(counts) - counts, counts)
        numbers = _texts(matrix.ravel())
        columns = [numbers[j :: len(names)] for j in range(len(names))]
        extra = np.maximum(np.array(self.sizes) - len(names), 0)
        fields = zip(
            times[requests].tolist(),
            ids[requests].tolist(),
            positions.tolist(),
            *columns,
            _texts(np.asarray(self.scores, dtype=np.float64)),
            _texts(np.repeat(np.array(self.seconds) * 1000.0, counts)),
            extra.tolist(),
            strict=True,
        )
        return requests.tolist(), [template % values for values in fields]

    def _template(self) -> bytes:
        model = self.model

        def text(value: Any) -> bytes:
            return orjson.dumps(value).replace(b"%", b"%%")

        inputs = b",".join(text(name) + b":%s" for name in model.names)
        return (
            b'{"time":"%s+00:00","model":' + text(model.name)
            + b',"version":' + text(model.version) + b',"id":"%s:%d","inputs":{' + inputs
            + b'},"output":%s,"latency_ms":%s,"extra_fields":%d}\n'
        )  # fmt: skip


def _numbers(rows: list[tuple[Any, ...]]) -> np.ndarray | None:
    """The rows as float64: texts seen by the Predictor cost a dict lookup each."""
    if rows[0] and type(rows[0][0]) is str:
        known = text_number_rows(rows)
        if known is not None:
            return np.array(known, dtype=np.float64)
    try:
        return np.array(rows, dtype=np.float64)
    except (TypeError, ValueError, OverflowError):
        return None


def _texts(numbers: np.ndarray) -> list[bytes]:
    """Each number's JSON text (orjson's shortest form; NaN, a missing value, as null)."""
    return orjson.dumps(numbers, option=NUMPY)[1:-1].split(b",")
