"""The generated datasets: deterministic, streamed in blocks, and behaving like the book's."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.model_selection import cross_val_score

from scalepipe.data import DATASETS, spec
from scalepipe.io import load, load_tables
from scalepipe.train import train_frame


@pytest.mark.parametrize("name", list(DATASETS))
def test_same_seed_same_rows_other_seed_other_rows(name: str) -> None:
    rows = 300
    first, again, other = (load_tables(name, rows=rows, seed=seed) for seed in (7, 7, 8))
    for table in spec(name).tables:
        pd.testing.assert_frame_equal(first[table], again[table])
        assert not first[table].equals(other[table])


@pytest.mark.parametrize("name", list(DATASETS))
def test_generated_tables_have_the_book_schema(name: str) -> None:
    dataset = spec(name)
    tables = load_tables(name, rows=50)
    assert set(tables) == set(dataset.tables)
    for table, frame in tables.items():
        assert tuple(frame.columns) == dataset.columns[table]
        assert not frame.empty


def test_blocks_stream_in_bounded_size_and_concatenate_to_the_whole() -> None:
    dataset = spec("games")
    rows = dataset.block_rows * 2 + 5
    blocks = [block["games"] for block in dataset.generate_blocks(rows, seed=3)]
    assert [len(block) for block in blocks] == [dataset.block_rows, dataset.block_rows, 5]
    whole = dataset.generate(rows, seed=3)["games"]
    pd.testing.assert_frame_equal(pd.concat(blocks, ignore_index=True), whole)


def test_games_label_rate_and_model_behaviour_match_the_real_file() -> None:
    games = load("games")
    assert len(games) == 22_905
    assert set(np.unique(games.to_numpy())) == {0, 1}
    assert games["label"].mean() == pytest.approx(0.1325, abs=0.01)
    logistic = [
        train_frame(games, "games", "logistic", seed=s).metrics["roc_auc"] for s in range(3)
    ]
    gbm = [train_frame(games, "games", "gbm", seed=s).metrics["roc_auc"] for s in range(3)]
    assert np.mean(logistic) == pytest.approx(0.757, abs=0.02)
    assert np.mean(gbm) > np.mean(logistic) + 0.02


def test_games_owners_of_popular_games_are_as_common_as_in_the_real_file() -> None:
    means = load("games", rows=200_000).drop(columns="label").mean()
    real = [0.23, 0.132, 0.219, 0.087, 0.207, 0.122, 0.273, 0.309, 0.06, 0.134]
    assert means.to_numpy() == pytest.approx(real, abs=0.03)


def test_housing_stays_in_the_census_ranges_and_is_linear_enough() -> None:
    housing = load("housing")
    assert len(housing) == 506
    assert housing["medv"].between(5.0, 50.0).all()
    assert housing["chas"].isin([0, 1]).all()
    assert housing["rad"].between(1, 24).all()
    r2 = [train_frame(housing, "housing", "linear", seed=s).metrics["r2"] for s in range(10)]
    assert np.mean(r2) == pytest.approx(0.71, abs=0.06)


def test_natality_weight_rises_with_gestation_and_falls_with_plurality() -> None:
    births = load("natality", rows=50_000)
    features = list(spec("natality").features)
    model = LinearRegression().fit(births[features], births["weight_pounds"])
    effect = dict(zip(features, model.coef_, strict=True))
    assert 0.15 < effect["gestation_weeks"] < 0.5
    assert effect["plurality"] < -0.5
    assert births["weight_pounds"].mean() == pytest.approx(7.2, abs=0.4)
    assert births["mother_married"].isin([0, 1]).all()


def test_natality_guids_are_unique_uuid4_strings() -> None:
    guids = load("natality", rows=20_000)["guid"]
    assert guids.is_unique
    uuid4 = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")
    assert guids.map(lambda g: bool(uuid4.fullmatch(g))).all()


def test_nhl_plays_belong_to_games_and_add_up_to_the_scores() -> None:
    tables = load_tables("nhl", rows=1_500)
    game, plays = tables["game"], tables["game_plays"]
    assert game["game_id"].is_unique and plays["play_id"].is_unique
    assert set(plays["game_id"]) == set(game["game_id"])
    per_game = plays.groupby("game_id").size()
    assert per_game.between(150, 600).all()
    assert set(game["type"]) == {"R", "P"}
    final = plays.groupby("game_id")[["goals_away", "goals_home"]].max()
    indexed = game.set_index("game_id")
    assert (final["goals_home"] == indexed.loc[final.index, "home_goals"]).all()
    assert (final["goals_away"] == indexed.loc[final.index, "away_goals"]).all()
    assert (indexed["home_goals"] != indexed["away_goals"]).all()
    goals = plays[plays["event"] == "Goal"].groupby("game_id").size()
    totals = indexed["home_goals"] + indexed["away_goals"]
    assert (goals.reindex(totals.index, fill_value=0) == totals).all()


def test_nhl_play_mix_predicts_postseason_well_but_not_perfectly() -> None:
    tables = load_tables("nhl", rows=4_000)
    counts = pd.crosstab(tables["game_plays"]["game_id"], tables["game_plays"]["event"])
    shares = counts.div(counts.sum(axis=1), axis=0)
    postseason = tables["game"].set_index("game_id")["type"].reindex(shares.index) == "P"
    auc = cross_val_score(
        LogisticRegression(max_iter=2000), shares * 10, postseason, scoring="roc_auc", cv=3
    ).mean()
    assert 0.8 < auc < 0.99
