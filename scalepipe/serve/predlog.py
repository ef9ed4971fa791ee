"""--log-predictions: every prediction as a PredictionRecord (scalepipe.predict.records).

The book's advice (3.2.6) is to log predictions to watch for drift. Serving threads
only append a tuple to a list; a background thread turns them into records and writes
them every second, and close() writes what is left, so SIGTERM loses nothing. That
thread shares the worker's GIL with the event loop, so a record costs as little as it
can: requests of plain records (most traffic) are laid out a column at a time per model
version as a table of byte strings joined once (input texts the log has written before
cost a dict lookup, other numbers go through orjson), the others record by record
(benchmarks/monitor.py measures what logging costs the server).

PATH ending in .parquet is a folder of Parquet files (one per flush and process,
readable as one table with pandas.read_parquet(PATH)); any other PATH is a JSON Lines
file that every worker appends whole lines to. A full disk never leaves a torn line
(what did not fit is cut back to the last whole record), is reported once in the
server's log with the count of records lost, and the server keeps serving.
"""

from __future__ import annotations

import fcntl
import logging
import operator
import os
import threading
import time
import uuid
from collections.abc import Iterable, Sequence
from itertools import chain, repeat
from operator import attrgetter, itemgetter
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import orjson

from scalepipe.predict.inputs import text_number_rows
from scalepipe.predict.records import (
    MAX_RECORD_BYTES,
    error_record,
    prediction_records,
    to_line,
)
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
        self._pending: list[Pending] = []
        self._lock = threading.Lock()
        self._lost = 0

    def record(
        self, model: LoadedVersion, request: Any, scores: list[float], seconds: float
    ) -> None:
        """The hot path: remember what happened; the writing happens elsewhere.

        A record of texts the log has written before (the book's GET, mostly) is kept as
        the JSON texts of its values, and the request is let go: keeping a second's worth
        of requests alive until the writer reads them again (their memory cold by then,
        and new requests' memory fresh) costs the server more than writing them."""
        if type(request) is dict and len(scores) == 1:
            try:
                texts = tuple(map(_JSON_TEXTS.get, model.pick(request)))
            except (KeyError, TypeError):  # not every feature; a value that is no key
                texts = (None,)
            if all(texts):  # no None (a JSON text is never empty)
                entry = (time.time(), model, None, scores[0], seconds, texts, len(request))
                self._pending.append(entry)
                return
        self._pending.append((time.time(), model, request, scores, seconds, None, 0))

    def flush(self) -> int:
        with self._lock:
            started = time.thread_time()
            written = self._flush()
            if self.metrics is not None:
                self.metrics.log_cpu.inc(time.thread_time() - started)
            return written

    def _flush(self) -> int:
        pending, self._pending = self._pending, []
        data, count = encode(pending)
        if not count:
            return 0
        try:
            self._write(data)
        except OSError as error:
            self._report_loss(error, count)
            return 0
        if self.metrics is not None:
            self.metrics.log_records.inc(count)
        if self._lost:
            log.warning(
                "prediction log %s: writing again (%d records were lost)", self.path, self._lost
            )
            self._lost = 0
        return count

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

    def _write(self, data: bytes) -> None:
        if self.parquet:
            self._write_parquet(data)
            return
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

    def _write_parquet(self, data: bytes) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        records = [orjson.loads(line) for line in data.splitlines()]
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


# (time, model, request, scores, seconds, None, 0), or for a record whose values' texts
# are known, (time, model, None, score, seconds, the values' JSON texts, the record's size)
Pending = tuple[float, "LoadedVersion", Any, Any, float, "tuple[Any, ...] | None", int]
NUMPY = orjson.OPT_SERIALIZE_NUMPY
MILLIS = np.array([b".%03d+00:00" % millis for millis in range(1000)], dtype=object)
# The JSON text of each input text the log has written (texts the Predictor read as
# numbers), so that a value costs one lookup: bounded as the Predictor's own cache.
_JSON_TEXTS: dict[str, bytes] = {}
_JSON_TEXTS_MAX = 4096
_JSON_TEXT_LENGTH = 12


