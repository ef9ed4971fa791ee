"""Prediction logs read back as columns: the records (scalepipe/predict/records.py) that
the server, the functions, batch and stream jobs write with --log-predictions.

    PATH.jsonl (any file)        JSON Lines, one record per line
    PATH.parquet (a folder)      Parquet files of records (`inputs` as JSON text or a struct)
    table:NAME                   a warehouse table of records
    a file or folder of a platform's log export (gzip or not): the lines that hold a
    record, as the function handlers log them (CloudWatch's export to S3, a Cloud
    Logging sink to GCS: LogEntry lines with the record as jsonPayload or textPayload)

Local paths or any fsspec URL (s3://, gs://). Error records (a row that could not be
described) are counted, not compared. JSON Lines are parsed by DuckDB's reader (in C++,
on every core, only the model's features turned into numbers: a value that is not a
number counts as missing); a line over 16 MB is refused (a record is at most 64 kB).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from scalepipe.config import Settings
from scalepipe.monitor.drift import OUTPUT, MonitorError

_TIME = pa.timestamp("us", tz="UTC")
BATCH_ROWS = 200_000
MAX_LINE_BYTES = 16 << 20
MAX_FIRST_LINE = 1 << 20
_RECORD_COLUMNS = {"time": "VARCHAR", "model": "VARCHAR", "version": "BIGINT",
                   "inputs": "JSON", "output": "DOUBLE", "error": "VARCHAR"}  # fmt: skip


@dataclass(frozen=True)
class Logged:
    """A model's logged predictions in a window: a column per feature and `output`."""

    columns: dict[str, np.ndarray]
    rows: int
    errors: int
    versions: list[int]
    start: datetime | None
    end: datetime | None


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
    `window` of them (ending at the newest record). The log is read a part at a time (a
    Parquet batch, 200,000 JSON Lines, a table's batch) and only the model's rows are
    kept, as numbers: memory follows the rows compared, not the log's size."""
    parts: list[_Part] = []
    errors = 0
    for table in _tables(log, model, features, settings):
        if "model" not in table.schema.names:
            raise MonitorError(f"{log} is not a prediction log: it has no model column")
        table = table.filter(pc.equal(table.column("model"), model))
        if "error" in table.schema.names:
            failed = pc.is_valid(table.column("error"))
            errors += int(pc.sum(failed).as_py() or 0)
            table = table.filter(pc.invert(failed))
        if not len(table):  # a part with none of the model's predictions (errors only, say)
            continue
        missing = {"time", "inputs", "output"} - set(table.schema.names)
        if missing:
            raise MonitorError(
                f"{log} is not a prediction log: it has no {', '.join(sorted(missing))} column"
            )
        times = _times(table.column("time"))
        keep = pc.is_valid(times)
        if since is not None:
            keep = pc.and_(keep, pc.greater_equal(times, pa.scalar(since, _TIME)))
        table, times = table.filter(keep), times.filter(keep)
        if len(table):
            parts.append(_Part.of(table, times, features))
    times = np.concatenate([part.times for part in parts]) if parts else np.zeros(0, "int64")
    recent: slice | np.ndarray = slice(None)
    if window is not None and len(times):
        recent = times > times.max() - window // timedelta(microseconds=1)
    columns = {
        name: np.concatenate([part.columns[name] for part in parts])[recent] if parts
        else np.zeros(0)
        for name in [*features, OUTPUT]
    }  # fmt: skip
    kept = times[recent]
    return Logged(
        columns=columns,
        rows=len(kept),
        errors=errors,
        versions=sorted(set().union(*(part.versions for part in parts))),
        start=_moment(kept.min()) if len(kept) else None,
        end=_moment(kept.max()) if len(kept) else None,
    )


@dataclass(frozen=True)
class _Part:
    times: np.ndarray  # microseconds since the epoch
    columns: dict[str, np.ndarray]
    versions: set[int]

    @classmethod
    def of(cls, table: pa.Table, times: pa.Array, features: list[str]) -> _Part:
        inputs = _inputs(table.column("inputs"))
        present = _fields(inputs)
        columns = {
            name: _floats(inputs.field(name)) if name in present else _nothing(len(table))
            for name in features
        }
        columns[OUTPUT] = _floats(table.column("output"))
        versions: set[int] = set()
        if "version" in table.schema.names:
            versions = {
                int(v) for v in pc.unique(table.column("version")).to_pylist() if v is not None
            }
        microseconds = times.cast(pa.int64()).to_numpy(zero_copy_only=False)
        return cls(np.asarray(microseconds, dtype=np.int64), columns, versions)


def _moment(microseconds: int) -> datetime:
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=int(microseconds))


