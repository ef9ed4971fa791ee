"""Key-value lookup stores: the book's Datastore role, where applications look up one
row by its key (a user's score, say). Each row becomes one entry named by its key
columns; the other columns are the entry's fields.

    redis://127.0.0.1:6379/0?prefix=games:     a Redis hash per row, at `<prefix><key>`
    datastore://PROJECT/KIND?namespace=NS      a Google Cloud Datastore entity per row,
                                               named by its key, in KIND

Redis: a run's entries appear all at once: they are written under staging names that
expire after a day (a killed run leaves nothing for long), then renamed in one
MULTI/EXEC transaction at commit. Datastore: the run's rows are spooled on local disk
and written at commit, 500 entities per call (Datastore's limit for one commit): a run
killed before its commit leaves the kind as it was; one killed during its commit leaves
some entities of the new run, each whole. Committing the same run id again writes the
same entries again.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from itertools import islice
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from scalepipe.config import redact_url
from scalepipe.errors import DatasetError

STAGING_SECONDS = 24 * 3600
KEY_SEPARATOR = ":"
_CHUNK = 2_000


def entry_key(values: Sequence[Any]) -> str:
    """The key of a row: its key columns' values, joined by `:`."""
    return KEY_SEPARATOR.join(_text(value) for value in values)


def check_keys(sink: str, keys: Sequence[str], schema: Any) -> None:
    """A key-value sink needs key columns, and the rows must hold them."""
    if not keys:
        raise DatasetError(f"{sink} stores one entry per key: name the key column(s) with --key")
    missing = [key for key in keys if key not in schema.names]
    if missing:
        raise DatasetError(f"the rows lack key column(s) {', '.join(missing)}")


def keyed_rows(
    batch: Any, keys: Sequence[str], fields: Sequence[str], *, as_text: bool = True
) -> Iterator[tuple[str, dict[str, Any]]]:
    """Each row of a record batch as its entry key and its other fields (as text and
    numbers for Redis; as they are for stores that keep types)."""
    key_values = zip(*(batch.column(name).to_pylist() for name in keys), strict=True)
    values = zip(*(batch.column(name).to_pylist() for name in fields), strict=True)
    for key, row in zip(key_values, values, strict=True):
        if as_text:
            yield entry_key(key), {f: _field(v) for f, v in zip(fields, row, strict=True)}
        else:
            yield entry_key(key), dict(zip(fields, row, strict=True))


def _text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _field(value: Any) -> str | bytes | int | float:
    if value is None:
        return ""
    if isinstance(value, (str, bytes, int, float)):
        return value
    if hasattr(value, "isoformat"):
        return str(value.isoformat())
    return str(value)


class RedisSink:
    """A hash per row in Redis, keyed by the job's key columns."""

    def __init__(self, url: str, keys: Sequence[str] | None) -> None:
        parts = urlsplit(url)
        options = dict(parse_qsl(parts.query, keep_blank_values=True))
        unknown = sorted(set(options) - {"prefix"})
        if unknown:
            raise DatasetError(f"unknown option(s) {', '.join(unknown)} in {redact_url(url)}")
        self.url = parts._replace(query="").geturl()
        self.prefix = options.get("prefix", "")
        self.keys = tuple(keys or ())

    def describe(self) -> dict[str, Any]:
        return {"kind": "redis", "url": redact_url(self.url), "prefix": self.prefix}

    def client(self) -> Any:
        try:
            import redis
        except ImportError as error:
            raise DatasetError(
                "Redis sinks need the redis extra: pip install 'scalepipe[redis]'"
            ) from error
        return redis.Redis.from_url(self.url, socket_timeout=30, socket_connect_timeout=5)

    def writer(self, schema: Any, run_id: str) -> RedisWriter:
        from scalepipe.io.sinks import check_run_id

        check_keys(f"a Redis sink ({redact_url(self.url)})", self.keys, schema)
        return RedisWriter(self, schema, check_run_id(run_id))

    def lookup(self, key: str) -> dict[str, str] | None:
        found = self.client().hgetall(f"{self.prefix}{key}")
        if not found:
            return None
        return {name.decode(): value.decode() for name, value in found.items()}