def encode(pending: Sequence[Pending]) -> tuple[bytes, int]:
    """The JSON lines of scored requests (PredictionLog.record's entries), in request
    order, and how many: lists of plain records a model version at a time, anything
    else record by record (prediction_records: it also words what it cannot
    describe)."""
    if not pending:
        return b"", 0
    count = len(pending)
    ids = np.array(np.frombuffer(os.urandom(8 * count).hex().encode(), "S16").tolist(), object)
    seconds_texts, millis_texts = encoded_times(np.fromiter(map(itemgetter(0), pending),
                                                            np.float64, count))  # fmt: skip
    groups: dict[tuple[int, bool], _Plain] = {}
    one_by_one: list[int] = []
    alike = _Plain.alike(pending)
    if alike is not None:
        groups[0, alike.texts] = alike
    else:
        for index, (_, model, request, scores, seconds, texts, size) in enumerate(pending):
            key = id(model), texts is not None
            group = groups.get(key)
            if group is None:
                group = groups[key] = _Plain(model, texts=key[1])
            if texts is not None:
                group.add_texts(index, texts, size, scores, seconds)
            elif not group.add(index, request, scores, seconds):
                one_by_one.append(index)
    written: list[tuple[_Plain, list[int], list[Iterable[bytes]]]] = []
    for group in groups.values():
        laid_out = group.columns(ids, seconds_texts, millis_texts)
        if laid_out is None:
            one_by_one.extend(group.requests)
        elif laid_out[0]:
            written.append((group, *laid_out))
    if not one_by_one and len(written) == 1 and not written[0][0].long:  # most flushes
        _, requests, columns = written[0]  # the constant columns repeat without end
        return b"".join(chain.from_iterable(zip(*columns, strict=False))), len(requests)
    lines: list[tuple[int, bytes]] = []
    for group, requests, columns in written:
        join = group.line if group.long else b"".join
        lines.extend(zip(requests, map(join, zip(*columns, strict=False)), strict=True))
    for index in one_by_one:
        at, model, request, scores, seconds, _, _ = pending[index]
        time_text = (seconds_texts[index] + millis_texts[index]).decode()
        request_id = ids[index].decode()
        records = prediction_records(model, request, scores, seconds, at,
                                     request_id=request_id, time_text=time_text)  # fmt: skip
        lines.extend((index, to_line(record, orjson.dumps)) for record in records)
    lines.sort(key=itemgetter(0))  # stable: a request's rows keep their order
    return b"".join(map(itemgetter(1), lines)), len(lines)


