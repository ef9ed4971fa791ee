"""Sinks of a stream job that are not message brokers: where applications look results
up, or where analysts query them.

    redis://HOST:6379/DB?prefix=P          a Redis hash per message, at `<prefix><id>`
    datastore://PROJECT/KIND[?namespace=N]  a Datastore entity per message, named by its id
    table:NAME                              rows of a warehouse table (settings' warehouse)
    FOLDER or s3://BUCKET/FOLDER            Parquet files, `date=YYYY-MM-DD/part-*.parquet`

Each micro-batch is written in one step before its messages are acknowledged. A result
is written by its id: a message delivered twice gives one hash, one entity, one table
row (the rows of the batch's ids are replaced in the same transaction). Parquet files
are only ever added, so a redelivered message can appear in two files: readers keep the
last row per id. Dead letters go to these sinks too, keyed by the message id, or by a
hash of the message when it has none.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import orjson
import pyarrow as pa

from scalepipe.config import Settings, redact_url
from scalepipe.errors import DatasetError, StreamError
from scalepipe.stream.messages import Message

KEY = "key"
_TIME = pa.timestamp("ms", tz="UTC")
RESULTS = pa.schema(
    [("id", pa.string()), ("prediction", pa.float64()), ("model", pa.string()),
     ("version", pa.int64()), ("time", _TIME)]
)  # fmt: skip
DEAD_LETTERS = pa.schema(
    [(KEY, pa.string()), ("id", pa.string()), ("error", pa.string()), ("field", pa.string()),
     ("deliveries", pa.int64()), ("message", pa.string()), ("model", pa.string()),
     ("version", pa.int64()), ("time", _TIME)]
)  # fmt: skip
_DATASTORE_BATCH = 500  # Datastore's limit for one commit
_BROKERS = ("nats", "kafka", "pubsub")


def is_row_sink(url: str) -> bool:
    """Whether `url` names one of this module's sinks rather than a broker's stream."""
    scheme = urlsplit(url).scheme
    if url.startswith(("table:", "datastore://")):
        return True
    if scheme in ("redis", "rediss"):
        options = dict(parse_qsl(urlsplit(url).query, keep_blank_values=True))
        return "prefix" in options and "stream" not in options
    return scheme not in _BROKERS


def open_row_sink(url: str, settings: Settings | None = None) -> RowSink:
    try:
        if url.startswith("table:"):
            return TableSink(url, (settings or Settings.load()).warehouse)
        if url.startswith("datastore://"):
            return DatastoreResults(url)
        if url.startswith(("redis://", "rediss://")):
            return RedisHashes(url)
        return ParquetResults(url)
    except DatasetError as error:
        raise StreamError(str(error)) from error


def rows(records: Sequence[tuple[str, bytes]]) -> pa.Table:
    """Results or dead letters (JSON) as rows: the results' schema, or the dead letters'
    with the record's key first."""
    bodies = [orjson.loads(body) for _, body in records]
    if bodies and "error" in bodies[0]:
        for (key, _), body in zip(records, bodies, strict=True):
            body[KEY] = key
            body["id"] = None if body["id"] is None else str(body["id"])
        schema = DEAD_LETTERS
    else:
        schema = RESULTS
    columns = {name: [body.get(name) for body in bodies] for name in schema.names}
    columns["time"] = pa.array(columns["time"], pa.string()).cast(_TIME)
    return pa.table(columns, schema=schema)


class RowSink:
    """A sink written by `publish` like a broker's stream; it cannot be read."""

    reads_ahead = False
    url: str
    kind: str

    def read(self, count: int, timeout: float) -> list[Message]:
        raise StreamError(f"{redact_url(self.url)} is a {self.kind} sink: a job cannot read it")

    def ack(self, messages: Sequence[Message]) -> None:
        raise StreamError(f"{redact_url(self.url)} is a {self.kind} sink: nothing to acknowledge")

    def lag(self) -> int | None:
        return None

    def describe(self) -> dict[str, Any]:
        return {"kind": self.kind, "url": redact_url(self.url)}

    def publish(self, records: Sequence[tuple[str, bytes]]) -> None:
        if records:
            try:
                self.write(rows(records))
            except (DatasetError, OSError) as error:
                raise StreamError(f"writing to {redact_url(self.url)}: {error}") from error

    def write(self, table: pa.Table) -> None:
        raise NotImplementedError

    def close(self) -> None:
        return None


def _key_column(table: pa.Table) -> str:
    return KEY if KEY in table.schema.names else "id"


