"""The serving path's feature rows (Arrow and NumPy in process) equal DuckDB's, feature
by feature, on the book's plays and on the awkward cases: one play, no spread, missing
values of every kind, a missing key."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from scalepipe.features import FeatureSpec, dfs, nhl_spec
from scalepipe.features.inprocess import evaluate
from tests.features.test_dfs import plays


def assert_same_rows(ours: pa.Table, duckdb: pa.Table) -> None:
    assert ours.column_names == duckdb.column_names
    for name in duckdb.column_names:
        mine, theirs = ours.column(name).to_pylist(), duckdb.column(name).to_pylist()
        if pa.types.is_floating(duckdb.schema.field(name).type):
            close = np.isclose(
                np.array(mine, dtype=float), np.array(theirs, dtype=float),
                rtol=1e-9, atol=1e-12, equal_nan=True,
            )  # fmt: skip
            assert close.all(), f"{name}: {mine[:4]} vs {theirs[:4]}"
        else:
            assert mine == theirs, name


def test_every_feature_of_the_books_plays_equals_duckdbs() -> None:
    table = plays()
    on_duckdb = dfs(nhl_spec(), {"game_plays": table})
    ours = evaluate(on_duckdb.plan, table)
    assert len(ours.keys) == 150
    assert_same_rows(ours.table(on_duckdb.plan), on_duckdb.table)


def test_awkward_groups_give_duckdbs_values() -> None:
    nan, at = float("nan"), dt.datetime(2026, 11, 29, 20, 30)
    table = pa.table({
        "game_id": [1, 2, 2, 3, 3, 3, 4, 4, 4, 4, None, None],
        "kind": ["a", "b", None, "a", "a", "c", None, None, None, None, "b", "z"],
        "x": [1.5, nan, 2.0, 0.1, 0.1, 0.1, 1.0, -3.0, nan, 7.5, 2.0, 2.0],
        "n": pa.array([1, None, None, 5, 5, 5, 2, 2, 3, None, 0, 1], pa.int64()),
        "team": ["p", "q", "q", "p", "q", "r", None, None, None, None, "p", "p"],
        "flag": [True, None, False, True, True, False, None, None, True, False, True, True],
        "at": [at, None, at, at, at + dt.timedelta(days=40), None, at, at, at, at, None, at],
    })  # fmt: skip
    spec = FeatureSpec(parent="games", key="game_id", child="plays", child_table="plays",
                       one_hot={"kind": 2})  # fmt: skip
    on_duckdb = dfs(spec, {"plays": table})
    ours = evaluate(on_duckdb.plan, table)
    assert ours.keys == [1, 2, 3, 4]  # the plays without a game belong to none
    assert_same_rows(ours.table(on_duckdb.plan), on_duckdb.table)
    frame = ours.table(on_duckdb.plan).to_pandas().set_index("game_id")
    assert frame.loc[3, "SKEW(plays.x)"] == 0.0  # no spread: 0, as pandas says
    assert np.isnan(frame.loc[1, "STD(plays.x)"])  # one play: no spread to measure
    assert pd.isna(frame.loc[4, "MODE(plays.team)"])  # no value to count
    assert frame.loc[3, "MODE(plays.team)"] == "p"  # a tie goes to the smaller value


@pytest.mark.parametrize("games", [1, 3])
def test_keys_come_back_in_key_order_whatever_the_row_order(games: int) -> None:
    table = plays()
    keys = table.column("game_id").unique()[:games]
    chosen = table.filter(pa.compute.is_in(table.column("game_id"), value_set=keys))
    shuffled = chosen.take(np.random.default_rng(0).permutation(chosen.num_rows))
    plan = dfs(nhl_spec(), {"game_plays": table}).plan
    in_order, mixed = evaluate(plan, chosen), evaluate(plan, shuffled)
    assert mixed.keys == sorted(keys.to_pylist()) == in_order.keys
    assert_same_rows(mixed.table(plan), in_order.table(plan))