class RedisWriter:
    def __init__(self, sink: RedisSink, schema: Any, run_id: str) -> None:
        self.sink = sink
        self.client = sink.client()
        self.fields = [name for name in schema.names if name not in sink.keys]
        self.staging = f"{sink.prefix}_staging:{run_id}:{uuid.uuid4().hex[:8]}:"
        self.rows = 0
        try:
            self.client.ping()
        except Exception as error:
            raise DatasetError(f"cannot reach Redis at {redact_url(sink.url)}: {error}") from error

    def write(self, batch: Any) -> None:
        pipe = self.client.pipeline(transaction=False)
        for count, (key, fields) in enumerate(keyed_rows(batch, self.sink.keys, self.fields), 1):
            name = self.staging + key
            pipe.hset(name, mapping=fields)
            pipe.expire(name, STAGING_SECONDS)
            if count % _CHUNK == 0:
                pipe.execute()
        pipe.execute()
        self.rows += batch.num_rows

    def commit(self) -> None:
        """Rename every staged entry to its final name in one transaction, sent in chunks
        on one connection so that client memory stays bounded."""
        connection = self.client.connection_pool.get_connection("MULTI")
        try:
            connection.send_command("MULTI")
            connection.read_response()
            staged = self.client.scan_iter(match=f"{_glob(self.staging)}*", count=_CHUNK)
            for chunk in _chunks(staged, _CHUNK):
                commands = []
                for raw in chunk:
                    name = raw.decode()
                    final = self.sink.prefix + name.removeprefix(self.staging)
                    commands += [("RENAME", name, final), ("PERSIST", final)]
                connection.send_packed_command(connection.pack_commands(commands))
                for _ in commands:
                    connection.read_response()
            connection.send_command("EXEC")
            connection.read_response()
        except BaseException:
            connection.disconnect()  # an open MULTI is discarded with its connection
            raise
        finally:
            self.client.connection_pool.release(connection)

    def abort(self) -> None:
        staged = self.client.scan_iter(match=f"{_glob(self.staging)}*", count=_CHUNK)
        for chunk in _chunks(staged, _CHUNK):
            self.client.unlink(*chunk)


def _chunks(items: Iterator[Any], size: int) -> Iterator[list[Any]]:
    while chunk := list(islice(items, size)):
        yield chunk


def _glob(text: str) -> str:
    """`text` as a literal in a Redis glob pattern."""
    return "".join(f"\\{c}" if c in "*?[]\\" else c for c in text)


_DATASTORE_BATCH = 500


class DatastoreSink:
    """An entity per row in Google Cloud Datastore (the book's chapter 7 lookup store),
    named by the job's key columns; the emulator when DATASTORE_EMULATOR_HOST is set."""

    def __init__(self, url: str, keys: Sequence[str] | None) -> None:
        parts = urlsplit(url)
        options = dict(parse_qsl(parts.query, keep_blank_values=True))
        unknown = sorted(set(options) - {"namespace"})
        kind = parts.path.strip("/")
        if unknown or not parts.netloc or not kind or "/" in kind:
            raise DatasetError(
                f"a Datastore sink is datastore://PROJECT/KIND[?namespace=NS], not {url!r}"
            )
        self.url = url
        self.project = parts.netloc
        self.kind = kind
        self.namespace = options.get("namespace") or None
        self.keys = tuple(keys or ())

    def describe(self) -> dict[str, Any]:
        return {"kind": "datastore", "url": self.url}

    def client(self) -> Any:
        """A client; with DATASTORE_EMULATOR_HOST set, the library talks to the emulator
        without credentials."""
        try:
            from google.cloud import datastore
        except ImportError as error:
            raise DatasetError(
                "Datastore sinks need the datastore extra: pip install 'scalepipe[datastore]'"
            ) from error
        Client: Any = datastore.Client
        return Client(project=self.project, namespace=self.namespace)

    def writer(self, schema: Any, run_id: str) -> DatastoreWriter:
        from scalepipe.io.sinks import check_run_id

        check_keys(f"a Datastore sink ({self.url})", self.keys, schema)
        return DatastoreWriter(self, schema, check_run_id(run_id))

    def lookup(self, key: str) -> dict[str, str] | None:
        client = self.client()
        entity = client.get(client.key(self.kind, key))
        if entity is None:
            return None
        return {name: str(value) for name, value in entity.items()}


class DatastoreWriter:
    """Spools the run's rows to a local Arrow file; writes the entities at commit."""

    def __init__(self, sink: DatastoreSink, schema: Any, run_id: str) -> None:
        import tempfile

        import pyarrow as pa

        self.sink = sink
        self.fields = [name for name in schema.names if name not in sink.keys]
        self._folder = tempfile.TemporaryDirectory(prefix="scalepipe-datastore-")
        self._path = f"{self._folder.name}/rows.arrow"
        self._spool = pa.ipc.new_file(self._path, schema)
        self.rows = 0

    def write(self, batch: Any) -> None:
        self._spool.write_batch(batch)
        self.rows += batch.num_rows

    def commit(self) -> None:
        import pyarrow as pa
        from google.cloud import datastore

        Entity: Any = datastore.Entity
        self._spool.close()
        client = self.sink.client()
        try:
            with pa.memory_map(self._path) as source:
                reader = pa.ipc.open_file(source)
                for index in range(reader.num_record_batches):
                    batch = reader.get_batch(index)
                    for start in range(0, batch.num_rows, _DATASTORE_BATCH):
                        chunk = batch.slice(start, _DATASTORE_BATCH)
                        entities = []
                        rows = keyed_rows(chunk, self.sink.keys, self.fields, as_text=False)
                        for key, fields in rows:
                            entity = Entity(client.key(self.sink.kind, key))
                            entity.update(fields)
                            entities.append(entity)
                        client.put_multi(entities)
        finally:
            self._folder.cleanup()

    def abort(self) -> None:
        self._spool.close()
        self._folder.cleanup()
