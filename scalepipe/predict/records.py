"""PredictionRecord: one schema for every prediction any target logs.

    {"time": ISO 8601, "model": name, "version": n, "id": "<request>:<row>",
     "inputs": {feature: value the model saw}, "output": score, "latency_ms": ms,
     "extra_fields": how many fields the request sent beyond the signature}

The server's --log-predictions file, the functions' log lines and (later) batch and
stream outputs all write it, so that drift monitoring reads them alike. A record holds
the signature's features only, as the numbers the model scored: a request's other
fields are counted, never copied, so a log grows with the traffic's rows, not with
what a client chooses to send. A row that cannot be described becomes an error record
({"time", "model", "version", "id", "error"}) and the others are kept.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from scalepipe.predict.inputs import coerce_value
from scalepipe.predict.requests import Columns, Records

if TYPE_CHECKING:
    from scalepipe.predict.predictor import LoadedVersion

# Far above a record of hundreds of features; a line past it is replaced by an error record.
MAX_RECORD_BYTES = 64 << 10


def prediction_records(
    model: LoadedVersion,
    request: Any,
    scores: Sequence[float],
    seconds: float,
    at: float,
    *,
    request_id: str | None = None,
    time_text: str | None = None,
) -> Iterator[dict[str, Any]]:
    """The records of one scored request: a record, a list of them, or rows under columns.
    `request_id` (16 hex digits) and `time_text` (`at` as record_time gives it) are drawn
    and formatted here unless the caller has them (a writer doing thousands at once)."""
    base = {
        "time": time_text or record_time(at),
        "model": model.name,
        "version": model.version,
    }
    request_id = request_id or uuid.uuid4().hex[:16]
    latency_ms = seconds * 1000.0
    names = model.names
    index = 0  # of the row being read: an error reading a row names it, not the one before
    try:
        for values, extra, score in request_rows(request, names, scores):
            record_id = f"{request_id}:{index}"
            index += 1
            try:
                inputs = {
                    name: coerce_value(name, value, model.accepts_missing)
                    for name, value in zip(names, values, strict=True)
                }
                yield base | {
                    "id": record_id,
                    "inputs": inputs,
                    "output": float(score),
                    "latency_ms": latency_ms,
                    "extra_fields": extra,
                }
            except Exception as error:  # a row that cannot be described is reported, not lost
                yield error_record(base | {"id": record_id}, error)
    except Exception as error:  # a request whose shape cannot be read at all
        yield error_record(base | {"id": f"{request_id}:{index}"}, error)


def record_time(at: float) -> str:
    """A record's time: ISO 8601 in UTC to the millisecond."""
    return datetime.fromtimestamp(at, UTC).isoformat(timespec="milliseconds")


def error_record(base: Mapping[str, Any], error: BaseException) -> dict[str, Any]:
    return {**base, "error": f"{type(error).__name__}: {str(error)[:200]}"}


def to_line(
    record: dict[str, Any], encode: Callable[[dict[str, Any]], bytes] | None = None
) -> bytes:
    """One JSON line of at most MAX_RECORD_BYTES; an error record if the record is not.
    `encode`: a faster JSON encoder than the standard library's (orjson, where installed)."""
    try:
        line = (encode or _standard_json)(record)
    except (TypeError, ValueError, RecursionError) as error:
        return to_line(error_record(_identity(record), error), encode)
    if len(line) > MAX_RECORD_BYTES:
        too_big = ValueError(f"the record is {len(line):,} bytes, over {MAX_RECORD_BYTES:,}")
        return to_line(error_record(_identity(record), too_big), encode)
    return line + b"\n"


def _standard_json(record: dict[str, Any]) -> bytes:
    return json.dumps(record, separators=(",", ":"), allow_nan=False).encode()


def _identity(record: Mapping[str, Any]) -> dict[str, Any]:
    return {key: record[key] for key in ("time", "model", "version", "id") if key in record}


def request_rows(
    request: Any, names: Sequence[str], scores: Sequence[float]
) -> Iterator[tuple[Sequence[Any], int, float]]:
    """(the signature's values, the count of other fields, the score) per scored row."""
    if isinstance(request, Records):
        request = request.items
    if isinstance(request, Mapping):
        request = [request]
    if isinstance(request, list):
        for record, score in zip(request, scores, strict=False):
            yield [record.get(name) for name in names], max(0, len(record) - len(names)), score
        return
    if isinstance(request, Columns):
        chosen = [request.columns[name] for name in names]
        extra = len(request.columns) - len(names)
        for index, score in enumerate(scores):
            yield [_plain(column[index]) for column in chosen], extra, score
        return
    columns = list(request.columns if request.columns is not None else names)
    positions = [columns.index(name) for name in names]
    extra = len(columns) - len(names)
    for row, score in zip(request.rows, scores, strict=False):
        yield [_plain(row[position]) for position in positions], extra, score


def _plain(value: Any) -> Any:
    """A numpy scalar (from a V2 tensor) as the Python number it holds."""
    return value.item() if hasattr(value, "item") else value
