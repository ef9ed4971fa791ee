"""The warehouse: a DuckDB file by default, PostgreSQL when users outgrow it.

A warehouse URL is a DuckDB file path (`warehouse.duckdb`, `duckdb:///abs/path.duckdb`,
`:memory:`) or a PostgreSQL URL (`postgresql://user@host:5432/db`); `open_warehouse`
gives the class for it. Tables are written whole and atomically: a reader sees the old
table or the new one, never a part.
"""

from __future__ import annotations

import re
import threading
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import closing, contextmanager
from typing import TYPE_CHECKING, Any, TypeAlias

import pyarrow as pa

if TYPE_CHECKING:
    import pandas as pd

from scalepipe.config import redact_url
from scalepipe.errors import DatasetError
from scalepipe.io.plain import plain_schema

IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
Rows: TypeAlias = "pd.DataFrame | pa.RecordBatch | pa.Table"


def open_warehouse(url: str) -> Warehouse:
    """The warehouse a URL names: PostgreSQL for postgresql://, DuckDB for a file or :memory:."""
    if url.startswith(("postgresql://", "postgres://")):
        return PostgresWarehouse(url)
    if url.startswith("duckdb:") or url == ":memory:" or url.endswith((".duckdb", ".db")):
        return DuckDBWarehouse(url)
    raise DatasetError(
        f"unsupported warehouse URL {redact_url(url)!r}: use a DuckDB file (warehouse.duckdb) "
        "or postgresql://user@host:5432/database"
    )


def check_identifier(name: str) -> str:
    """A table name that can go into SQL as is: letters, digits and _."""
    if not IDENTIFIER.fullmatch(name):
        raise DatasetError(f"table name {name!r} must be letters, digits and _")
    return name


class Warehouse(ABC):
    """What every backend offers; subclasses say how their driver does each step."""

    kind: str
    TABLES_SQL: str

    def __init__(self, url: str) -> None:
        self.url = url

    def __repr__(self) -> str:
        return f"{type(self).__name__}({redact_url(self.url)!r})"

    def query(self, sql: str) -> pd.DataFrame:
        """Run a query and return its result as a DataFrame."""
        with self._failures():
            return self._query(sql)

    def read_batches(self, sql: str, batch_rows: int = 65_536) -> Iterator[pa.RecordBatch]:
        """The rows of a query as Arrow record batches, streamed: any size in bounded memory."""
        with self._failures():
            yield from self._read_batches(sql, batch_rows)

    def query_schema(self, sql: str) -> pa.Schema:
        """The Arrow schema of a query's rows, without reading them."""
        with self._failures():
            return self._arrow(f"SELECT * FROM ({sql}) AS q LIMIT 0").schema

    def tables(self) -> list[str]:
        return [str(name) for name in self.query(self.TABLES_SQL)["table_name"]]

    def write(self, table: str, parts: Iterable[Rows]) -> int:
        """Replace `table` with the concatenated parts, atomically; return the row count."""
        return self.write_tables({table: part} for part in parts)[table]

    def write_tables(self, blocks: Iterable[Mapping[str, Rows]]) -> dict[str, int]:
        """Replace several tables from a stream of blocks, all in one transaction.

        Each block maps table names to the rows to append (DataFrames or Arrow); the
        tables appear, or are replaced, only once every block is written, so readers
        never see a part.
        """
        with self._transaction() as connection:
            staged: dict[str, _StagedTable] = {}
            for block in blocks:
                for table, rows in block.items():
                    if table not in staged:
                        staged[table] = _StagedTable(table, rows)
                        self._create_staging(connection, staged[table].staging)
                    entry = staged[table]
                    self._append_staging(connection, entry.staging, entry.arrow(rows))
            if not staged:
                raise DatasetError("nothing to write: the source produced no rows")
            self._publish(connection, staged.values())
        return {table: entry.rows for table, entry in staged.items()}

    def append(
        self, table: str, parts: Iterable[Rows], *, replacing: tuple[str, str | Sequence[str]]
    ) -> int:
        """Add rows to `table` (created if absent), first removing the rows whose column
        `replacing[0]` holds `replacing[1]` (a rerun's run id; or any of several values),
        all in one transaction; return the row count added."""
        check_identifier(table)
        column, value = replacing
        check_identifier(column)
        added = 0
        with self._transaction() as connection:
            if self._exists(connection, table):
                self._delete(
                    connection, table, column, [value] if isinstance(value, str) else value
                )
            schema = None
            for part in parts:
                rows = _to_arrow(part)
                schema = schema or plain_schema(rows.schema)
                self._append_staging(connection, table, rows.cast(schema))
                added += rows.num_rows
            self._publish(connection, ())
        return added

    @contextmanager
    def _failures(self) -> Iterator[None]:
        try:
            yield
        except DatasetError:
            raise
        except Exception as error:
            raise DatasetError(f"query on {redact_url(self.url)} failed: {error}") from error

    @abstractmethod
    def _query(self, sql: str) -> pd.DataFrame: ...

    @abstractmethod
    def _arrow(self, sql: str) -> pa.Table: ...

    @abstractmethod
    def _read_batches(self, sql: str, batch_rows: int) -> Iterator[pa.RecordBatch]: ...

    @abstractmethod
    def _transaction(self) -> Any: ...

    @abstractmethod
    def _create_staging(self, connection: Any, staging: str) -> None: ...

    @abstractmethod
    def _append_staging(self, connection: Any, staging: str, rows: pa.Table) -> None: ...

    @abstractmethod
    def _publish(self, connection: Any, staged: Iterable[_StagedTable]) -> None: ...

    @abstractmethod
    def _exists(self, connection: Any, table: str) -> bool: ...

    @abstractmethod
    def _delete(self, connection: Any, table: str, column: str, values: Sequence[str]) -> None: ...


