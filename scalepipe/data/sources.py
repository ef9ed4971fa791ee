"""Where a named dataset comes from: the generator, a file, a URL or a warehouse query.

A source is a string, accepted wherever a dataset is named:

    generated                     the deterministic generator (the default)
    path/to/file.csv | .parquet   a local file (a folder of <table>.csv for nhl)
    https://host/file.csv         downloaded once into the cache folder, then read there
    sql:SELECT ...                a query against the warehouse
    warehouse                     the dataset's own tables in the warehouse (see `data load`)
    bigquery | kaggle             the book's originals of natality | nhl (network, credentials)
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from scalepipe.config import Settings
from scalepipe.data.catalog import DatasetError, DatasetSpec, Tables, spec
from scalepipe.data.warehouse import Warehouse

GENERATED = "generated"
WAREHOUSE = "warehouse"
CLOUD_SOURCES = {"bigquery": "natality", "kaggle": "nhl"}
SQL_PREFIX = "sql:"
_READERS: dict[str, Callable[[Path], pd.DataFrame]] = {
    ".csv": pd.read_csv,
    ".gz": pd.read_csv,
    ".parquet": pd.read_parquet,
    ".pq": pd.read_parquet,
}


def load_tables(
    name: str,
    *,
    source: str | None = None,
    rows: int | None = None,
    seed: int = 0,
    warehouse: str | None = None,
    settings: Settings | None = None,
) -> Tables:
    """Every table of dataset `name`, read from `source` and checked against its schema."""
    dataset = spec(name)
    settings = settings or Settings.load()
    source = source or GENERATED
    if rows is not None and rows < 0:
        raise DatasetError(f"rows must be 0 or more, got {rows}")
    if source == GENERATED:
        return dataset.generate(rows, seed)
    if source == WAREHOUSE:
        store = Warehouse(warehouse or settings.warehouse)
        tables = {table: store.query(f'SELECT * FROM "{table}"') for table in dataset.tables}
    elif source in CLOUD_SOURCES:
        tables = _read_cloud(dataset, source, rows, Path(settings.cache_dir))
    elif source.startswith(SQL_PREFIX):
        _need_single_table(dataset, "a SQL query")
        query = source.removeprefix(SQL_PREFIX).strip()
        tables = {dataset.main_table: Warehouse(warehouse or settings.warehouse).query(query)}
    elif source.startswith(("http://", "https://")):
        _need_single_table(dataset, "a URL")
        tables = {dataset.main_table: read_file(download(source, Path(settings.cache_dir)))}
    else:
        tables = _read_path(dataset, Path(source))
    for table, frame in tables.items():
        check_columns(dataset, table, frame)
    if rows is not None:
        tables = {table: frame.head(rows) for table, frame in tables.items()}
    return tables


def load(name: str, *, table: str | None = None, **options: object) -> pd.DataFrame:
    """One table of dataset `name` (its main table by default); options as load_tables."""
    dataset = spec(name)
    wanted = table or dataset.main_table
    if wanted not in dataset.tables:
        raise DatasetError(
            f"dataset {name!r} has tables {', '.join(dataset.tables)}, not {wanted!r}"
        )
    return load_tables(name, **options)[wanted]  # type: ignore[arg-type]


def check_columns(dataset: DatasetSpec, table: str, frame: pd.DataFrame) -> None:
    needed = dataset.required_columns(table)
    missing = [column for column in needed if column not in frame.columns]
    if missing:
        raise DatasetError(
            f"{dataset.name} table {table!r} lacks column(s) {', '.join(missing)}; "
            f"it has {', '.join(map(str, frame.columns[:20]))}"
        )


def read_file(path: Path) -> pd.DataFrame:
    reader = _READERS.get(path.suffix.lower())
    if reader is None:
        raise DatasetError(f"cannot read {path}: use a .csv, .csv.gz or .parquet file")
    if not path.is_file():
        raise DatasetError(f"no such file: {path}")
    try:
        return reader(path)
    except Exception as error:
        raise DatasetError(f"cannot read {path}: {error}") from error


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
            f"could not download {url} ({reason}). Without network, fetch the file on a "
            f"machine that has it and pass the local copy: --source path/to/{name}"
        ) from error
    Path(partial).replace(target)
    return target


def _read_cloud(dataset: DatasetSpec, source: str, rows: int | None, cache_dir: Path) -> Tables:
    from scalepipe.data import cloud

    if CLOUD_SOURCES[source] != dataset.name:
        raise DatasetError(
            f"{source} holds the book's {CLOUD_SOURCES[source]} data, not {dataset.name}"
        )
    if source == "bigquery":
        return {dataset.main_table: cloud.natality_from_bigquery(rows or dataset.default_rows)}
    return _read_path(dataset, cloud.nhl_from_kaggle(cache_dir / "kaggle" / dataset.name))


def _read_path(dataset: DatasetSpec, path: Path) -> Tables:
    if path.is_dir():
        tables = {}
        for table in dataset.tables:
            candidates = [path / f"{table}{suffix}" for suffix in (".csv", ".parquet", ".csv.gz")]
            found = next((candidate for candidate in candidates if candidate.is_file()), None)
            if found is None:
                raise DatasetError(
                    f"{path} holds no {table}.csv or {table}.parquet for {dataset.name}"
                )
            tables[table] = read_file(found)
        return tables
    _need_single_table(dataset, "a single file", hint=f"pass a folder holding {_files(dataset)}")
    return {dataset.main_table: read_file(path)}


def _need_single_table(dataset: DatasetSpec, what: str, hint: str | None = None) -> None:
    if len(dataset.tables) > 1:
        raise DatasetError(
            f"{dataset.name} has {len(dataset.tables)} tables ({', '.join(dataset.tables)}); "
            f"{what} holds one: "
            f"{hint or f'use a folder holding {_files(dataset)}, or source=warehouse'}"
        )


def _files(dataset: DatasetSpec) -> str:
    return " and ".join(f"{table}.csv" for table in dataset.tables)
