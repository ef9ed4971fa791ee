"""Prediction logs read back as columns: the records (scalepipe/predict/records.py) that
the server, the functions, batch and stream jobs write with --log-predictions.

    PATH.jsonl (any file)        JSON Lines, one record per line
    PATH.parquet (a folder)      Parquet files of records (`inputs` as JSON text or a struct)
    table:NAME                   a warehouse table of records

Local paths or any fsspec URL (s3://, gs://). Error records (a row that could not be
described) are counted, not compared. The JSON is parsed by Arrow's reader, in C++ on
every core: a million records take about a second on two cores.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from scalepipe.config import Settings
from scalepipe.monitor.drift import OUTPUT, MonitorError

_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*([smhdw])")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_TIME = pa.timestamp("us", tz="UTC")


@dataclass(frozen=True)
class Logged:
    """A model's logged predictions in a window: a column per feature and `output`."""

    columns: dict[str, np.ndarray]
    rows: int
    errors: int
    versions: list[int]
    start: datetime | None
    end: datetime | None


def duration(text: str) -> timedelta:
    """`90s`, `15m`, `1h`, `7d`, `2w` (or several: `1h30m`)."""
    found = _DURATION.findall(text.strip().lower())
    if not found or _DURATION.sub("", text.strip().lower()).strip():
        raise MonitorError(f"a duration is like 90s, 15m, 1h, 7d or 2w, not {text!r}")
    return sum((timedelta(**{_UNITS[unit]: float(amount)}) for amount, unit in found), timedelta())


def moment(text: str, now: datetime | None = None) -> datetime:
    """An ISO 8601 time (UTC when it names no zone), or a duration ago (`24h`)."""
    now = now or datetime.now(UTC)
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return now - duration(text)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def read_log(
    log: str,
    model: str,
    features: list[str],
    *,
    since: datetime | None = None,
    window: timedelta | None = None,
    settings: Settings | None = None,
) -> Logged:
    """The records of `model` in `log` from `since` on; with `window`, only the last
    `window` of them (ending at the newest record)."""
    table = _read(log, settings)
    missing = {"time", "model", "inputs", "output"} - set(table.schema.names)
    if missing:
        raise MonitorError(
            f"{log} is not a prediction log: it has no {', '.join(sorted(missing))} column"
        )
    table = table.filter(pc.equal(table.column("model"), model))
    if "error" in table.schema.names:
        failed = pc.is_valid(table.column("error"))
        errors = int(pc.sum(failed).as_py() or 0)
        table = table.filter(pc.invert(failed))
    else:
        errors = 0
    times = _times(table.column("time"))
    keep = pc.is_valid(times)
    if since is not None:
        keep = pc.and_(keep, pc.greater_equal(times, pa.scalar(since, _TIME)))
    table, times = table.filter(keep), times.filter(keep)
    if window is not None and len(table):
        newest = pc.max(times).as_py()
        keep = pc.greater(times, pa.scalar(newest - window, _TIME))
        table, times = table.filter(keep), times.filter(keep)
    inputs = _inputs(table.column("inputs"))
    columns = {
        name: _floats(inputs.field(name)) if name in _fields(inputs) else _nothing(len(table))
        for name in features
    }
    columns[OUTPUT] = _floats(table.column("output"))
    versions = (
        sorted(set(table.column("version").to_pylist())) if "version" in table.schema.names else []
    )
    return Logged(
        columns=columns,
        rows=len(table),
        errors=errors,
        versions=[int(v) for v in versions if v is not None],
        start=pc.min(times).as_py() if len(table) else None,
        end=pc.max(times).as_py() if len(table) else None,
    )


def _read(log: str, settings: Settings | None) -> pa.Table:
    if log.startswith("table:"):
        from scalepipe.io.warehouse import check_identifier, open_warehouse

        name = check_identifier(log.removeprefix("table:"))
        warehouse = open_warehouse((settings or Settings.load()).warehouse)
        return pa.Table.from_pandas(
            warehouse.query(f'SELECT * FROM "{name}"'), preserve_index=False
        )
    import fsspec

    filesystem, path = fsspec.core.url_to_fs(log)
    if not filesystem.exists(path):
        raise MonitorError(f"no prediction log at {log}")
    if filesystem.isdir(path):
        import pyarrow.dataset as ds

        return ds.dataset(path, filesystem=filesystem, format="parquet").to_table()
    import pyarrow.json as pj

    with filesystem.open(path, "rb") as handle:
        try:
            return pj.read_json(handle, parse_options=pj.ParseOptions(newlines_in_values=False))
        except pa.ArrowInvalid as error:
            raise MonitorError(f"{log} is not a JSON Lines prediction log: {error}") from error


def _times(column: pa.ChunkedArray) -> pa.Array:
    column = column.combine_chunks()
    if pa.types.is_timestamp(column.type):
        return column.cast(_TIME)
    try:
        return column.cast(pa.string()).cast(_TIME)
    except pa.ArrowInvalid as error:
        raise MonitorError(f"the log's times are not ISO 8601: {error}") from error


def _inputs(column: pa.ChunkedArray) -> pa.StructArray:
    """The `inputs` column as a struct: JSON text (the server's Parquet log) is parsed by
    Arrow's JSON reader, a line per record."""
    column = column.combine_chunks()
    if pa.types.is_struct(column.type):
        return column
    if len(column) == 0:
        return pa.array([], pa.struct([]))
    import pyarrow.json as pj

    text = "\n".join(value if value is not None else "{}" for value in column.to_pylist())
    parsed = pj.read_json(pa.BufferReader(text.encode()))
    return pa.StructArray.from_arrays(
        [parsed.column(name).combine_chunks() for name in parsed.schema.names],
        names=parsed.schema.names,
    )


def _fields(struct: pa.StructArray) -> set[str]:
    return {struct.type.field(index).name for index in range(struct.type.num_fields)}


def _floats(column: Any) -> np.ndarray:
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    if not (pa.types.is_integer(column.type) or pa.types.is_floating(column.type)
            or pa.types.is_boolean(column.type) or pa.types.is_null(column.type)):  # fmt: skip
        raise MonitorError(f"logged values of type {column.type} are not numbers")
    return np.asarray(
        pc.fill_null(column.cast(pa.float64()), np.nan).to_numpy(zero_copy_only=False),
        dtype=np.float64,
    )


def _nothing(rows: int) -> np.ndarray:
    return np.full(rows, np.nan)
