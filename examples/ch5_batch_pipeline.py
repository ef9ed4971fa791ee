"""The book's chapter 5 model pipeline with scalepipe: fetch the players, train and publish
a logistic regression, score every player and write a predictions table with a
timestamp (the book writes to BigQuery; here the warehouse: DuckDB, or PostgreSQL).

    python examples/ch5_batch_pipeline.py [--data-dir ../shared/data] [--warehouse URL]

Without --data-dir generated players stand in for the book's games-expand.csv. Run it
on a schedule (chapter 5's cron and Airflow) with a run id per day: a rerun of a day
replaces that day's rows.
"""

from __future__ import annotations

import argparse
import tempfile
from dataclasses import replace
from datetime import date
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from scalepipe.batch import score
from scalepipe.config import Settings
from scalepipe.io import load, open_warehouse
from scalepipe.train import train_frame


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, help="folder with the book's CSV files")
    parser.add_argument("--warehouse", help="warehouse URL [default: setting 'warehouse']")
    parser.add_argument("--day", default=date.today().isoformat(), help="the run's day")
    options = parser.parse_args()
    warehouse = options.warehouse or Settings.load().warehouse

    source = str(options.data_dir / "games-expand.csv") if options.data_dir else None
    games = load("games", source=source)
    games.insert(0, "user_id", range(len(games)))  # the book: df['user_id'] = df.index

    trained = train_frame(games.drop(columns=["user_id"]), "games", "logistic")
    version = trained.publish(alias="champion")
    print(f"trained and published games:{version} (ROC AUC {trained.metrics['roc_auc']:.3f})")

    with tempfile.TemporaryDirectory() as folder:
        players = Path(folder) / "players.parquet"
        pq.write_table(pa.Table.from_pandas(games, preserve_index=False), players)
        result = score(
            "games@champion",
            str(players),
            "table:user_scores?mode=append",
            keys=["user_id"],
            run_id=options.day,
            settings=replace(Settings.load(), warehouse=warehouse),
        )
    print(f"scored {result.rows_out:,} players in {result.seconds:.2f} s as run {result.run_id}")
    print(
        open_warehouse(warehouse)
        .query(
            "SELECT run_id, count(*) AS players, avg(prediction) AS mean_score, max(scored_at) "
            "AS scored_at FROM user_scores GROUP BY 1 ORDER BY 1"
        )
        .to_string(index=False)
    )


if __name__ == "__main__":
    main()