def _tables(
    log: str, model: str, features: list[str], settings: Settings | None
) -> Iterator[pa.Table]:
    if log.startswith("table:"):
        from scalepipe.io.warehouse import check_identifier, open_warehouse

        name = check_identifier(log.removeprefix("table:"))
        warehouse = open_warehouse((settings or Settings.load()).warehouse)
        quoted = model.replace("'", "''")
        sql = f"SELECT * FROM \"{name}\" WHERE model = '{quoted}'"
        for batch in warehouse.read_batches(sql):
            yield pa.Table.from_batches([batch])
        return
    import fsspec

    filesystem, path = fsspec.core.url_to_fs(log)
    if not filesystem.exists(path):
        raise MonitorError(f"no prediction log at {log}")
    files = [path]
    if filesystem.isdir(path):
        files = [name for name in sorted(filesystem.find(path)) if not _hidden(name, path)]
        if not files:
            raise MonitorError(f"no prediction log at {log}: the folder is empty")
    if any(name.endswith(".parquet") for name in files):
        import pyarrow.dataset as ds

        dataset = ds.dataset(path, filesystem=filesystem, format="parquet")
        wanted = ["time", "model", "version", "inputs", "output", "error"]
        columns = [name for name in wanted if name in dataset.schema.names]
        if "model" not in columns:
            raise MonitorError(f"{log} is not a prediction log: it has no model column")
        for batch in dataset.to_batches(columns=columns, filter=ds.field("model") == model):
            yield pa.Table.from_batches([batch])
        return
    yield from _text(log, filesystem, files, model, features)


def _hidden(name: str, folder: str) -> bool:
    return any(part.startswith((".", "_")) for part in name[len(folder) :].split("/"))


def _text(
    log: str, filesystem: Any, files: list[str], model: str, features: list[str]
) -> Iterator[pa.Table]:
    """The model's records, BATCH_ROWS at a time, with `inputs` as a struct of the
    features as numbers: JSON Lines of records (DuckDB's JSON reader), or lines of a
    platform's log export that hold them (the function handlers' records in CloudWatch
    or Cloud Logging), told apart by the first line."""
    import duckdb

    connection = duckdb.connect()
    local = "file" in filesystem.protocol
    if not local:
        connection.register_filesystem(filesystem)
    files = files if local else [filesystem.unstrip_protocol(name) for name in files]
    numbers = json.dumps(dict.fromkeys(features, "DOUBLE"))
    if _holds_a_record(filesystem, files[0]):
        query = connection.sql(_RECORDS_SQL, params={
            "files": files, "numbers": numbers, "columns": _RECORD_COLUMNS,
            "largest": MAX_LINE_BYTES, "model": model,
        })  # fmt: skip
    else:
        platform = {"files": files, "numbers": numbers, "model": model}
        query = connection.sql(_PLATFORM_SQL, params=platform)
    try:
        for batch in query.to_arrow_reader(BATCH_ROWS):
            yield pa.Table.from_batches([batch])
    except (duckdb.Error, pa.ArrowException, OSError) as error:  # OSError: DuckDB's, mid-read
        if "maximum_object_size" in str(error):
            raise MonitorError(f"{log} has a line of over {MAX_LINE_BYTES >> 20} MB: "
                               "not a JSON Lines prediction log") from None  # fmt: skip
        raise MonitorError(f"{log} is not a JSON Lines prediction log: {error}") from None
    finally:
        connection.close()


def _holds_a_record(filesystem: Any, name: str) -> bool:
    """Whether the file's first line is a PredictionRecord (else: a platform's log)."""
    with filesystem.open(name, "rb", compression="infer") as handle:
        first = handle.read(MAX_FIRST_LINE).split(b"\n", 1)[0]
    try:
        record = json.loads(first)
    except ValueError:
        return False
    return isinstance(record, dict) and "model" in record


# PredictionRecords a line.
_RECORDS_SQL = """
SELECT time, model, version, output, error, json_transform(inputs, $numbers) AS inputs
FROM read_json($files, format = 'newline_delimited', columns = $columns,
               maximum_object_size = $largest)
WHERE model = $model
"""

# Lines of a platform's log export (gzip or not) that hold a record: from the line's first
# "{" on (CloudWatch's export: "TIME [INFO]\tTIME\tREQUEST\t{...}"), or a Cloud Logging
# LogEntry whose jsonPayload is the record or whose textPayload is its text. Other lines
# (START, REPORT, the platform's own messages) are passed over, as are lines the reader
# cannot take (over its 2 MB line limit, say).
_PLATFORM_SQL = r"""
WITH lines AS (
    SELECT line FROM read_csv($files, columns = {'line': 'VARCHAR'}, header = false,
                              delim = E'\x1f', quote = '', escape = '', auto_detect = false,
                              compression = 'auto', ignore_errors = true)
), documents AS (
    SELECT substr(line, strpos(line, '{')) AS text FROM lines WHERE strpos(line, '{') > 0
), parsed AS (
    SELECT text::JSON AS document FROM documents WHERE json_valid(text)
), records AS (
    SELECT CASE
        WHEN json_type(document, '$.jsonPayload') = 'OBJECT' THEN document -> '$.jsonPayload'
        WHEN json_type(document, '$.textPayload') = 'VARCHAR' THEN
            CASE WHEN json_valid(document ->> '$.textPayload')
                 THEN (document ->> '$.textPayload')::JSON END
        ELSE document END AS record
    FROM parsed
)
SELECT record ->> '$.time' AS time, record ->> '$.model' AS model,
       TRY_CAST(record ->> '$.version' AS BIGINT) AS version,
       TRY_CAST(record ->> '$.output' AS DOUBLE) AS output, record ->> '$.error' AS error,
       json_transform(record -> '$.inputs', $numbers) AS inputs
FROM records WHERE record ->> '$.model' = $model
"""


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
