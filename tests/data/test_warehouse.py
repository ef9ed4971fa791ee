"""The warehouse on DuckDB and on the machine's PostgreSQL: round trips and atomic writes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from scalepipe.data import DatasetError, spec
from scalepipe.io import Warehouse, load, load_tables, open_warehouse, write_dataset


@pytest.fixture(params=["duckdb", "postgresql"])
def warehouse(request: pytest.FixtureRequest, tmp_path: Path) -> Warehouse:
    if request.param == "duckdb":
        return open_warehouse(str(tmp_path / "warehouse.duckdb"))
    return open_warehouse(request.getfixturevalue("postgres_url"))


def test_a_table_round_trips(warehouse: Warehouse) -> None:
    games = load("games", rows=5_000)
    assert warehouse.write("games", [games.iloc[:2_000], games.iloc[2_000:]]) == 5_000
    back = warehouse.query("SELECT * FROM games")
    pd.testing.assert_frame_equal(back, games, check_dtype=False)
    assert "games" in warehouse.tables()


def test_nhl_tables_round_trip_with_categories_and_missing_team_ids(warehouse: Warehouse) -> None:
    tables = load_tables("nhl", rows=40)
    assert warehouse.write_tables([tables]) == {name: len(f) for name, f in tables.items()}
    plays = warehouse.query("SELECT * FROM game_plays ORDER BY game_id, play_id")
    stoppages = plays[plays["event"] == "Stoppage"]
    assert len(stoppages) > 0 and stoppages["team_id_for"].isna().all()
    counts = warehouse.query("SELECT event, count(*) AS n FROM game_plays GROUP BY event")
    expected = tables["game_plays"]["event"].value_counts()
    assert dict(zip(counts["event"], counts["n"], strict=True)) == expected.to_dict()


def test_a_failed_write_leaves_the_old_table_whole(warehouse: Warehouse) -> None:
    warehouse.write("games", [load("games", rows=300)])

    def broken() -> Iterator[pd.DataFrame]:
        yield load("games", rows=1_000, seed=1)
        raise RuntimeError("the source died half-way")

    with pytest.raises(RuntimeError, match="half-way"):
        warehouse.write("games", broken())
    assert int(warehouse.query("SELECT count(*) AS n FROM games")["n"].iloc[0]) == 300
    assert not [t for t in warehouse.tables() if "staging" in t]


def test_generated_data_streams_into_the_warehouse_block_by_block(warehouse: Warehouse) -> None:
    rows = spec("games").block_rows + 1_000
    seen: list[tuple[str, int, int]] = []
    written = write_dataset(
        "games", warehouse, rows=rows, seed=4, on_block=lambda *a: seen.append(a)
    )
    assert written == {"games": rows}
    assert seen == [("games", 1, 2), ("games", 2, 2)]
    stored = warehouse.query("SELECT sum(label) AS positives FROM games")
    assert int(stored["positives"].iloc[0]) == int(load("games", rows=rows, seed=4)["label"].sum())


def test_bad_table_names_and_urls_are_refused(tmp_path: Path) -> None:
    duck = open_warehouse(str(tmp_path / "w.duckdb"))
    with pytest.raises(DatasetError, match="letters, digits and _"):
        duck.write("games; drop table x", [load("games", rows=10)])
    with pytest.raises(DatasetError, match="unsupported warehouse URL 'mysql://h/db'"):
        open_warehouse("mysql://u:secret@h/db")


def test_a_failed_query_names_the_warehouse_without_its_password(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=r"query on .* failed") as caught:
        open_warehouse(str(tmp_path / "w.duckdb")).query("SELECT * FROM nowhere")
    assert "nowhere" in str(caught.value)
    unreachable = open_warehouse("postgresql://scalepipe:hunter2@127.0.0.1:1/test")
    assert "hunter2" not in repr(unreachable)
    with pytest.raises(DatasetError) as refused:
        unreachable.query("SELECT 1")
    assert "hunter2" not in str(refused.value)


def test_an_in_memory_warehouse_keeps_its_tables_for_the_process() -> None:
    games = load("games", rows=100)
    assert open_warehouse(":memory:").write("memory_games", [games]) == 100
    back = open_warehouse("duckdb::memory:").query("SELECT * FROM memory_games")
    pd.testing.assert_frame_equal(back, games, check_dtype=False)
    assert "memory_games" in open_warehouse(":memory:").tables()
