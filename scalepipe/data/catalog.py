"""The named datasets: their tables, columns, task and default generator."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, TypeAlias

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

from scalepipe.data import games, housing, natality, nhl
from scalepipe.data.generator import BLOCK_ROWS, block_streams
from scalepipe.errors import DatasetError as DatasetError

Task = Literal["classification", "regression"]
Tables: TypeAlias = "dict[str, pd.DataFrame]"


@dataclass(frozen=True)
class DatasetSpec:
    """What a named dataset holds and how to make it with no network."""

    name: str
    summary: str
    tables: tuple[str, ...]
    columns: dict[str, tuple[str, ...]]
    default_rows: int
    row_unit: str
    block_rows: int
    make_block: Callable[[np.random.Generator, int, int], Tables]
    target: str | None = None
    features: tuple[str, ...] = ()
    task: Task | None = None
    book_source: str = ""
    key_columns: dict[str, tuple[str, ...]] | None = None

    def required_columns(self, table: str) -> tuple[str, ...]:
        """The columns a source must have: the model's, or the keys that join the tables."""
        if self.key_columns is not None:
            return self.key_columns[table]
        return (*self.features, self.target) if self.target else self.columns[table]

    @property
    def main_table(self) -> str:
        return self.tables[0]

    def generate_blocks(self, rows: int | None = None, seed: int = 0) -> Iterator[Tables]:
        """Yield the generated dataset block by block (bounded memory for any size)."""
        total = self.default_rows if rows is None else rows
        for rng, start, count in block_streams(total, seed, self.block_rows):
            yield self.make_block(rng, start, count)

    def generate(self, rows: int | None = None, seed: int = 0) -> Tables:
        import pandas as pd

        blocks = list(self.generate_blocks(rows, seed))
        if not blocks:
            return {table: pd.DataFrame(columns=list(self.columns[table])) for table in self.tables}
        return {
            table: pd.concat([block[table] for block in blocks], ignore_index=True)
            for table in self.tables
        }


def _single(
    table: str, make: Callable[[np.random.Generator, int], pd.DataFrame]
) -> Callable[[np.random.Generator, int, int], Tables]:
    return lambda rng, _start, rows: {table: make(rng, rows)}


DATASETS: dict[str, DatasetSpec] = {
    spec.name: spec
    for spec in (
        DatasetSpec(
            name="games",
            summary="Game purchases: G1..G10 owned -> bought the target game (logistic, MLP)",
            tables=("games",),
            columns={"games": (*games.FEATURES, games.TARGET)},
            default_rows=games.DEFAULT_ROWS,
            row_unit="players",
            block_rows=BLOCK_ROWS,
            make_block=_single("games", games.block),
            target=games.TARGET,
            features=games.FEATURES,
            task="classification",
            book_source="https://github.com/bgweber/Twitch/raw/master/Recommendations/games-expand.csv",
        ),
        DatasetSpec(
            name="housing",
            summary="Boston housing: 13 tract features -> median home value in k$ (linear)",
            tables=("housing",),
            columns={"housing": (*housing.FEATURES, housing.TARGET)},
            default_rows=housing.DEFAULT_ROWS,
            row_unit="tracts",
            block_rows=BLOCK_ROWS,
            make_block=_single("housing", housing.block),
            target=housing.TARGET,
            features=housing.FEATURES,
            task="regression",
            book_source="sklearn.datasets.load_boston (removed from scikit-learn 1.2)",
        ),
        DatasetSpec(
            name="natality",
            summary="US births: parents, pregnancy -> birth weight in pounds (linear, batch)",
            tables=("natality",),
            columns={"natality": (*natality.FEATURES, natality.TARGET, natality.KEY)},
            default_rows=natality.DEFAULT_ROWS,
            row_unit="births",
            block_rows=BLOCK_ROWS,
            make_block=_single("natality", natality.block),
            target=natality.TARGET,
            features=natality.FEATURES,
            task="regression",
            book_source="bigquery-public-data.samples.natality (BigQuery)",
        ),
        DatasetSpec(
            name="nhl",
            summary="NHL games and their plays -> is the game postseason? (feature engineering)",
            tables=nhl.TABLES,
            columns={
                "game": (
                    "game_id",
                    "season",
                    "type",
                    "date_time",
                    "date_time_GMT",
                    "away_team_id",
                    "home_team_id",
                    "away_goals",
                    "home_goals",
                    "outcome",
                    "venue",
                ),
                "game_plays": (
                    "play_id",
                    "game_id",
                    "team_id_for",
                    "team_id_against",
                    "event",
                    "secondaryType",
                    "x",
                    "y",
                    "period",
                    "periodType",
                    "periodTime",
                    "periodTimeRemaining",
                    "dateTime",
                    "goals_away",
                    "goals_home",
                ),
            },
            default_rows=nhl.DEFAULT_GAMES,
            row_unit="games",
            block_rows=1_024,
            make_block=nhl.block,
            key_columns={"game": ("game_id", "type"), "game_plays": ("game_id", "event")},
            book_source="kaggle datasets download martinellis/nhl-game-data",
        ),
    )
}


def spec(name: str) -> DatasetSpec:
    try:
        return DATASETS[name]
    except KeyError:
        raise DatasetError(
            f"unknown dataset {name!r}; choose one of: {', '.join(DATASETS)}"
        ) from None
