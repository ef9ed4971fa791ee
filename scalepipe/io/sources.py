"""Sources: rows to read, as Arrow record batches, wherever they are (named by strings:
see scalepipe/io/uris.py)."""

from __future__ import annotations

import hashlib
import os
import tempfile
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from scalepipe.config import redact_url
from scalepipe.data.catalog import DatasetError, spec
from scalepipe.io.warehouse import open_warehouse

_FORMATS = {".parquet": "parquet", ".pq": "parquet", ".csv": "csv", ".csv.gz": "csv"}


def file_format(name: str) -> str | None:
    """parquet or csv, from the file's name; None for a file that is neither."""
    lowered = name.lower()
    return next((kind for suffix, kind in _FORMATS.items() if lowered.endswith(suffix)), None)


class FileSource:
    """Parquet or CSV files: one file, or a folder of them, on any fsspec URL."""

    def __init__(self, url: str) -> None:
        self.url = url

    def describe(self) -> dict[str, Any]:
        return {"kind": "files", "url": redact_url(self.url)}

    def schema(self) -> Any:
        return self._dataset().schema

    def count_rows(self) -> int | None:
        """The row count of Parquet files (from their footers); None for CSV (a full read)."""
        dataset = self._dataset()
        if getattr(dataset.format, "default_extname", "") != "parquet":
            return None
        return int(dataset.count_rows())

    def read_batches(self, columns: Sequence[str] | None = None) -> Iterator[Any]:
        dataset = self._dataset()
        check_columns(dataset.schema, columns, redact_url(self.url))
        # Parquet decodes fast on the calling thread, leaving the other cores to the
        # consumer (scoring, writing); CSV parsing is the slow part and gets every core.
        # Reading ahead of the consumer only grows memory: one batch at a time.
        parquet = getattr(dataset.format, "default_extname", "") == "parquet"
        options = {"use_threads": not parquet, "batch_readahead": 1, "fragment_readahead": 1}
        if parquet:
            import pyarrow.dataset as ds

            options["fragment_scan_options"] = ds.ParquetFragmentScanOptions(pre_buffer=False)
        yield from dataset.to_batches(
            columns=list(columns) if columns is not None else None, **options
        )

    def _dataset(self) -> Any:
        import fsspec
        import pyarrow.dataset as ds

        filesystem, path = fsspec.core.url_to_fs(self.url)
        try:
            if filesystem.isdir(path):
                files = self._data_files(filesystem, str(path))
                kinds = {kind for _, kind in files}
                if len(kinds) != 1:
                    raise DatasetError(
                        f"{redact_url(self.url)} must hold .parquet files or .csv files "
                        f"(found {', '.join(sorted(kinds)) or 'neither'})"
                    )
                names = sorted(name for name, _ in files)
                return ds.dataset(names, format=kinds.pop(), filesystem=filesystem)
            kind = file_format(path)
            if kind is None and not Path(path).suffix and not filesystem.exists(path):
                raise DatasetError(f"no such file or folder: {redact_url(self.url)}")
            if kind is None:
                raise DatasetError(
                    f"cannot read {redact_url(self.url)}: use a .csv, .csv.gz or .parquet file "
                    "or a folder of them"
                )
            if not filesystem.isfile(path):
                raise DatasetError(f"no such file: {redact_url(self.url)}")
            return ds.dataset(path, format=kind, filesystem=filesystem)
        except OSError as error:
            raise DatasetError(f"cannot read {redact_url(self.url)}: {error}") from error

    @staticmethod
    def _data_files(filesystem: Any, folder: str) -> list[tuple[str, str]]:
        """The folder's data files with their format. As in pyarrow's discovery, a file or
        folder named _... or .... is not data (a sink's staging folder, _SUCCESS, .crc)."""
        files = []
        for name in filesystem.find(folder):
            relative = Path(str(name)[len(folder) :].lstrip("/"))
            kind = file_format(str(relative))
            if kind and not any(part.startswith(("_", ".")) for part in relative.parts):
                files.append((str(name), kind))
        return files