def encoded_times(at: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """record_time's text in two parts, for many times at once: up to the second, and
    the milliseconds with the zone (rounded to the microsecond as datetime does, then
    cut to the millisecond). A flush spans a second or two: each is formatted once."""
    whole = np.floor(at)
    micro = np.round((at - whole) * 1e6).astype(np.int64)  # half to even, as datetime
    seconds, millis = np.divmod(whole.astype(np.int64) * 1000 + micro // 1000, 1000)
    distinct, which = np.unique(seconds, return_inverse=True)
    texts = np.datetime_as_string(distinct.astype("datetime64[s]")).astype(np.bytes_)
    return np.array(texts.tolist(), dtype=object)[which], MILLIS[millis]


class _Plain:
    """One model version's requests of plain records (objects with every feature);
    columns() lays their lines out as columns of byte strings, a column of values at a
    time."""

    def __init__(self, model: LoadedVersion, texts: bool = False) -> None:
        """`texts`: rows of the JSON texts of the values (record() made them), not the
        values."""
        self.model = model
        self.texts = texts
        self.requests: list[int] = []
        self.counts: list[int] = []
        self.rows: list[tuple[Any, ...]] = []
        self.sizes: list[int] = []
        self.scores: list[float] = []
        self.seconds: list[float] = []

    @classmethod
    def alike(cls, pending: Sequence[Pending]) -> _Plain | None:
        """Most flushes at once (C-level passes, no loop in Python): one model version,
        every request one record of every feature (a GET, or a list of one)."""
        _, models, requests, scores, seconds, texts, sizes = zip(*pending, strict=True)
        count = len(requests)
        if not all(map(operator.is_, models, repeat(models[0]))):
            return None
        if texts.count(None) == 0:
            group = cls(models[0], texts=True)
            group.rows, group.sizes, group.scores = list(texts), list(sizes), list(scores)
        elif texts.count(None) == count and list(map(len, scores)).count(1) == count:
            group = cls(models[0])
            if not group._pick(requests):
                return None
            group.scores = list(chain.from_iterable(scores))
        else:
            return None
        group.counts = [1] * count
        group.requests = list(range(count))
        group.seconds = list(seconds)
        return group

    def _pick(self, requests: Sequence[Any]) -> bool:
        """The rows of requests each of one record (or a list or Records of one)."""
        count = len(requests)
        if list(map(type, requests)).count(Records) == count:
            requests = tuple(map(attrgetter("items"), requests))
        if list(map(type, requests)).count(list) == count:
            if list(map(len, requests)).count(1) != count:
                return False
            requests = tuple(map(itemgetter(0), requests))
        if list(map(type, requests)).count(dict) != count:
            return False
        try:
            self.rows = list(map(self.model.pick, requests))
        except (KeyError, TypeError):
            return False
        self.sizes = list(map(len, requests))
        return True

    def add_texts(
        self, index: int, texts: tuple[bytes, ...], size: int, score: float, seconds: float
    ) -> None:
        """A record whose values record() kept as their JSON texts."""
        self.rows.append(texts)
        self.sizes.append(size)
        self.scores.append(score)
        self.counts.append(1)
        self.requests.append(index)
        self.seconds.append(seconds)

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

    def columns(
        self, ids: np.ndarray, seconds_texts: np.ndarray, millis_texts: np.ndarray
    ) -> tuple[list[int], list[Iterable[bytes]]] | None:
        """The request of each line, and the lines' byte strings a column at a time (a
        line is a row of them joined); None when a value is not a number (the requests
        then go record by record, whose error records name it)."""
        names = self.model.names
        width = len(names)
        if not self.rows:
            return [], []
        parts = self._parts()
        flat = list(chain.from_iterable(self.rows))
        values = flat if self.texts else _input_texts(flat)
        if values is None or len(values) != len(self.rows) * width:
            return None
        requests = np.array(self.requests)
        latency = np.asarray(self.seconds, dtype=np.float64) * 1000.0
        positions: Iterable[bytes] = repeat(b"0")
        if len(self.rows) != len(self.requests):
            counts = np.array(self.counts)
            firsts = np.repeat(np.cumsum(counts) - counts, counts)
            positions = _texts(np.arange(len(self.rows)) - firsts)
            requests, latency = np.repeat(requests, counts), np.repeat(latency, counts)
        extra = np.maximum(np.array(self.sizes) - width, 0)
        inputs = [column for j in range(width)
                  for column in (repeat(parts[3 + j]), values[j::width])]  # fmt: skip
        return requests.tolist(), [
            repeat(parts[0]), seconds_texts[requests].tolist(), millis_texts[requests].tolist(),
            repeat(parts[1]), ids[requests].tolist(), repeat(parts[2]), positions,
            *inputs,
            repeat(parts[3 + width]), _texts(np.asarray(self.scores, dtype=np.float64)),
            repeat(parts[4 + width]), _texts(latency),
            repeat(parts[5 + width]), _texts(extra),
            repeat(parts[6 + width]),
        ]  # fmt: skip

    @property
    def long(self) -> bool:
        """Whether a line could pass MAX_RECORD_BYTES (a model of thousands of features)."""
        return sum(map(len, self._parts())) + 32 * (len(self.model.names) + 3) > MAX_RECORD_BYTES

    def line(self, row: Sequence[bytes]) -> bytes:
        """A row of columns() joined; an error record if it passes MAX_RECORD_BYTES."""
        line = b"".join(row)
        if len(line) <= MAX_RECORD_BYTES + 1:  # and its newline
            return line
        model = self.model
        identity = {"time": (row[1] + row[2]).decode(), "model": model.name,
                    "version": model.version, "id": (row[4] + b":" + row[6]).decode()}  # fmt: skip
        too_big = ValueError(f"the record is {len(line) - 1:,} bytes, over {MAX_RECORD_BYTES:,}")
        return to_line(error_record(identity, too_big), orjson.dumps)

    def _parts(self) -> list[bytes]:
        """The constant parts of a line, before each value and after the last."""
        model = self.model

        def text(value: Any) -> bytes:
            return orjson.dumps(value)

        names = [text(name) for name in model.names]
        return [
            b'{"time":"', b'","model":' + text(model.name) + b',"version":'
            + text(model.version) + b',"id":"', b":", b'","inputs":{' + names[0] + b":",
            *(b"," + name + b":" for name in names[1:]),
            b'},"output":', b',"latency_ms":', b',"extra_fields":', b"}\n",
        ]  # fmt: skip


def _input_texts(values: list[Any]) -> list[bytes] | None:
    """The JSON text of each input value as the model read it (NaN, a missing value, as
    null); None if one is not a number. Texts written before cost a dict lookup each."""
    try:
        return list(map(_JSON_TEXTS.__getitem__, values))
    except (KeyError, TypeError):  # TypeError: a value that cannot be a key (a list, say)
        pass
    numbers = _numbers(values)
    if numbers is None:
        return None
    texts = _texts(numbers)
    known = _JSON_TEXTS
    for value, written in zip(values, texts, strict=True):
        if len(known) >= _JSON_TEXTS_MAX:
            break
        if type(value) is str and len(value) <= _JSON_TEXT_LENGTH and written != b"null":
            known[value] = written
    return texts


def _numbers(values: list[Any]) -> np.ndarray | None:
    """The values as float64: texts seen by the Predictor cost a dict lookup each."""
    if values and type(values[0]) is str:
        known = text_number_rows([values])
        if known is not None:
            return np.array(known[0], dtype=np.float64)
    try:
        return np.array(values, dtype=np.float64)
    except (TypeError, ValueError, OverflowError):
        return None


def _texts(numbers: np.ndarray) -> list[bytes]:
    """Each number's JSON text (orjson's shortest form; NaN, a missing value, as null)."""
    return orjson.dumps(numbers, option=NUMPY)[1:-1].split(b",")
