"""scalepipe.sql: SQL over DataFrames, as the book did with framequery."""

from __future__ import annotations

import pandas as pd
import pytest

import scalepipe
from scalepipe.data import DatasetError
from scalepipe.io import load_tables


def test_sql_joins_dataframes_by_keyword_name() -> None:
    tables = load_tables("nhl", rows=50)
    joined = scalepipe.sql(
        "SELECT g.game_id, g.type, count(*) AS plays FROM game g "
        "JOIN plays p ON p.game_id = g.game_id GROUP BY 1, 2 ORDER BY 1",
        game=tables["game"],
        plays=tables["game_plays"],
    )
    expected = tables["game_plays"].groupby("game_id").size()
    assert list(joined["plays"]) == list(expected.sort_index())
    assert set(joined["type"]) <= {"R", "P"}


def test_sql_errors_name_the_tables_given() -> None:
    with pytest.raises(DatasetError, match=r"(?s)SQL failed: .*missing.*\(tables given: games\)"):
        scalepipe.sql("SELECT * FROM missing", games=pd.DataFrame({"a": [1]}))