_memory: Any = None
_memory_lock = threading.Lock()


class DuckDBWarehouse(Warehouse):
    """A DuckDB file, or `:memory:`: one in-memory database that lives as long as the
    process, so that its tables stay between calls (each call opening its own would
    start empty)."""

    kind = "duckdb"
    TABLES_SQL = "SELECT table_name FROM information_schema.tables ORDER BY 1"

    def _query(self, sql: str) -> pd.DataFrame:
        with self._connect() as connection:
            result: pd.DataFrame = connection.execute(sql).df()
            return result

    def _arrow(self, sql: str) -> pa.Table:
        with self._connect() as connection:
            result: pa.Table = connection.sql(sql).to_arrow_table()
            return result

    def _read_batches(self, sql: str, batch_rows: int) -> Iterator[pa.RecordBatch]:
        with self._connect() as connection:
            yield from connection.sql(sql).to_arrow_reader(batch_rows)

    @contextmanager
    def _transaction(self) -> Iterator[Any]:
        with self._connect() as connection:
            connection.execute("BEGIN TRANSACTION")
            yield connection

    def _create_staging(self, connection: Any, staging: str) -> None:
        connection.execute(f'DROP TABLE IF EXISTS "{staging}"')

    def _append_staging(self, connection: Any, staging: str, rows: pa.Table) -> None:
        connection.register("scalepipe_rows", rows)
        connection.execute(
            f'CREATE TABLE IF NOT EXISTS "{staging}" AS SELECT * FROM scalepipe_rows LIMIT 0'
        )
        connection.execute(f'INSERT INTO "{staging}" BY NAME SELECT * FROM scalepipe_rows')
        connection.unregister("scalepipe_rows")

    def _exists(self, connection: Any, table: str) -> bool:
        found = connection.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_name = ?", [table]
        ).fetchall()
        return bool(found[0][0])

    def _delete(self, connection: Any, table: str, column: str, values: Sequence[str]) -> None:
        connection.execute(
            f'DELETE FROM "{table}" WHERE "{column}" = ANY(?)', [list(values)]
        ).fetchall()

    def _publish(self, connection: Any, staged: Iterable[_StagedTable]) -> None:
        for statement in _swap_statements(staged):
            connection.execute(statement)
        connection.execute("COMMIT")

    def _connect(self) -> Any:
        import duckdb

        path = self.url.removeprefix("duckdb://").removeprefix("duckdb:")
        if path not in (":memory:", ""):
            return duckdb.connect(path)
        global _memory
        with _memory_lock:
            if _memory is None:
                _memory = duckdb.connect(":memory:")
            return _memory.cursor()


