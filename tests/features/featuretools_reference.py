"""The book's chapter 1 feature engineering on featuretools 1.31, for the fidelity tests.

Run by the interpreter of .venv-featuretools (`make .venv-featuretools`: featuretools
1.31 needs pandas < 3, so it never shares scalepipe's environment):

    .venv-featuretools/bin/python tests/features/featuretools_reference.py PLAYS OUT [DEPTH]

PLAYS: a Parquet file of NHL plays; OUT: the feature matrix as Parquet, the game id first,
then the features in featuretools' order. The steps are the book's: one-hot encode the
event and secondary type (top 10 values of each, with an "is unknown" indicator),
normalise the plays into games by game id, deep feature synthesis with the default
primitives.
"""

from __future__ import annotations

import sys
import warnings

import featuretools as ft
import pandas as pd

ONE_HOT = ("event", "secondaryType")


def main(plays_path: str, out_path: str, depth: int = 2) -> None:
    warnings.filterwarnings("ignore")
    plays = pd.read_parquet(plays_path)
    types = {name: "Categorical" for name in ONE_HOT}
    raw = ft.EntitySet(id="plays")
    raw.add_dataframe(dataframe_name="plays", dataframe=plays, index="play_id", logical_types=types)
    matrix = plays.set_index("play_id")
    matrix.ww.init(logical_types=types)
    encoded, _ = ft.encode_features(
        matrix, [ft.Feature(raw["plays"].ww[name]) for name in ONE_HOT], top_n=10
    )
    entities = ft.EntitySet(id="plays")
    entities.add_dataframe(dataframe_name="plays", dataframe=encoded.reset_index(), index="play_id")
    entities.normalize_dataframe(
        base_dataframe_name="plays", new_dataframe_name="games", index="game_id"
    )
    matrix, _ = ft.dfs(entityset=entities, target_dataframe_name="games", max_depth=depth)
    matrix = matrix.reset_index()
    for name in matrix.columns:
        if isinstance(matrix[name].dtype, pd.CategoricalDtype):
            matrix[name] = matrix[name].astype(object).astype(str)
    matrix.to_parquet(out_path, index=False)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], *(int(arg) for arg in sys.argv[3:4]))
