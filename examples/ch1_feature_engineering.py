"""The book's chapter 1 feature engineering with scalepipe: NHL plays one-hot encoded,
aggregated per game by deep feature synthesis (compiled to SQL, run on DuckDB), the game
type joined with SQL, a logistic regression for "is this a postseason game?", and the
model, published with its feature definition, scoring a new game's raw plays.

    python examples/ch1_feature_engineering.py [--source FOLDER] [--games N] [--store DIR]

--source: a folder holding Kaggle's game.csv and game_plays.csv (kaggle datasets download
martinellis/nhl-game-data); without it, generated games and plays with their columns.
"""

from __future__ import annotations

import argparse
import json
import tempfile

import scalepipe
from scalepipe.features import dfs, nhl_spec
from scalepipe.io import load_tables
from scalepipe.predict import Predictor
from scalepipe.store import ModelStore
from scalepipe.train import train


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", help="folder with game.csv and game_plays.csv")
    parser.add_argument("--games", type=int, default=2_000, help="games to generate")
    parser.add_argument("--store", help="model store [default: a temporary folder]")
    options = parser.parse_args()
    rows = None if options.source else options.games

    # The book: encode_features on the plays, normalize_entity into games, dfs.
    tables = load_tables("nhl", source=options.source, rows=rows)
    features = dfs(nhl_spec(), tables)
    print(f"{len(features.names)} features of {features.table.num_rows:,} games, e.g.")
    print("  " + ", ".join(features.names[:4]))
    print(f"one-hot vocabulary of event: {', '.join(features.vocabulary['event'])}")

    # The book joins the game type with SQL over data frames (framequery); DuckDB here.
    labelled = scalepipe.sql(
        "SELECT g.type = 'P' AS postseason, count(*) AS games, "
        '       avg(f."PERCENT_TRUE(plays.event = Hit)") AS hit_share '
        "FROM f JOIN g USING (game_id) GROUP BY 1 ORDER BY 1",
        f=features.to_pandas(),
        g=tables["game"],
    )
    print(labelled.to_string(index=False))

    # The same features, the label and a logistic regression, in one call.
    trained = train("nhl", "logistic", source=options.source, rows=rows, plot=False)
    for metric in ("accuracy", "roc_auc"):
        print(f"{metric}: {trained.metrics['training_' + metric]:.3f} on the training data "
              f"(book: {0.947 if metric == 'accuracy' else 0.923}), "
              f"{trained.metrics[metric]:.3f} held out")  # fmt: skip

    # Published with its feature definition, the model scores a game's raw plays.
    with tempfile.TemporaryDirectory() as scratch:
        store = ModelStore(options.store or scratch)
        version = trained.publish(store, name="nhl", alias="champion")
        predictor = Predictor.load("nhl", store=store)
        plays = tables["game_plays"]
        game = plays["game_id"].iloc[-1]
        records = json.loads(
            plays[plays["game_id"] == game].to_json(orient="records", date_format="iso")
        )
        [probability] = predictor.predict_children(records)
        print(f"nhl:{version} from {len(records)} plays of game {game}: "
              f"P(postseason) = {probability:.3f}")  # fmt: skip
        print('serve it: scalepipe serve nhl; POST {"plays": [...]} to /v1/models/nhl/predict')


if __name__ == "__main__":
    main()
