"""The book's chapter 1 with scalepipe: datasets, SQL over frames, the prototype models.

    python examples/ch1_prototype_models.py [--data-dir ../shared/data] [--mlp]

Without --data-dir the generated datasets stand in for the book's files.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import scalepipe
from scalepipe.io import load
from scalepipe.train import train_frame


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, help="folder with the book's CSV files")
    parser.add_argument("--mlp", action="store_true", help="also train the Keras MLP (~1 min)")
    options = parser.parse_args()
    data_dir: Path | None = options.data_dir

    # 1.4: the datasets (the book reads games from GitHub and Boston from scikit-learn).
    games = load("games", source=str(data_dir / "games-expand.csv") if data_dir else None)
    housing = load("housing", source=str(data_dir / "BostonHousing.csv") if data_dir else None)
    print(f"games: {len(games):,} players, {games['label'].mean():.1%} bought the target game")

    # 1.5.1: linear regression on Boston housing, R² and mean absolute error on 30 % held out.
    linear = train_frame(housing, "housing", "linear")
    r2, mae = linear.metrics["r2"], linear.metrics["mean_absolute_error"]
    print(f"housing linear: R² {r2:.3f}, MAE {mae:.2f}")

    # 1.5.2: logistic regression on games, accuracy and ROC AUC.
    logistic = train_frame(games, "games", "logistic")
    accuracy, auc = logistic.metrics["accuracy"], logistic.metrics["roc_auc"]
    print(f"games logistic: accuracy {accuracy:.3f}, AUC {auc:.3f}")

    # 1.5.3: the Keras MLP (64 relu, dropout 0.1, 64 relu, sigmoid; 100 epochs).
    if options.mlp:
        mlp = train_frame(games, "games", "mlp")
        print(f"games mlp: AUC {mlp.metrics['roc_auc']:.3f}")

    # 1.6: SQL over DataFrames (the book used framequery): owners of G1 by label.
    print(
        scalepipe.sql(
            "SELECT label, count(*) AS players FROM g WHERE G1 = 1 GROUP BY 1 ORDER BY 1", g=games
        )
    )


if __name__ == "__main__":
    main()
