"""Batch scoring, side by side: the book's pandas job, the in-memory ceiling and
scalepipe's engines on the same Parquet file and model, each case a fresh process.

    python benchmarks/batch.py [--rows 10000000] [--cases book,ceiling,local]

The input is `--rows` generated games players with a `user_id`, written once into
~/.cache/scalepipe-bench; the model is a logistic regression trained on 20,000 of them,
published to a temporary store (scalepipe's cases) and pickled (the book's case). Each
case writes `user_id` and the prediction (scalepipe adds the model, version, time and
run id) to Parquet. Figures: wall seconds of the whole process minus its Python start
(the Spark cases: the second job of a session), rows/s, and the process's peak RSS (GNU time's
%M; for Spark, the driver's Python only).
"""

from __future__ import annotations

import argparse
import os
import pickle
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from harness import run_case

ROOT = Path(__file__).resolve().parents[1]
CACHE = Path.home() / ".cache" / "scalepipe-bench"
FEATURES = [f"G{i}" for i in range(1, 11)]

BOOK = """
import pickle, sys, time
started = time.perf_counter()
import pandas as pd
model = pickle.load(open(sys.argv[2], "rb"))
frame = pd.read_parquet(sys.argv[1])
frame["prediction"] = model.predict_proba(frame[{features!r}])[:, 1]
frame[["user_id", "prediction"]].to_parquet(sys.argv[3] + "/book.parquet")
print(time.perf_counter() - started)
"""

CEILING = """
import pickle, sys, time
import numpy as np, pyarrow.parquet as pq
model = pickle.load(open(sys.argv[2], "rb"))
table = pq.read_table(sys.argv[1], columns={features!r})
matrix = np.column_stack([table.column(name).to_numpy() for name in {features!r}]).astype(float)
weights, bias = model.coef_.ravel(), float(model.intercept_[0])
started = time.perf_counter()
scores = 1.0 / (1.0 + np.exp(-(matrix @ weights + bias)))
print(time.perf_counter() - started)
"""

SCALEPIPE = """
import sys, time
started = time.perf_counter()
from scalepipe.batch import score
result = score("games", sys.argv[1], sys.argv[3] + "/scalepipe", keys=["user_id"],
               engine=sys.argv[4], store=sys.argv[5], run_id="bench")
assert result.rows_out == result.rows_in
print(time.perf_counter() - started)
"""

# The Spark cases time the job once the session is up and has run the same job on the
# small Beam input (the first job of a JVM pays for its JIT and the Python workers' start,
# ~10 s, the same for both); each writes user_id and the prediction.
SPARK_SCALEPIPE = """
import sys, time
from scalepipe.batch import score
from scalepipe.batch.spark import spark_session
spark_session()
score("games", sys.argv[6], sys.argv[3] + "/warm-up", keys=["user_id"], engine="spark",
      store=sys.argv[5], run_id="warm-up")
started = time.perf_counter()
result = score("games", sys.argv[1], sys.argv[3] + "/scalepipe", keys=["user_id"],
               engine="spark", store=sys.argv[5], run_id="bench")
assert result.rows_out == result.rows_in
print(time.perf_counter() - started)
"""

SPARK_MLFLOW = """
import sys, time
import mlflow.pyfunc
from pyspark.sql import functions as F
from scalepipe.batch.spark import spark_session
spark = spark_session()
def job(source, target):
    udf = mlflow.pyfunc.spark_udf(spark, sys.argv[5] + "/games/1",
                                  result_type="array<double>", env_manager="local")
    frame = spark.read.parquet(source)
    columns = [F.col(c) for c in {features!r}]
    frame.select("user_id", udf(*columns)[1].alias("prediction")).write.parquet(target)
job(sys.argv[6], sys.argv[3] + "/warm-up")
started = time.perf_counter()
job(sys.argv[1], sys.argv[3] + "/mlflow")
print(time.perf_counter() - started)
"""

# The Beam cases run on a smaller input (--beam-rows: the per-element DoFn manages a few
# thousand rows a second) on the FnApiRunner, each reading the same Parquet file.
BEAM_SCALEPIPE = """
import sys, time
started = time.perf_counter()
from scalepipe.batch import score
result = score("games", sys.argv[1], sys.argv[3] + "/scalepipe", keys=["user_id"],
               engine="beam", store=sys.argv[5], run_id="bench")
assert result.rows_out == result.rows_in
print(time.perf_counter() - started)
"""

