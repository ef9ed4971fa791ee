"""The warehouse: a DuckDB file by default, PostgreSQL when users outgrow it.

A warehouse URL is a DuckDB file path (`warehouse.duckdb`, `duckdb:///abs/path.duckdb`,
`:memory:`) or a PostgreSQL URL (`postgresql://user@host:5432/db`). Tables are written
whole and atomically: a reader sees the old table or the new one, never a part.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Iterator, Mapping
from contextlib import closing, contextmanager
from typing import Any, Literal

import pandas as pd
import pyarrow as pa

from scalepipe.data.catalog import DatasetError

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_memory: Any = None
_memory_lock = threading.Lock()
WarehouseKind = Literal["duckdb", "postgresql"]


class Warehouse:
    def __init__(self, url: str) -> None:
        self.url = url
        self.kind: WarehouseKind = _kind(url)

    def __repr__(self) -> str:
        return f"Warehouse({redacted(self.url)!r})"

    def query(self, sql: str) -> pd.DataFrame:
        """Run a query and return its result as a DataFrame."""
        try:
            if self.kind == "duckdb":
                with self._duckdb() as connection:
                    result: pd.DataFrame = connection.execute(sql).df()
                    return result
            with closing(self._postgres()) as connection, closing(connection.cursor()) as cursor:
                cursor.execute(sql)
                fetched: pd.DataFrame = cursor.fetch_arrow_table().to_pandas()
                return fetched
        except DatasetError:
            raise
        except Exception as error:
            raise DatasetError(f"query on {redacted(self.url)} failed: {error}") from error

    def read_batches(self, sql: str, batch_rows: int = 65_536) -> Iterator[pa.RecordBatch]:
        """The rows of a query as Arrow record batches, streamed: any size in bounded memory."""
        try:
            if self.kind == "duckdb":
                with self._duckdb() as connection:
                    yield from connection.sql(sql).to_arrow_reader(batch_rows)
                return
            with closing(self._postgres()) as connection, closing(connection.cursor()) as cursor:
                cursor.execute(sql)
                yield from cursor.fetch_record_batch()
        except DatasetError:
            raise
        except Exception as error:
            raise DatasetError(f"query on {redacted(self.url)} failed: {error}") from error

    def query_schema(self, sql: str) -> pa.Schema:
        """The Arrow schema of a query's rows, without reading them."""
        limited = f"SELECT * FROM ({sql}) AS q LIMIT 0"
        try:
            if self.kind == "duckdb":
                with self._duckdb() as connection:
                    schema: pa.Schema = connection.sql(limited).to_arrow_table().schema
                    return schema
            with closing(self._postgres()) as connection, closing(connection.cursor()) as cursor:
                cursor.execute(limited)
                fetched: pa.Schema = cursor.fetch_arrow_table().schema
                return fetched
        except DatasetError:
            raise
        except Exception as error:
            raise DatasetError(f"query on {redacted(self.url)} failed: {error}") from error

    def write(self, table: str, frames: Iterable[pd.DataFrame]) -> int:
        """Replace `table` with the concatenated frames, atomically; return the row count."""
        return self.write_tables({table: frame} for frame in frames)[table]

    def write_tables(self, blocks: Iterable[Mapping[str, pd.DataFrame]]) -> dict[str, int]:
        """Replace several tables from a stream of blocks, all in one transaction.

        Each block maps table names to the rows to append; the tables appear, or are
        replaced, only once every block is written, so readers never see a part.
        """
        with self._connection() as connection:
            staged: dict[str, _StagedTable] = {}
            for block in blocks:
                for table, frame in block.items():
                    if table not in staged:
                        staged[table] = _StagedTable(table, frame)
                        self._create_staging(connection, staged[table], frame)
                    else:
                        self._append_staging(connection, staged[table], frame)
            if not staged:
                raise DatasetError("nothing to write: the source produced no rows")
            self._publish(connection, staged.values())
        return {table: entry.rows for table, entry in staged.items()}

    def tables(self) -> list[str]:
        if self.kind == "duckdb":
            frame = self.query("SELECT table_name FROM information_schema.tables ORDER BY 1")
        else:
            frame = self.query(
                "SELECT table_name FROM information_schema.tables "
                "WHERE table_schema = current_schema() ORDER BY 1"
            )
        return [str(name) for name in frame["table_name"]]

    def _duckdb_path(self) -> str:
        return self.url.removeprefix("duckdb://").removeprefix("duckdb:")

    def _duckdb(self) -> Any:
        """A DuckDB connection: to the file, or to this process's one in-memory database,
        which lives as long as the process, so that `:memory:` keeps its tables between
        calls (each call opening its own would start empty)."""
        import duckdb

        path = self._duckdb_path()
        if path not in (":memory:", ""):
            return duckdb.connect(path)
        global _memory
        with _memory_lock:
            if _memory is None:
                _memory = duckdb.connect(":memory:")
            return _memory.cursor()

    @contextmanager
    def _connection(self) -> Iterator[Any]:
        if self.kind == "duckdb":
            with self._duckdb() as connection:
                connection.execute("BEGIN TRANSACTION")
                yield connection
            return
        with closing(self._postgres()) as connection:
            yield connection

    def _create_staging(self, connection: Any, staged: _StagedTable, frame: pd.DataFrame) -> None:
        rows = staged.arrow(frame)
        if self.kind == "duckdb":
            connection.register("scalepipe_rows", rows)
            connection.execute(
                f'CREATE OR REPLACE TABLE "{staged.staging}" AS SELECT * FROM scalepipe_rows'
            )
            connection.unregister("scalepipe_rows")
            return
        with closing(connection.cursor()) as cursor:
            cursor.execute(f'DROP TABLE IF EXISTS "{staged.staging}"')
            cursor.adbc_ingest(staged.staging, rows, mode="create")

    def _append_staging(self, connection: Any, staged: _StagedTable, frame: pd.DataFrame) -> None:
        rows = staged.arrow(frame)
        if self.kind == "duckdb":
            connection.register("scalepipe_rows", rows)
            connection.execute(f'INSERT INTO "{staged.staging}" SELECT * FROM scalepipe_rows')
            connection.unregister("scalepipe_rows")
            return
        with closing(connection.cursor()) as cursor:
            cursor.adbc_ingest(staged.staging, rows, mode="append")

    def _publish(self, connection: Any, staged: Iterable[_StagedTable]) -> None:
        statements = []
        for entry in staged:
            statements += [
                f'DROP TABLE IF EXISTS "{entry.table}"',
                f'ALTER TABLE "{entry.staging}" RENAME TO "{entry.table}"',
            ]
        if self.kind == "duckdb":
            for statement in statements:
                connection.execute(statement)
            connection.execute("COMMIT")
            return
        with closing(connection.cursor()) as cursor:
            for statement in statements:
                cursor.execute(statement)
        connection.commit()

    def _postgres(self) -> Any:
        try:
            import adbc_driver_postgresql.dbapi as postgres
        except ImportError as error:
            raise DatasetError(
                "PostgreSQL warehouses need the postgres extra: pip install 'scalepipe[postgres]'"
            ) from error
        try:
            return postgres.connect(self.url)
        except Exception as error:
            raise DatasetError(f"cannot connect to {redacted(self.url)}: {error}") from error


