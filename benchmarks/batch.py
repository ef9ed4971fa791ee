"""Batch scoring, side by side: the book's pandas job, the in-memory ceiling and
scalepipe's engines on the same Parquet file and model, each case a fresh process.

    python benchmarks/batch.py [--rows 10000000] [--cases book,ceiling,local]

The input is `--rows` generated games players with a `user_id`, written once into
~/.cache/scalepipe-bench; the model is a logistic regression trained on 20,000 of them,
published to a temporary store (scalepipe's cases) and pickled (the book's case). Each
case writes `user_id` and the prediction (scalepipe adds the model, version, time and
run id) to Parquet. Figures: wall seconds of the whole process minus its Python start,
rows/s, and the process's peak RSS (from wait4).
"""

from __future__ import annotations

import argparse
import os
import pickle
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CACHE = Path.home() / ".cache" / "scalepipe-bench"
FEATURES = [f"G{i}" for i in range(1, 11)]

BOOK = """
import pickle, sys, time
import pandas as pd
started = time.perf_counter()
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


def run_case(code: str, *arguments: str) -> tuple[float, float]:
    """Seconds the case reports and its peak RSS in MB, in a fresh interpreter."""
    process = subprocess.Popen(
        [sys.executable, "-c", code, *arguments],
        stdout=subprocess.PIPE,
        text=True,
        env=os.environ | {"PYTHONPATH": str(ROOT)},
    )
    assert process.stdout is not None
    output = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise RuntimeError(f"case failed with code {process.returncode}")
    return float(output.strip().splitlines()[-1]), usage.ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--cases", default="book,ceiling,local")
    options = parser.parse_args()
    sys.path.insert(0, str(ROOT))

    source = make_input(options.rows)
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
    }
    labels = {
        "book": "(a) book: pandas read_parquet + predict_proba + to_parquet",
        "ceiling": "(b) ceiling: numpy matmul on the loaded array (scoring only)",
        "local": "(c) scalepipe batch score, local engine",
    }
    results: dict[str, tuple[float, float]] = {}
    with tempfile.TemporaryDirectory(prefix="scalepipe-bench-") as folder:
        pickled, store = make_model(Path(folder))
        for case in options.cases.split(","):
            out = Path(folder) / case
            out.mkdir()
            time.sleep(1)  # let the previous process's memory go back to the system
            results[case] = cases[case](out, pickled, store)

    print(f"\n{options.rows:,} games rows, Parquet in, Parquet out ({os.cpu_count()} cores)\n")
    base = results.get("book")
    print("| case | seconds | rows/s | peak RSS MB | speed vs (a) | RSS vs (a) |")
    print("|---|---:|---:|---:|---:|---:|")
    for case, (seconds, rss) in results.items():
        speed = f"{base[0] / seconds:.2f}x" if base else "-"
        memory = f"{rss / base[1]:.2f}" if base else "-"
        rate = options.rows / seconds
        print(f"| {labels[case]} | {seconds:.2f} | {rate:,.0f} | {rss:,.0f} | {speed} | {memory} |")


if __name__ == "__main__":
    main()