BEAM_PER_ELEMENT = """
import pickle, sys, time
started = time.perf_counter()
import apache_beam as beam
import pandas as pd
import pyarrow.parquet as pq
from apache_beam.runners.portability.fn_api_runner.fn_runner import FnApiRunner

class Score(beam.DoFn):  # the book's chapter 7 notebook: one record at a time
    def setup(self):
        self.model = pickle.load(open(sys.argv[2], "rb"))
    def process(self, record):
        frame = pd.DataFrame([record])[{features!r}]
        yield {{"user_id": record["user_id"], "prediction": self.model.predict_proba(frame)[0][1]}}

records = pq.read_table(sys.argv[1]).to_pylist()
with beam.Pipeline(runner=FnApiRunner()) as pipeline:
    (pipeline | beam.Create(records) | beam.ParDo(Score())
     | beam.combiners.Count.Globally() | beam.Map(lambda n: print(n, file=sys.stderr)))
print(time.perf_counter() - started)
"""

BEAM_STOCK_SKLEARN = """
import sys, time
started = time.perf_counter()
import apache_beam as beam
import numpy as np
import pyarrow.parquet as pq
from apache_beam.ml.inference.base import RunInference
from apache_beam.ml.inference.sklearn_inference import ModelFileType, SklearnModelHandlerNumpy
from apache_beam.runners.portability.fn_api_runner.fn_runner import FnApiRunner

def probability(model, batch, inference_args):
    return model.predict_proba(np.vstack(batch))[:, 1]

table = pq.read_table(sys.argv[1])
rows = list(np.column_stack([table.column(c).to_numpy() for c in {features!r}]).astype(float))
handler = SklearnModelHandlerNumpy(sys.argv[2], model_file_type=ModelFileType.PICKLE,
                                   inference_fn=probability)
with beam.Pipeline(runner=FnApiRunner()) as pipeline:
    (pipeline | beam.Create(rows) | RunInference(handler)
     | beam.combiners.Count.Globally() | beam.Map(lambda n: print(n, file=sys.stderr)))
print(time.perf_counter() - started)
"""


def make_input(rows: int) -> Path:
    """The games players with user ids, as one Parquet file of 1 M-row groups (cached)."""
    path = CACHE / f"games-{rows}.parquet"
    if path.is_file():
        return path
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    from scalepipe.io import open_source

    CACHE.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".part")
    writer = None
    done = 0
    for batch in open_source(f"dataset:games?rows={rows}&seed=7").read_batches():
        ids = pa.array(np.arange(done, done + batch.num_rows, dtype=np.int64) + 1_000_000)
        table = pa.Table.from_batches([batch]).add_column(0, "user_id", ids)
        writer = writer or pq.ParquetWriter(partial, table.schema)
        writer.write_table(table, row_group_size=1_000_000)
        done += batch.num_rows
    assert writer is not None
    writer.close()
    partial.replace(path)
    return path