class _StagedTable:
    """A table being written under a staging name, with the schema of its first rows."""

    def __init__(self, table: str, first: pd.DataFrame) -> None:
        if not _IDENTIFIER.fullmatch(table):
            raise DatasetError(f"table name {table!r} must be letters, digits and _")
        self.table = table
        self.staging = f"{table}__scalepipe_staging"
        self.schema = _plain_schema(pa.Schema.from_pandas(first, preserve_index=False))
        self.rows = 0

    def arrow(self, frame: pd.DataFrame) -> pa.Table:
        self.rows += len(frame)
        return pa.Table.from_pandas(frame, preserve_index=False).cast(self.schema)


def _plain_schema(schema: pa.Schema) -> pa.Schema:
    fields = []
    for field in schema:
        kind = field.type
        if pa.types.is_dictionary(kind):
            kind = kind.value_type
        if pa.types.is_large_string(kind):
            kind = pa.string()
        fields.append(pa.field(field.name, kind, nullable=True))
    return pa.schema(fields)


def _kind(url: str) -> WarehouseKind:
    if url.startswith(("postgresql://", "postgres://")):
        return "postgresql"
    if url.startswith("duckdb:") or url == ":memory:" or url.endswith((".duckdb", ".db")):
        return "duckdb"
    raise DatasetError(
        f"unsupported warehouse URL {redacted(url)!r}: use a DuckDB file (warehouse.duckdb) "
        "or postgresql://user@host:5432/database"
    )


def redacted(url: str) -> str:
    """The URL without its password, fit for messages and logs."""
    return re.sub(r"(://[^:/@]+):[^@/]*@", r"\1:***@", url)