class RedisHashes(RowSink):
    """A hash per message at `<prefix><id>`, the batch's hashes in one MULTI/EXEC."""

    kind = "redis hash"

    def __init__(self, url: str) -> None:
        from scalepipe.io.keyvalue import RedisSink

        self.url = url
        self.sink = RedisSink(url, ())
        self.client = self.sink.client()

    def describe(self) -> dict[str, Any]:
        return self.sink.describe() | {"kind": self.kind}

    def write(self, table: pa.Table) -> None:
        from scalepipe.io.keyvalue import keyed_rows

        key = _key_column(table)
        fields = [name for name in table.schema.names if name != key]
        pipe = self.client.pipeline(transaction=True)
        for batch in table.to_batches():
            for name, values in keyed_rows(batch, (key,), fields):
                entry = self.sink.prefix + name
                pipe.delete(entry)
                pipe.hset(entry, mapping=values)
        pipe.execute()

    def close(self) -> None:
        self.client.close()


class DatastoreResults(RowSink):
    """An entity per message, named by its id, 500 per call (a crash between two calls
    leaves whole entities, written again on redelivery)."""

    kind = "datastore"

    def __init__(self, url: str) -> None:
        from scalepipe.io.keyvalue import DatastoreSink

        self.url = url
        self.sink = DatastoreSink(url, ())
        self.client = self.sink.client()

    def write(self, table: pa.Table) -> None:
        from google.cloud import datastore

        from scalepipe.io.keyvalue import keyed_rows

        Entity: Any = datastore.Entity
        key = _key_column(table)
        fields = [name for name in table.schema.names if name != key]
        for batch in table.to_batches(max_chunksize=_DATASTORE_BATCH):
            entities = []
            for name, values in keyed_rows(batch, (key,), fields, as_text=False):
                entity = Entity(self.client.key(self.sink.kind, name))
                entity.update(values)
                entities.append(entity)
            self.client.put_multi(entities)


class TableSink(RowSink):
    """Rows of a warehouse table (created by the first batch): each batch replaces the rows
    of its ids and adds its own, in one transaction."""

    kind = "warehouse table"

    def __init__(self, url: str, warehouse: str) -> None:
        from scalepipe.io.warehouse import check_identifier, open_warehouse

        table, _, query = url.removeprefix("table:").strip().partition("?")
        if query:
            raise StreamError(f"a stream's table sink is table:NAME, without options: {url!r}")
        self.url = url
        self.table = check_identifier(table)
        self.warehouse = open_warehouse(warehouse)

    def describe(self) -> dict[str, Any]:
        return {"kind": self.kind, "table": self.table, "warehouse": repr(self.warehouse)}

    def write(self, table: pa.Table) -> None:
        key = _key_column(table)
        self.warehouse.append(self.table, [table], replacing=(key, table.column(key).to_pylist()))


class ParquetResults(RowSink):
    """A Parquet file per micro-batch under `date=YYYY-MM-DD/`, in the day it was written.
    On a local disk the file is written under `_staging/` and renamed, so that readers
    (which skip `_` folders) never see half a file; an object store shows an object only
    once it is whole."""

    kind = "parquet"

    def __init__(self, url: str) -> None:
        import fsspec

        from scalepipe.io.uris import file_schemes, is_local

        scheme = urlsplit(url).scheme
        if scheme and scheme not in file_schemes():
            raise StreamError(
                f"unknown sink {redact_url(url)!r}: use a broker's stream, "
                "redis://HOST:PORT/DB?prefix=P, datastore://PROJECT/KIND, table:NAME or a folder"
            )
        self.url = url.rstrip("/")
        self.filesystem, self.root = fsspec.core.url_to_fs(self.url)
        self.local = is_local(self.filesystem)

    def write(self, table: pa.Table) -> None:
        import pyarrow.parquet as pq

        now = datetime.now(UTC)
        name = f"part-{now:%H%M%S%f}-{uuid.uuid4().hex[:8]}.parquet"
        final = f"{self.root}/date={now:%Y-%m-%d}/{name}"
        self.filesystem.makedirs(final.rsplit("/", 1)[0], exist_ok=True)
        if not self.local:
            pq.write_table(table, final, filesystem=self.filesystem)
            return
        staging = f"{self.root}/_staging/{name}"
        self.filesystem.makedirs(f"{self.root}/_staging", exist_ok=True)
        try:
            pq.write_table(table, staging, filesystem=self.filesystem)
            self.filesystem.mv(staging, final)
        except BaseException:
            if self.filesystem.exists(staging):
                self.filesystem.rm(staging)
            raise
