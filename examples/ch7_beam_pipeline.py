"""The book's chapter 7 with scalepipe: an Apache Beam pipeline that scores natality
records with a published model (loaded once per worker) and writes the predictions to
the warehouse (the book: BigQuery) and to a key-value store for applications to look up
(the book: Cloud Datastore; here Redis, when one answers).

    python examples/ch7_beam_pipeline.py [--rows 100000] [--redis redis://127.0.0.1:6379/0]

On Dataflow: `scalepipe batch score ... --engine beam --beam-runner DataflowRunner
--beam-option=--project=P --beam-option=--temp_location=gs://bucket/tmp`.
"""

from __future__ import annotations

import argparse

from scalepipe.batch import score
from scalepipe.batch.lookup import lookup
from scalepipe.config import Settings
from scalepipe.errors import DatasetError
from scalepipe.io import load, open_warehouse
from scalepipe.train import train_frame


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000, help="natality records to score")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0", help="Redis URL")
    options = parser.parse_args()

    trained = train_frame(load("natality", rows=20_000), "natality", "linear")
    model = f"natality:{trained.publish()}"
    births = f"dataset:natality?rows={options.rows}&seed=7"

    table = score(model, births, "table:natality_scores", keys=["guid"], engine="beam")
    print(f"beam: scored {table.rows_out:,} births into table natality_scores "
          f"in {table.seconds:.1f} s")  # fmt: skip

    sink = f"{options.redis}?prefix=natality:"
    try:
        stored = score(model, births, sink, keys=["guid"], engine="beam")
    except DatasetError as error:  # no Redis here: the warehouse table is still written
        print(f"skipped the lookup store: {error}")
        return
    warehouse = open_warehouse(Settings.load().warehouse)
    first = warehouse.query("SELECT guid FROM natality_scores LIMIT 1")["guid"].iloc[0]
    print(f"stored {stored.rows_out:,} entries; {first}: {lookup(sink, str(first))}")


if __name__ == "__main__":
    main()
