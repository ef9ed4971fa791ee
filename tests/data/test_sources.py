"""Dataset sources: files, folders, URLs (cached), warehouse SQL, and their errors."""

from __future__ import annotations

import http.server
import socket
import threading
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import ClassVar

import pandas as pd
import pytest

from scalepipe.data import DatasetError
from scalepipe.io import load, load_tables, open_warehouse


def test_the_real_games_file_loads_with_its_documented_shape(shared_data: Path) -> None:
    games = load("games", source=str(shared_data / "games-expand.csv"))
    assert games.shape == (22_905, 11)
    assert games["label"].sum() == 3_036


def test_the_real_housing_file_loads_with_chas_as_integers(shared_data: Path) -> None:
    housing = load("housing", source=str(shared_data / "BostonHousing.csv"))
    assert housing.shape == (506, 14)
    assert pd.api.types.is_integer_dtype(housing["chas"])


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_a_local_file_round_trips(tmp_path: Path, suffix: str) -> None:
    generated = load("natality", rows=200)
    path = tmp_path / f"natality{suffix}"
    if suffix == ".csv":
        generated.to_csv(path, index=False)
    else:
        generated.to_parquet(path)
    loaded = load("natality", source=str(path))
    pd.testing.assert_frame_equal(loaded, generated, check_dtype=False)


def test_rows_limits_a_file_source(tmp_path: Path) -> None:
    path = tmp_path / "games.csv"
    load("games", rows=100).to_csv(path, index=False)
    assert len(load("games", source=str(path), rows=10)) == 10


def test_a_folder_holds_the_nhl_tables(tmp_path: Path) -> None:
    tables = load_tables("nhl", rows=20)
    for name, frame in tables.items():
        frame.to_csv(tmp_path / f"{name}.csv", index=False)
    loaded = load_tables("nhl", source=str(tmp_path))
    assert {name: len(frame) for name, frame in loaded.items()} == {
        name: len(frame) for name, frame in tables.items()
    }
    assert load("nhl", table="game_plays", source=str(tmp_path))["event"].notna().all()


def test_a_single_file_for_nhl_says_to_pass_a_folder(tmp_path: Path) -> None:
    path = tmp_path / "game.csv"
    load("nhl", rows=5).to_csv(path, index=False)
    with pytest.raises(DatasetError, match=r"folder holding game\.csv and game_plays\.csv"):
        load_tables("nhl", source=str(path))


def test_a_file_without_the_model_columns_is_refused_by_name(tmp_path: Path) -> None:
    path = tmp_path / "games.csv"
    load("games", rows=20).drop(columns=["G3", "label"]).to_csv(path, index=False)
    with pytest.raises(DatasetError, match=r"lacks column.*G3, label"):
        load("games", source=str(path))


def test_unknown_names_and_paths_have_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(
        DatasetError, match="unknown dataset 'gamez'; choose one of: games, housing"
    ):
        load("gamez")
    with pytest.raises(DatasetError, match="no such file"):
        load("games", source=str(tmp_path / "missing.csv"))
    with pytest.raises(DatasetError, match=r"use a \.csv, \.csv\.gz or \.parquet file"):
        load("games", source=str(tmp_path / "games.xlsx"))
    with pytest.raises(DatasetError, match="has tables game, game_plays, not 'plays'"):
        load("nhl", table="plays")


class _CountingHandler(http.server.SimpleHTTPRequestHandler):
    requests: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        _CountingHandler.requests.append(self.path)
        super().do_GET()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def file_server(tmp_path: Path) -> Iterator[tuple[str, http.server.HTTPServer]]:
    served = tmp_path / "served"
    served.mkdir()
    load("games", rows=500, seed=5).to_csv(served / "games-expand.csv", index=False)
    _CountingHandler.requests = []
    server = http.server.HTTPServer(
        ("127.0.0.1", 0), partial(_CountingHandler, directory=str(served))
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/games-expand.csv", server
    server.shutdown()
    server.server_close()


def test_a_url_is_downloaded_once_then_read_from_the_cache(
    file_server: tuple[str, http.server.HTTPServer],
) -> None:
    url, server = file_server
    first = load("games", source=url)
    assert len(first) == 500
    server.shutdown()
    server.server_close()
    again = load("games", source=url)
    pd.testing.assert_frame_equal(first, again)
    assert _CountingHandler.requests == ["/games-expand.csv"]


def test_an_unreachable_url_says_how_to_pass_a_local_file() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = int(probe.getsockname()[1])
    url = f"http://127.0.0.1:{closed_port}/games-expand.csv"
    with pytest.raises(
        DatasetError,
        match=r"could not download .* local copy in the URL's place: path/to/games-expand",
    ):
        load("games", source=url)


def test_a_sql_source_queries_the_warehouse(tmp_path: Path) -> None:
    warehouse = str(tmp_path / "w.duckdb")
    open_warehouse(warehouse).write("games", [load("games")])
    owners = load("games", source="sql:SELECT * FROM games WHERE G1 = 1", warehouse=warehouse)
    assert len(owners) == int(load("games")["G1"].sum())
    assert (owners["G1"] == 1).all()


def test_the_warehouse_source_reads_every_table_of_the_dataset(tmp_path: Path) -> None:
    warehouse = open_warehouse(str(tmp_path / "w.duckdb"))
    tables = load_tables("nhl", rows=30)
    warehouse.write_tables([tables])
    loaded = load_tables("nhl", source="warehouse", warehouse=warehouse.url)
    assert len(loaded["game_plays"]) == len(tables["game_plays"])
    assert list(loaded["game"]["game_id"]) == list(tables["game"]["game_id"])


def test_the_cloud_sources_say_what_they_need_when_it_is_missing() -> None:
    # Neither BigQuery nor Kaggle can be reached here: the user is told which extra to
    # install or, with it installed, that network and credentials are needed.
    with pytest.raises(DatasetError, match=r"scalepipe\[bigquery\]|credentials"):
        load("natality", source="bigquery")
    with pytest.raises(DatasetError, match=r"scalepipe\[kaggle\]|API token"):
        load_tables("nhl", source="kaggle")
    with pytest.raises(DatasetError, match="bigquery holds the book's natality data, not games"):
        load("games", source="bigquery")


def test_sql_on_a_multi_table_dataset_is_refused() -> None:
    with pytest.raises(DatasetError, match="nhl has 2 tables"):
        load_tables("nhl", source="sql:SELECT 1")


def test_a_missing_folder_is_named_as_such(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=r"no such file or folder: .*new-users"):
        load("games", source=str(tmp_path / "new-users"))
