"""`scalepipe batch score` of a model trained on NHL play features reads the plays: one
prediction per game, the same as the Predictor gives for that game's plays alone."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest

from scalepipe.batch import score
from scalepipe.errors import DatasetError
from scalepipe.predict import Predictor
from scalepipe.store import ModelStore
from tests.train.test_engineered import game_plays, plays_of, trained


@pytest.fixture
def nhl_store(tmp_path: Path) -> ModelStore:
    store = ModelStore(str(tmp_path / "store"))
    trained().publish(store, name="nhl", alias="champion")
    return store


def test_the_plays_of_every_game_are_scored_per_game(nhl_store: ModelStore, tmp_path: Path) -> None:
    plays = game_plays()
    chosen = plays[plays["game_id"].isin(plays["game_id"].unique()[1300:1420])]
    chosen.sample(frac=1.0, random_state=0).to_parquet(tmp_path / "plays.parquet")  # any order
    result = score("nhl", str(tmp_path / "plays.parquet"), str(tmp_path / "scored"),
                   store=nhl_store)  # fmt: skip
    assert result.rows_in == result.rows_out == 120
    assert result.source["kind"] == "games features of plays"
    scored = pq.read_table(tmp_path / "scored").to_pandas().set_index("game_id")
    assert list(scored.columns[:1]) == ["prediction"]
    predictor = Predictor.load("nhl", store=nhl_store)
    for game in scored.index[[0, 57, 119]]:
        alone = predictor.predict_children(plays_of(int(game)))
        assert scored.loc[game, "prediction"] == pytest.approx(alone[0], rel=1e-9)
    postseason = set(plays.loc[plays["game_id"] // 10_000 % 100 == 3, "game_id"])
    in_postseason = scored.index.isin(list(postseason))
    assert in_postseason.any() and (~in_postseason).any()
    predictions = scored["prediction"]
    assert predictions[in_postseason].mean() > predictions[~in_postseason].mean()


def test_a_source_without_the_plays_columns_or_on_spark_is_refused(
    nhl_store: ModelStore, tmp_path: Path
) -> None:
    game_plays().head(500).drop(columns=["event", "x"]).to_parquet(tmp_path / "thin.parquet")
    with pytest.raises(DatasetError, match=r"lacks the plays' column\(s\) event, x"):
        score("nhl", str(tmp_path / "thin.parquet"), str(tmp_path / "out"), store=nhl_store)
    game_plays().head(500).to_parquet(tmp_path / "plays.parquet")
    with pytest.raises(DatasetError, match="scores on the local engine"):
        score("nhl", str(tmp_path / "plays.parquet"), str(tmp_path / "out"), store=nhl_store,
              engine="spark")  # fmt: skip
    assert not (tmp_path / "out").exists()
