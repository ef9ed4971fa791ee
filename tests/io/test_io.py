"""Sources and sinks on real files, the local S3 server, DuckDB and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import fsspec
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from scalepipe.config import Settings
from scalepipe.data import DatasetError, spec
from scalepipe.io import (
    DatasetSource,
    DuckDBWarehouse,
    FileSource,
    ParquetFolderSink,
    PostgresWarehouse,
    QuerySource,
    WarehouseTableSink,
    load,
    load_tables,
    open_sink,
    open_source,
    open_warehouse,
    write_dataset,
)

COLUMNS = ["G1", "G2", "label"]


def rows_of(source: object, columns: list[str] | None = None) -> pa.Table:
    return pa.Table.from_batches(list(source.read_batches(columns)))  # type: ignore[attr-defined]


@pytest.fixture
def games() -> pa.Table:
    return pa.Table.from_pandas(load("games", rows=3_000), preserve_index=False)


def test_files_one_a_folder_csv_and_on_s3(games: pa.Table, tmp_path: Path, s3_store: str) -> None:
    pq.write_table(games, tmp_path / "games.parquet")
    folder = tmp_path / "parts"
    folder.mkdir()
    pq.write_table(games.slice(0, 1_000), folder / "a.parquet")
    pq.write_table(games.slice(1_000), folder / "b.parquet")
    (folder / "_ignored.csv").write_text("not,read\n")
    games.to_pandas().to_csv(tmp_path / "games.csv", index=False)
    bucket = s3_store.rsplit("/", 1)[0] + "/sources/games.parquet"
    with fsspec.open(bucket, "wb") as remote:
        pq.write_table(games, remote)
    for url in (tmp_path / "games.parquet", folder, tmp_path / "games.csv", bucket):
        read = rows_of(open_source(str(url)), COLUMNS)
        assert read.num_rows == 3_000, url
        assert sorted(read.column("G1").to_pylist()) == sorted(games.column("G1").to_pylist())
    with pytest.raises(DatasetError, match="lacks column"):
        rows_of(FileSource(str(tmp_path / "games.parquet")), ["G1", "nope"])
    with pytest.raises(DatasetError, match="no such file"):
        rows_of(FileSource(str(tmp_path / "missing.parquet")))


@pytest.mark.parametrize("where", ["duckdb", ":memory:", "postgresql"])
def test_queries_stream_from_the_warehouse(
    where: str, games: pa.Table, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url = {"duckdb": str(tmp_path / "w.duckdb"), ":memory:": ":memory:"}.get(where)
    url = url or request.getfixturevalue("postgres_url")
    open_warehouse(url).write("io_games", [games.to_pandas()])
    source = QuerySource('SELECT "G1", label FROM io_games WHERE "G1" = 1', url)
    assert source.schema().names == ["G1", "label"]
    read = rows_of(source)
    assert read.num_rows == sum(games.column("G1").to_pylist())
    settings = Settings(warehouse=url)
    assert rows_of(open_source("table:io_games", settings=settings)).num_rows == 3_000


def test_generated_datasets_block_by_block() -> None:
    source = open_source("dataset:games?rows=600000&seed=3")  # blocks of 262,144 rows
    assert isinstance(source, DatasetSource)
    batches = list(source.read_batches(["G1", "label"]))
    assert len(batches) == 3 and sum(b.num_rows for b in batches) == 600_000
    plays = DatasetSource.parse("dataset:nhl?rows=5&table=game_plays")
    assert set(spec("nhl").columns["game_plays"]) <= set(plays.schema().names)
    assert rows_of(plays).num_rows > 5  # five games, many plays each
    for bad in ("dataset:games?rows=x", "dataset:games?colour=red", "dataset:trees"):
        with pytest.raises(DatasetError):
            DatasetSource.parse(bad)


def test_a_parquet_folder_shows_a_run_only_once_committed(games: pa.Table, tmp_path: Path) -> None:
    folder = tmp_path / "predictions"
    sink = open_sink(str(folder))
    assert isinstance(sink, ParquetFolderSink)
    writer = sink.writer(games.schema, "2026-11-28")
    for batch in games.to_batches(max_chunksize=1_000):
        writer.write(batch)
    with pytest.raises(DatasetError):  # nothing visible yet: only the staging folder
        rows_of(FileSource(str(folder)))
    writer.commit()
    assert rows_of(FileSource(str(folder))).num_rows == 3_000
    again = sink.writer(games.schema, "2026-11-28")  # the same run, rerun: replaced
    again.write(games.to_batches()[0])
    again.commit()
    assert rows_of(FileSource(str(folder))).num_rows == games.to_batches()[0].num_rows
    aborted = sink.writer(games.schema, "other")
    aborted.write(games.to_batches()[0])
    aborted.abort()
    assert sorted(p.name for p in folder.iterdir()) == ["run=2026-11-28"]
    with pytest.raises(DatasetError, match="run id"):
        sink.writer(games.schema, "../escape")


def test_a_warehouse_table_is_replaced_by_each_run(games: pa.Table, tmp_path: Path) -> None:
    url = str(tmp_path / "w.duckdb")
    sink = WarehouseTableSink(url, "scored")
    for _ in range(2):  # the same run twice: the table holds it once
        writer = sink.writer(games.schema, "run-1")
        for batch in games.to_batches(max_chunksize=700):
            writer.write(batch)
        writer.commit()
    assert len(open_warehouse(url).query("SELECT * FROM scored")) == 3_000
    empty = sink.writer(games.schema, "run-2")
    with pytest.raises(DatasetError, match="no rows"):
        empty.commit()
    assert len(open_warehouse(url).query("SELECT * FROM scored")) == 3_000


def test_data_load_streams_any_source_into_the_warehouse(
    games: pa.Table, tmp_path: Path, s3_store: str
) -> None:
    parts = s3_store.rsplit("/", 1)[0] + "/load/games"
    for index, start in enumerate(range(0, 3_000, 1_000)):
        with fsspec.open(f"{parts}/part-{index}.parquet", "wb") as remote:
            pq.write_table(games.slice(start, 1_000), remote)
    with fsspec.open(f"{parts}/README.md", "w") as remote:
        remote.write("not data: a folder's other files are not read")
    warehouse = open_warehouse(str(tmp_path / "w.duckdb"))
    assert write_dataset("games", warehouse, source=parts, rows=2_500) == {"games": 2_500}
    loaded = warehouse.query("SELECT * FROM games")
    # The parts in name order, cut at 2,500 rows: exactly the first 2,500 rows.
    assert loaded.to_dict("list") == games.slice(0, 2_500).to_pandas().to_dict("list")

    nhl = load_tables("nhl", rows=30)
    folder = tmp_path / "nhl"
    folder.mkdir()
    nhl["game"].to_parquet(folder / "game.parquet", index=False)
    nhl["game_plays"].to_csv(folder / "game_plays.csv", index=False)
    written = write_dataset("nhl", warehouse, source=str(folder))
    assert written == {"game": 30, "game_plays": len(nhl["game_plays"])}
    assert warehouse.query("SELECT count(DISTINCT game_id) AS n FROM game_plays")["n"][0] == 30


def test_a_source_without_the_dataset_columns_writes_nothing(tmp_path: Path) -> None:
    warehouse = open_warehouse(str(tmp_path / "w.duckdb"))
    warehouse.write("games", [load("games", rows=10)])
    pq.write_table(pa.table({"G1": [1, 0]}), tmp_path / "partial.parquet")
    with pytest.raises(DatasetError, match=r"games table 'games' .*partial.parquet.* lacks"):
        write_dataset("games", warehouse, source=str(tmp_path / "partial.parquet"))
    assert len(warehouse.query("SELECT * FROM games")) == 10


def test_each_warehouse_url_opens_its_backend_class(tmp_path: Path) -> None:
    assert isinstance(open_warehouse(str(tmp_path / "w.duckdb")), DuckDBWarehouse)
    assert isinstance(open_warehouse("duckdb::memory:"), DuckDBWarehouse)
    assert isinstance(open_warehouse("postgresql://u:pw@127.0.0.1/test"), PostgresWarehouse)
    assert repr(open_warehouse("postgresql://u:pw@127.0.0.1/test")) == (
        "PostgresWarehouse('postgresql://127.0.0.1/test')"
    )


def test_cloud_source_strings_are_checked_before_any_network(tmp_path: Path) -> None:
    settings = Settings(cache_dir=str(tmp_path))
    for bad in ("kaggle:owner/dataset", "kaggle:owner/../x/f.csv", "kaggle:/a//b"):
        with pytest.raises(DatasetError, match=r"kaggle:OWNER/DATASET/FILE\.csv"):
            open_source(bad, settings=settings)
    with pytest.raises(DatasetError, match="query is empty"):
        open_source("bigquery:  ", settings=settings)