def make_model(folder: Path) -> tuple[Path, str]:
    """The logistic model, pickled for the book's case and published for scalepipe's."""
    from scalepipe.io import load
    from scalepipe.store import ModelStore
    from scalepipe.train import train_frame

    trained = train_frame(load("games", rows=20_000, seed=3), "games", "logistic")
    pickled = folder / "model.pkl"
    pickled.write_bytes(pickle.dumps(trained.model))
    store = ModelStore(str(folder / "store"))
    store.publish(trained.model, "games", signature=trained.signature, alias="champion")
    return pickled, store.url


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--beam-rows", type=int, default=50_000)
    parser.add_argument(
        "--cases", default="book,ceiling,local,spark,spark_udf,beam,beam_dofn,beam_sklearn"
    )
    parser.add_argument(
        "--repeat", type=int, default=3, help="rounds of every case but the slow Beam ones "
        "(the per-element DoFn and the stock handler run once); the median is shown",
    )  # fmt: skip
    options = parser.parse_args()
    sys.path.insert(0, str(ROOT))

    source = make_input(options.rows)
    beam_source = make_input(options.beam_rows)
    cases: dict[str, Callable[[Path, Path, str], tuple[float, float]]] = {
        "book": lambda out, pickled, _store: run_case(
            BOOK.format(features=FEATURES), str(source), str(pickled), str(out)
        ),
        "ceiling": lambda out, pickled, _store: run_case(
            CEILING.format(features=FEATURES), str(source), str(pickled), str(out)
        ),
        "local": lambda out, pickled, store: run_case(
            SCALEPIPE, str(source), str(pickled), str(out), "local", store
        ),
        "spark": lambda out, pickled, store: run_case(
            SPARK_SCALEPIPE, str(source), str(pickled), str(out), "spark", store, str(beam_source)
        ),
        "spark_udf": lambda out, pickled, store: run_case(
            SPARK_MLFLOW.format(features=FEATURES),
            *(str(source), str(pickled), str(out), "", store, str(beam_source)),
        ),
        "beam": lambda out, pickled, store: run_case(
            BEAM_SCALEPIPE, str(beam_source), str(pickled), str(out), "", store
        ),
        "beam_dofn": lambda out, pickled, store: run_case(
            BEAM_PER_ELEMENT.format(features=FEATURES), str(beam_source), str(pickled), str(out)
        ),
        "beam_sklearn": lambda out, pickled, store: run_case(
            BEAM_STOCK_SKLEARN.format(features=FEATURES), str(beam_source), str(pickled), str(out)
        ),
    }
    labels = {
        "book": "(a) book: pandas read_parquet + predict_proba + to_parquet",
        "ceiling": "(b) ceiling: numpy matmul on the loaded array (scoring only)",
        "local": "(c) scalepipe batch score, local engine",
        "spark": "(d) scalepipe batch score --engine spark, local[2]",
        "spark_udf": "(d) mlflow.pyfunc.spark_udf on the same DataFrame, local[2]",
        "beam": "(e) scalepipe batch score --engine beam (FnApiRunner)",
        "beam_dofn": "(e) Beam: a per-element DoFn (the book's notebook style)",
        "beam_sklearn": "(e) Beam: RunInference with the stock scikit-learn handler",
    }
    runs: dict[str, list[tuple[float, float]]] = {}
    with tempfile.TemporaryDirectory(prefix="scalepipe-bench-") as folder:
        pickled, store = make_model(Path(folder))
        # Rounds of every case rather than each case n times over, so that a slow spell
        # of the machine falls on all the cases alike.
        for round_ in range(max(1, options.repeat)):
            for case in options.cases.split(","):
                if round_ and case in ("beam_dofn", "beam_sklearn"):
                    continue
                out = Path(folder) / f"{case}-{round_}"
                out.mkdir()
                time.sleep(1)  # let the previous process's memory go back to the system
                runs.setdefault(case, []).append(cases[case](out, pickled, store))
                shutil.rmtree(out)
    results = {case: sorted(times)[len(times) // 2] for case, times in runs.items()}

    def rows(case: str) -> int:
        return int(options.beam_rows if case.startswith("beam") else options.rows)

    rates = {case: rows(case) / seconds for case, (seconds, _) in results.items()}
    print(f"\n{options.rows:,} games rows ({options.beam_rows:,} for Beam), Parquet in "
          f"({os.cpu_count()} cores); the median of {options.repeat} runs\n")  # fmt: skip
    base = results.get("book")
    print("| case | rows | seconds | rows/s | peak RSS MB | rows/s vs (a) | RSS vs (a) |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for case, (seconds, rss) in results.items():
        speed = f"{rates[case] / rates['book']:.2f}x" if base else "-"
        memory = f"{rss / base[1]:.2f}" if base else "-"
        print(f"| {labels[case]} | {rows(case):,} | {seconds:.2f} | {rates[case]:,.0f} "
              f"| {rss:,.0f} | {speed} | {memory} |")  # fmt: skip
    print()
    for goal, (ours, theirs, target) in {
        "local vs the book (goal 3x)": ("local", "book", 3),
        "Spark vs spark_udf (goal 3x)": ("spark", "spark_udf", 3),
        "Beam vs per-element DoFn (goal 10x)": ("beam", "beam_dofn", 10),
        "Beam vs stock scikit-learn handler": ("beam", "beam_sklearn", None),
    }.items():
        if ours in rates and theirs in rates:
            ratio = rates[ours] / rates[theirs]
            verdict = "" if target is None else (" met" if ratio >= target else " NOT met")
            print(f"{goal}: {ratio:.2f}x{verdict}")


if __name__ == "__main__":
    main()