class PostgresWarehouse(Warehouse):
    """PostgreSQL through the ADBC driver: Arrow in and out, COPY for writes."""

    kind = "postgresql"
    TABLES_SQL = (
        "SELECT table_name FROM information_schema.tables "
        "WHERE table_schema = current_schema() ORDER BY 1"
    )

    def _query(self, sql: str) -> pd.DataFrame:
        result: pd.DataFrame = self._arrow(sql).to_pandas()
        return result

    def _arrow(self, sql: str) -> pa.Table:
        with closing(self._connect()) as connection, closing(connection.cursor()) as cursor:
            cursor.execute(sql)
            result: pa.Table = cursor.fetch_arrow_table()
            return result

    def _read_batches(self, sql: str, batch_rows: int) -> Iterator[pa.RecordBatch]:
        with closing(self._connect()) as connection, closing(connection.cursor()) as cursor:
            cursor.execute(sql)
            yield from cursor.fetch_record_batch()

    @contextmanager
    def _transaction(self) -> Iterator[Any]:
        with closing(self._connect()) as connection:
            yield connection

    def _create_staging(self, connection: Any, staging: str) -> None:
        with closing(connection.cursor()) as cursor:
            cursor.execute(f'DROP TABLE IF EXISTS "{staging}"')

    def _append_staging(self, connection: Any, staging: str, rows: pa.Table) -> None:
        with closing(connection.cursor()) as cursor:
            cursor.adbc_ingest(staging, rows, mode="create_append")

    def _exists(self, connection: Any, table: str) -> bool:
        with closing(connection.cursor()) as cursor:
            cursor.execute(
                "SELECT count(*) FROM information_schema.tables "
                "WHERE table_schema = current_schema() AND table_name = $1",
                parameters=(table,),
            )
            found = cursor.fetchone()
            return bool(found and found[0])

    def _delete(self, connection: Any, table: str, column: str, values: Sequence[str]) -> None:
        with closing(connection.cursor()) as cursor:
            cursor.execute(
                f'DELETE FROM "{table}" WHERE "{column}" = ANY($1)', parameters=(list(values),)
            )

    def _publish(self, connection: Any, staged: Iterable[_StagedTable]) -> None:
        with closing(connection.cursor()) as cursor:
            for statement in _swap_statements(staged):
                cursor.execute(statement)
        connection.commit()

    def _connect(self) -> Any:
        try:
            import adbc_driver_postgresql.dbapi as postgres
        except ImportError as error:
            raise DatasetError(
                "PostgreSQL warehouses need the postgres extra: pip install 'scalepipe[postgres]'"
            ) from error
        try:
            return postgres.connect(self.url)
        except Exception as error:
            raise DatasetError(f"cannot connect to {redact_url(self.url)}: {error}") from error


def _swap_statements(staged: Iterable[_StagedTable]) -> list[str]:
    statements = []
    for entry in staged:
        statements += [
            f'DROP TABLE IF EXISTS "{entry.table}"',
            f'ALTER TABLE "{entry.staging}" RENAME TO "{entry.table}"',
        ]
    return statements


class _StagedTable:
    """A table being written under a staging name, with the schema of its first rows."""

    def __init__(self, table: str, first: Rows) -> None:
        self.table = check_identifier(table)
        self.staging = f"{table}__scalepipe_staging"
        self.schema = plain_schema(_to_arrow(first).schema)
        self.rows = 0

    def arrow(self, rows: Rows) -> pa.Table:
        table = _to_arrow(rows)
        self.rows += table.num_rows
        return table.cast(self.schema)


def _to_arrow(rows: Rows) -> pa.Table:
    if isinstance(rows, pa.Table):
        return rows
    if isinstance(rows, pa.RecordBatch):
        return pa.Table.from_batches([rows])
    return pa.Table.from_pandas(rows, preserve_index=False)
