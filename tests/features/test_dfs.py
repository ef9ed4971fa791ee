"""Deep feature synthesis compiled to SQL: the same features, names and values as
featuretools 1.31 computes from the same generated NHL plays (the book's chapter 1)."""

from __future__ import annotations

import json
import os
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from scalepipe.errors import DatasetError
from scalepipe.features import FeatureSpec, dfs, nhl_spec
from scalepipe.io import load_tables
from tests.test_cli import scalepipe

ROOT = Path(__file__).resolve().parents[2]
FEATURETOOLS = ROOT / ".venv-featuretools" / "bin" / "python"
REFERENCE = Path(__file__).with_name("featuretools_reference.py")


@cache
def plays(games: int = 150, seed: int = 5) -> pa.Table:
    frame = load_tables("nhl", rows=games, seed=seed)["game_plays"]
    return pa.Table.from_pandas(frame, preserve_index=False)


def featuretools_matrix(table: pa.Table, folder: Path, depth: int = 2) -> pd.DataFrame:
    """featuretools' feature matrix of the plays, computed in its own environment."""
    if not FEATURETOOLS.exists():
        message = f"{FEATURETOOLS} is missing: make .venv-featuretools"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    source, out = folder / "plays.parquet", folder / "featuretools.parquet"
    pq.write_table(table, source)
    command = [str(FEATURETOOLS), str(REFERENCE), str(source), str(out), str(depth)]
    subprocess.run(command, check=True, capture_output=True, timeout=300)
    return pd.read_parquet(out).set_index("game_id")


def assert_same_features(ours: pd.DataFrame, theirs: pd.DataFrame) -> None:
    """Same games, same feature names in the same order, same values: numbers within a
    relative 1e-9 (an absolute 1e-12 for values that are zero but for rounding, such as
    the skew of symmetric plays), modes equal as text."""
    assert list(ours.columns) == list(theirs.columns)
    assert sorted(ours.index) == sorted(theirs.index)
    theirs = theirs.loc[ours.index]
    for name in theirs.columns:
        if name.startswith("MODE("):
            assert (ours[name].astype(str) == theirs[name].astype(str)).all(), name
            continue
        mine, expected = ours[name].astype(float), theirs[name].astype(float)
        close = np.isclose(mine, expected, rtol=1e-9, atol=1e-12, equal_nan=True)
        assert close.all(), (
            f"{name}: {mine[~close].head(3).tolist()} vs {expected[~close].head(3).tolist()}"
        )


def test_the_books_features_match_featuretools(tmp_path: Path) -> None:
    features = dfs(nhl_spec(), {"game_plays": plays()})
    ours = features.to_pandas().set_index("game_id")
    assert len(features.names) == 87 and len(ours) == 150
    assert features.names[:3] == ("COUNT(plays)", "MAX(plays.goals_away)", "MAX(plays.goals_home)")
    assert "PERCENT_TRUE(plays.event = Goal)" in features.names
    assert "NUM_UNIQUE(plays.WEEKDAY(dateTime))" in features.names
    assert_same_features(ours, featuretools_matrix(plays(), tmp_path))


def test_depth_one_leaves_out_the_aggregations_of_transforms(tmp_path: Path) -> None:
    spec = FeatureSpec(**{**nhl_spec().__dict__, "depth": 1})
    ours = dfs(spec, {"game_plays": plays()}).to_pandas().set_index("game_id")
    assert not [name for name in ours.columns if "(dateTime)" in name]
    assert_same_features(ours, featuretools_matrix(plays(), tmp_path, depth=1))


def test_one_games_features_from_the_kept_vocabulary_equal_the_tables(tmp_path: Path) -> None:
    """At serving time one game's plays arrive alone: with the vocabulary kept at
    training time, its feature row is the row computed from the whole table."""
    whole = dfs(nhl_spec(), {"game_plays": plays()})
    game = whole.table.column("game_id")[7].as_py()
    alone = plays().filter(pa.compute.equal(plays().column("game_id"), game))
    one = dfs(nhl_spec(), {"game_plays": alone}, vocabulary=whole.vocabulary)
    assert one.names == whole.names and one.table.num_rows == 1
    row = whole.to_pandas().set_index("game_id").loc[[game]]
    assert_same_features(one.to_pandas().set_index("game_id"), row)


def test_a_parquet_file_or_folder_is_read_by_duckdb_itself(tmp_path: Path) -> None:
    expected = dfs(nhl_spec(), {"game_plays": plays()})
    pq.write_table(plays(), tmp_path / "plays.parquet", row_group_size=5_000)
    (tmp_path / "parts" / "day=1").mkdir(parents=True)
    half = plays().num_rows // 2
    pq.write_table(plays().slice(0, half), tmp_path / "parts" / "a.parquet")
    pq.write_table(plays().slice(half), tmp_path / "parts" / "day=1" / "b.parquet")
    for path in (tmp_path / "plays.parquet", str(tmp_path / "parts")):
        features = dfs(nhl_spec(), {"game_plays": path})
        assert features.vocabulary == expected.vocabulary
        assert_same_features(
            features.to_pandas().set_index("game_id"), expected.to_pandas().set_index("game_id")
        )
    with pytest.raises(DatasetError, match="no Parquet file or folder"):
        dfs(nhl_spec(), {"game_plays": tmp_path / "nothing.parquet"})
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match=r"holds no \.parquet file"):
        dfs(nhl_spec(), {"game_plays": tmp_path / "empty"})