class UrlSource:
    """A file on the web, fetched once into the cache folder, then read there."""

    def __init__(self, url: str, cache_dir: Path) -> None:
        self.url = url
        self.cache_dir = cache_dir

    def describe(self) -> dict[str, Any]:
        return {"kind": "url", "url": redact_url(self.url)}

    def schema(self) -> Any:
        return self._local().schema()

    def read_batches(self, columns: Sequence[str] | None = None) -> Iterator[Any]:
        yield from self._local().read_batches(columns)

    def _local(self) -> FileSource:
        return FileSource(str(download(self.url, self.cache_dir)))


def download(url: str, cache_dir: Path, timeout: float = 30.0) -> Path:
    """Fetch `url` once into the cache folder; later calls read the cached copy."""
    name = Path(urllib.request.url2pathname(url.split("?")[0])).name or "download"
    target = cache_dir / "downloads" / f"{hashlib.sha256(url.encode()).hexdigest()[:16]}-{name}"
    if target.is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            handle, partial = tempfile.mkstemp(dir=target.parent, suffix=".part")
            with os.fdopen(handle, "wb") as out:
                while chunk := response.read(1 << 20):
                    out.write(chunk)
    except (urllib.error.URLError, OSError, TimeoutError) as error:
        reason = getattr(error, "reason", error)
        raise DatasetError(
            f"could not download {redact_url(url)} ({reason}). Without network, fetch the "
            f"file on a machine that has it and pass the local copy in the URL's place: "
            f"path/to/{name}"
        ) from error
    Path(partial).replace(target)
    return target


class QuerySource:
    """The rows of a SQL query on a warehouse, streamed in batches."""

    def __init__(self, sql: str, warehouse: str) -> None:
        if not sql:
            raise DatasetError("the SQL query is empty")
        self.sql = sql
        self.warehouse = open_warehouse(warehouse)

    def describe(self) -> dict[str, Any]:
        return {"kind": "query", "sql": self.sql, "warehouse": repr(self.warehouse)}

    def schema(self) -> Any:
        return self.warehouse.query_schema(self.sql)

    def read_batches(self, columns: Sequence[str] | None = None) -> Iterator[Any]:
        yield from selected_columns(self.warehouse.read_batches(self.sql), columns, self.sql)


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

    def count_rows(self) -> int | None:
        if self.table != self.dataset.main_table:
            return None  # nhl's rows are games; its plays table has many per game
        return self.dataset.default_rows if self.rows is None else self.rows

    def schema(self) -> Any:
        import pyarrow as pa

        sample = self.dataset.generate(1, self.seed)[self.table]
        return pa.Schema.from_pandas(sample, preserve_index=False)

    def read_batches(self, columns: Sequence[str] | None = None) -> Iterator[Any]:
        import pyarrow as pa

        schema = self.schema()
        check_columns(schema, columns, f"dataset {self.dataset.name}")
        for block in self.dataset.generate_blocks(self.rows, self.seed):
            frame = block[self.table]
            if columns is not None:
                frame = frame[list(columns)]
            yield pa.RecordBatch.from_pandas(frame, preserve_index=False)


def selected_columns(
    batches: Iterator[Any], columns: Sequence[str] | None, where: str
) -> Iterator[Any]:
    """The wanted columns of streamed batches (a query's), checked on the first batch."""
    first = True
    for batch in batches:
        if first:
            check_columns(batch.schema, columns, where)
            first = False
        yield batch if columns is None else batch.select(list(columns))


def check_columns(schema: Any, columns: Sequence[str] | None, where: str) -> None:
    """Refuse, naming them, the wanted columns that `where` (already redacted) lacks."""
    if columns is None:
        return
    missing = [column for column in columns if column not in schema.names]
    if missing:
        raise DatasetError(
            f"{where} lacks column(s) {', '.join(missing)}; it has {', '.join(schema.names[:20])}"
        )
