"""The book's chapter 6 with scalepipe: the same batch job on PySpark. Spark reads the
players' Parquet files itself, the published model is shipped to the workers once and
loaded once per Python worker, and Spark writes the predictions folder.

    python examples/ch6_spark_pipeline.py [--rows 1000000] [--spark-master spark://127.0.0.1:7077]

The book's chapter 6 also applies a Keras model at scale: publish an MLP
(`scalepipe train games --model mlp --publish`) and pass its URI with --model.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import pyarrow.parquet as pq

from scalepipe.batch import score
from scalepipe.io import load
from scalepipe.train import train_frame


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="generated players")
    parser.add_argument("--model", help="a published model URI [default: train one]")
    parser.add_argument("--spark-master", help="Spark master URL [default: local[2]]")
    options = parser.parse_args()

    model = options.model
    if model is None:
        trained = train_frame(load("games", rows=20_000), "games", "logistic")
        model = f"games:{trained.publish()}"

    with tempfile.TemporaryDirectory() as folder:
        players = Path(folder) / "players"
        local = score(model, f"dataset:games?rows={options.rows}", str(players), run_id="in")
        spark = score(
            model,
            str(players / "run=in"),
            str(Path(folder) / "scores"),
            engine="spark",
            spark_master=options.spark_master,
            run_id="spark",
        )
        written = pq.read_table(Path(folder) / "scores" / "run=spark")
        print(
            f"local engine: {local.rows_out:,} rows in {local.seconds:.1f} s; "
            f"spark: {spark.rows_out:,} rows in {spark.seconds:.1f} s "
            f"(session start included); mean score {written['prediction'].to_numpy().mean():.3f}"
        )


if __name__ == "__main__":
    main()