def test_values_and_names_from_data_are_quoted_never_run(tmp_path: Path) -> None:
    """Category values and column names come from data: a quote in either is text."""
    hostile = "x'); DROP TABLE plays; --"
    table = pa.table({
        "game_id": [1, 1, 1, 2, 2],
        "kind": ["a", hostile, hostile, "a", 'b"q'],
        'odd "name': [1.0, 2.0, 4.0, 8.0, float("nan")],
    })  # fmt: skip
    spec = FeatureSpec(parent="games", key="game_id", child="plays", child_table="plays",
                       one_hot={"kind": 2})  # fmt: skip
    features = dfs(spec, {"plays": table})
    frame = features.to_pandas().set_index("game_id")
    assert features.vocabulary == {"kind": ["a", hostile]}  # two each: the smaller first
    assert frame.loc[1, f"PERCENT_TRUE(plays.kind = {hostile})"] == pytest.approx(2 / 3)
    assert frame.loc[2, "PERCENT_TRUE(plays.kind is unknown)"] == 0.5
    assert frame.loc[1, 'SUM(plays.odd "name)'] == 7.0
    assert frame.loc[2, 'MEAN(plays.odd "name)'] == 8.0  # NaN is missing, as in pandas


def test_spark_sql_gives_duckdbs_features(spark: Any, tmp_path: Path) -> None:
    """The book's chapter 6 does the feature engineering on Spark: the same names, the
    same vocabulary, the same values (Spark's population skewness is adjusted)."""
    on_duckdb = dfs(nhl_spec(), {"game_plays": plays()})
    on_spark = dfs(nhl_spec(), {"game_plays": plays()}, engine="spark", spark=spark)
    assert on_spark.vocabulary == on_duckdb.vocabulary
    assert on_spark.compiled.engine == "spark" and "`" in on_spark.compiled.sql
    assert_same_features(
        on_spark.to_pandas().set_index("game_id"), on_duckdb.to_pandas().set_index("game_id")
    )
    # A DataFrame already in Spark is read where it is, and no view of it is left behind.
    pq.write_table(plays(), tmp_path / "plays.parquet")
    frame = spark.read.parquet(str(tmp_path / "plays.parquet"))
    again = dfs(nhl_spec(), {"game_plays": frame}, engine="spark", spark=spark)
    assert again.vocabulary == on_spark.vocabulary
    assert_same_features(
        again.to_pandas().set_index("game_id"), on_spark.to_pandas().set_index("game_id")
    )
    assert not spark.catalog.listTables("global_temp")
    from_path = dfs(nhl_spec(), {"game_plays": tmp_path / "plays.parquet"}, engine="spark",
                    spark=spark)  # fmt: skip
    assert_same_features(
        from_path.to_pandas().set_index("game_id"), on_spark.to_pandas().set_index("game_id")
    )


def test_hostile_values_are_text_on_spark_too(spark: Any) -> None:
    hostile = ["it's", "back\\slash'); SELECT 1 --", "\\'"]
    table = pa.table({"game_id": [1, 1, 1, 2], "kind": [*hostile, hostile[0]]})
    spec = FeatureSpec(parent="games", key="game_id", child="plays", child_table="plays",
                       one_hot={"kind": 3})  # fmt: skip
    on_spark = dfs(spec, {"plays": table}, engine="spark", spark=spark).to_pandas()
    on_duckdb = dfs(spec, {"plays": table}).to_pandas()
    pd.testing.assert_frame_equal(on_spark, on_duckdb, check_dtype=False)
    assert on_duckdb[f"PERCENT_TRUE(plays.kind = {hostile[1]})"].tolist() == [
        pytest.approx(1 / 3),
        0.0,
    ]


def test_a_bad_spec_or_table_is_refused_naming_the_part() -> None:
    with pytest.raises(DatasetError, match=r"unknown aggregation primitive.*median"):
        FeatureSpec(parent="g", key="k", child="c", child_table="t", aggregations=("median",))
    with pytest.raises(DatasetError, match="child_table must be a plain table name"):
        FeatureSpec(parent="g", key="k", child="c", child_table="t; DROP")
    with pytest.raises(DatasetError, match="engine must be one of duckdb, spark"):
        dfs(nhl_spec(), {"game_plays": plays()}, engine="polars")  # type: ignore[arg-type]
    with pytest.raises(DatasetError, match="depth must be 1 or 2"):
        FeatureSpec(parent="g", key="k", child="c", child_table="t", depth=3)
    with pytest.raises(DatasetError, match="no table 'game_plays' among game"):
        dfs(nhl_spec(), {"game": plays()})
    with pytest.raises(DatasetError, match="lacks the key column 'game_id'"):
        dfs(nhl_spec(), {"game_plays": plays().drop(["game_id"])})
    with pytest.raises(DatasetError, match="has no column 'event'"):
        dfs(nhl_spec(), {"game_plays": plays().drop(["event"])})


def test_the_build_command_writes_the_features_and_shows_the_sql(tmp_path: Path) -> None:
    target = tmp_path / "out" / "nhl-features.parquet"
    result = scalepipe("features", "build", "nhl", "--rows", "40", "--out", str(target),
                       "--show-sql", "--json")  # fmt: skip
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert (summary["features"], summary["rows"], summary["engine"]) == (87, 40, "duckdb")
    assert summary["sql"].startswith("WITH child AS")
    assert "Faceoff" in summary["vocabulary"]["event"]
    expected = dfs(nhl_spec(), load_tables("nhl", rows=40))
    written = pq.read_table(target)
    assert written.equals(expected.table)
    assert [path.name for path in target.parent.iterdir()] == [target.name]  # no partial file

    for args, message in [
        (("games",), "no feature spec for dataset 'games'"),
        (("nhl", "--out", str(tmp_path / "x.txt")), "--out must name a .parquet or .csv file"),
        (("nhl", "--engine", "polars"), "--engine must be duckdb or spark"),
    ]:
        refused = scalepipe("features", "build", *args)
        assert refused.returncode == 2 and message in refused.stderr, refused.stderr
