"""Sources: rows to read, as Arrow record batches, wherever they are.

A string names one:

    data.parquet | data.csv | folder/        files on this machine (a folder: every
    s3://bucket/path | gs://bucket/path       .parquet, or every .csv, file in it)
    https://host/file.csv                     downloaded once into the cache folder
    sql:SELECT ...                            a query on the warehouse (DuckDB, PostgreSQL)
    table:NAME                                a warehouse table
    dataset:games?rows=10000&seed=0&table=…   a generated dataset, block by block
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from scalepipe.config import Settings
from scalepipe.data.catalog import DatasetError, spec
from scalepipe.data.warehouse import Warehouse, redacted
from scalepipe.types import Source

_FORMATS = {".parquet": "parquet", ".pq": "parquet", ".csv": "csv"}


def open_source(text: str, *, settings: Settings | None = None) -> Source:
    """The Source a string names (see the module's docstring)."""
    settings = settings or Settings.load()
    if text.startswith("sql:"):
        return QuerySource(text.removeprefix("sql:").strip(), settings.warehouse)
    if text.startswith("table:"):
        table = text.removeprefix("table:").strip()
        return QuerySource(f'SELECT * FROM "{_identifier(table)}"', settings.warehouse)
    if text.startswith("dataset:"):
        return DatasetSource.parse(text)
    if text.startswith(("http://", "https://")):
        return UrlSource(text, Path(settings.cache_dir))
    return FileSource(text)


class FileSource:
    """Parquet or CSV files: one file, or a folder of them, on any fsspec URL."""

    def __init__(self, url: str) -> None:
        self.url = url

    def describe(self) -> dict[str, Any]:
        return {"kind": "files", "url": redacted(self.url)}

    def schema(self) -> Any:
        return self._dataset().schema

    def read_batches(self, columns: Sequence[str] | None = None) -> Iterator[Any]:
        dataset = self._dataset()
        _check_columns(dataset.schema, columns, self.url)
        yield from dataset.to_batches(columns=list(columns) if columns is not None else None)

    def _dataset(self) -> Any:
        import fsspec
        import pyarrow.dataset as ds

        filesystem, path = fsspec.core.url_to_fs(self.url)
        try:
            if filesystem.isdir(path):
                # As pyarrow's discovery: a file or folder named _... or .... is not data
                # (a sink's staging folder, _SUCCESS, .crc files).
                names = [str(name)[len(str(path)) :] for name in filesystem.find(path)]
                kinds = {
                    _FORMATS[suffix]
                    for name in names
                    if not any(part.startswith(("_", ".")) for part in Path(name.lstrip("/")).parts)
                    and (suffix := Path(name).suffix.lower()) in _FORMATS
                }
                if len(kinds) != 1:
                    raise DatasetError(
                        f"{redacted(self.url)} must hold .parquet files or .csv files "
                        f"(found {', '.join(sorted(kinds)) or 'neither'})"
                    )
                return ds.dataset(path, format=kinds.pop(), filesystem=filesystem)
            if not filesystem.isfile(path):
                raise DatasetError(f"no such file or folder: {redacted(self.url)}")
        except OSError as error:
            raise DatasetError(f"cannot read {redacted(self.url)}: {error}") from error
        kind = _FORMATS.get(Path(path).suffix.lower())
        if kind is None:
            raise DatasetError(f"cannot read {redacted(self.url)}: use .parquet or .csv files")
        return ds.dataset(path, format=kind, filesystem=filesystem)


class UrlSource:
    """A file on the web, fetched once into the cache folder, then read there."""

    def __init__(self, url: str, cache_dir: Path) -> None:
        self.url = url
        self.cache_dir = cache_dir

    def describe(self) -> dict[str, Any]:
        return {"kind": "url", "url": redacted(self.url)}

    def schema(self) -> Any:
        return self._local().schema()

    def read_batches(self, columns: Sequence[str] | None = None) -> Iterator[Any]:
        yield from self._local().read_batches(columns)

    def _local(self) -> FileSource:
        from scalepipe.data.sources import download

        return FileSource(str(download(self.url, self.cache_dir)))


class QuerySource:
    """The rows of a SQL query on a warehouse, streamed in batches."""

    def __init__(self, sql: str, warehouse: str) -> None:
        if not sql:
            raise DatasetError("the SQL query is empty")
        self.sql = sql
        self.warehouse = Warehouse(warehouse)

    def describe(self) -> dict[str, Any]:
        return {"kind": "query", "sql": self.sql, "warehouse": repr(self.warehouse)}

    def schema(self) -> Any:
        return self.warehouse.query_schema(self.sql)

    def read_batches(self, columns: Sequence[str] | None = None) -> Iterator[Any]:
        first = True
        for batch in self.warehouse.read_batches(self.sql):
            if first:
                _check_columns(batch.schema, columns, self.sql)
                first = False
            yield batch if columns is None else batch.select(list(columns))


class DatasetSource:
    """A named dataset's generator, block by block: any size in bounded memory."""

    def __init__(
        self, name: str, *, table: str | None = None, rows: int | None = None, seed: int = 0
    ) -> None:
        self.dataset = spec(name)
        self.table = table or self.dataset.main_table
        if self.table not in self.dataset.tables:
            raise DatasetError(
                f"dataset {name!r} has tables {', '.join(self.dataset.tables)}, not {self.table!r}"
            )
        if rows is not None and rows < 0:
            raise DatasetError(f"rows must be 0 or more, got {rows}")
        self.rows = rows
        self.seed = seed

    @classmethod
    def parse(cls, text: str) -> DatasetSource:
        """`dataset:NAME?rows=N&seed=S&table=T`."""
        name, _, query = text.removeprefix("dataset:").partition("?")
        options = dict(parse_qsl(query, keep_blank_values=True))
        unknown = sorted(set(options) - {"rows", "seed", "table"})
        if unknown:
            raise DatasetError(f"unknown option(s) {', '.join(unknown)} in {text!r}")
        try:
            rows = int(options["rows"]) if "rows" in options else None
            seed = int(options.get("seed", 0))
        except ValueError:
            raise DatasetError(f"rows and seed must be whole numbers in {text!r}") from None
        return cls(name, table=options.get("table"), rows=rows, seed=seed)

    def describe(self) -> dict[str, Any]:
        return {"kind": "dataset", "name": self.dataset.name, "table": self.table,
                "rows": self.rows, "seed": self.seed}  # fmt: skip

    def schema(self) -> Any:
        import pyarrow as pa

        sample = self.dataset.generate(1, self.seed)[self.table]
        return pa.Schema.from_pandas(sample, preserve_index=False)

    def read_batches(self, columns: Sequence[str] | None = None) -> Iterator[Any]:
        import pyarrow as pa

        schema = self.schema()
        _check_columns(schema, columns, f"dataset {self.dataset.name}")
        for block in self.dataset.generate_blocks(self.rows, self.seed):
            frame = block[self.table]
            if columns is not None:
                frame = frame[list(columns)]
            yield pa.RecordBatch.from_pandas(frame, preserve_index=False)


def _check_columns(schema: Any, columns: Sequence[str] | None, where: str) -> None:
    if columns is None:
        return
    missing = [column for column in columns if column not in schema.names]
    if missing:
        raise DatasetError(
            f"{redacted(where)} lacks column(s) {', '.join(missing)}; "
            f"it has {', '.join(schema.names[:20])}"
        )


def _identifier(name: str) -> str:
    import re

    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
        raise DatasetError(f"table name {name!r} must be letters, digits and _")
    return name
