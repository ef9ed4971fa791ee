"""Deep feature synthesis, side by side, on the same generated NHL plays, each case a
fresh process:

    python benchmarks/features.py [--games 17000] [--cases featuretools,duckdb,spark,...]

(a) the book's features (87: one-hot event and secondary type, every default primitive,
depth 2): featuretools 1.31 as the book runs it, scalepipe on DuckDB, scalepipe on Spark
local[2] (the second job of a session, as a running cluster would run it);
(b) fastdfs's own SQL engine (dfs2sql) against scalepipe on DuckDB with the primitives
fastdfs supports (sum, std, max, min, mean, count, mode; no one-hot): 47 features each;
(c) one new game in the Predictor of the published NHL model: its plays as a client sends
them (JSON records) to the prediction, through the feature row (median of 200 games).

featuretools and fastdfs run in .venv-featuretools (`make .venv-featuretools`; both need
pandas < 3). Figures: seconds from the interpreter's start (imports included), reading
the plays' Parquet file (scalepipe: DuckDB reads it itself) and producing the feature
table; peak RSS (GNU time).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from harness import run_case

ROOT = Path(__file__).resolve().parents[1]
CACHE = Path.home() / ".cache" / "scalepipe-bench"
FEATURETOOLS = ROOT / ".venv-featuretools" / "bin" / "python"
FASTDFS_PRIMITIVES = ("sum", "std", "max", "min", "mean", "count", "mode")

FEATURETOOLS_CASE = """
import sys, time
started = time.perf_counter()
sys.path.insert(0, sys.argv[3])
import featuretools_reference
featuretools_reference.main(sys.argv[1], sys.argv[2])
print(time.perf_counter() - started)
"""

DUCKDB_CASE = """
import sys, time
started = time.perf_counter()
import pyarrow.parquet as pq
from scalepipe.features import dfs, nhl_spec
features = dfs(nhl_spec(), {{"game_plays": sys.argv[1]}})  # DuckDB reads the file
pq.write_table(features.table, sys.argv[2])
assert len(features.names) == 87
print(time.perf_counter() - started)
"""

SPARK_CASE = """
import sys, time
from scalepipe.features import dfs, nhl_spec
from scalepipe.spark import spark_session
spark = spark_session()
dfs(nhl_spec(), {{"game_plays": spark.read.parquet(sys.argv[3])}}, engine="spark", spark=spark)
started = time.perf_counter()
features = dfs(nhl_spec(), {{"game_plays": spark.read.parquet(sys.argv[1])}}, engine="spark",
               spark=spark)
import pyarrow.parquet as pq
pq.write_table(features.table, sys.argv[2])
print(time.perf_counter() - started)
"""

FASTDFS_CASE = """
import sys, time, warnings
started = time.perf_counter()
warnings.filterwarnings("ignore")
import pandas as pd
from fastdfs.api import compute_dfs_features, create_rdb
plays = pd.read_parquet(sys.argv[1])
games = pd.DataFrame({{"game_id": plays["game_id"].unique()}})
rdb = create_rdb({{"games": games, "plays": plays}},
                 primary_keys={{"games": "game_id", "plays": "play_id"}},
                 foreign_keys=[("plays", "game_id", "games", "game_id")])
matrix = compute_dfs_features(rdb, games.copy(), {{"game_id": "games.game_id"}},
                              config_overrides={{"max_depth": 2, "engine": "dfs2sql",
                                                 "agg_primitives": {primitives!r},
                                                 "use_cutoff_time": False}})
matrix.to_parquet(sys.argv[2])
assert matrix.shape[1] - 1 == 47, matrix.shape
print(time.perf_counter() - started)
"""

DUCKDB_FASTDFS_CASE = """
import sys, time
started = time.perf_counter()
import dataclasses
import pyarrow.parquet as pq
from scalepipe.features import dfs, nhl_spec
spec = dataclasses.replace(nhl_spec(), one_hot={{}}, ignore=("event", "secondaryType"),
                           aggregations={primitives!r}, transforms=())
features = dfs(spec, {{"game_plays": sys.argv[1]}})
pq.write_table(features.table, sys.argv[2])
assert len(features.names) == 47, len(features.names)
print(time.perf_counter() - started)
"""

ONE_GAME_CASE = """
import json, statistics, sys, tempfile, time
import pyarrow.parquet as pq
from scalepipe.predict import Predictor
from scalepipe.store import ModelStore
from scalepipe.train import train
plays = pq.read_table(sys.argv[1]).to_pandas()
trained = train("nhl", "logistic", rows=1400, plot=False)
store = ModelStore(tempfile.mkdtemp())
trained.publish(store, name="nhl")
predictor = Predictor.load("nhl:1", store=store)
games = [json.loads(frame.to_json(orient="records", date_format="iso"))
         for _, frame in plays.groupby("game_id")][:200]
predictor.predict_children(games[0])
times = []
for records in games:
    started = time.perf_counter()
    predictor.predict_children(records)
    times.append(time.perf_counter() - started)
print(statistics.median(times))
"""


def make_input(games: int) -> Path:
    """The generated NHL plays of `games` games, as one Parquet file (cached)."""
    path = CACHE / f"nhl-plays-{games}.parquet"
    if path.is_file():
        return path
    import pyarrow as pa
    import pyarrow.parquet as pq

    from scalepipe.io import load_tables

    CACHE.mkdir(parents=True, exist_ok=True)
    plays = load_tables("nhl", rows=games, seed=11)["game_plays"]
    partial = path.with_suffix(".part")
    pq.write_table(pa.Table.from_pandas(plays, preserve_index=False), partial)
    partial.replace(path)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--games", type=int, default=17_000, help="about 290 plays a game")
    parser.add_argument(
        "--cases", default="featuretools,duckdb,spark,fastdfs,duckdb_fastdfs,one_game"
    )
    options = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    plays = make_input(options.games)
    small = make_input(200)
    if not FEATURETOOLS.exists():
        sys.exit(f"{FEATURETOOLS} is missing: make .venv-featuretools")
    import pyarrow.parquet as pq

    rows = pq.read_metadata(plays).num_rows
    reference = str(ROOT / "tests" / "features")
    primitives = FASTDFS_PRIMITIVES
    cases: dict[str, Callable[[Path], tuple[float, float]]] = {
        "featuretools": lambda out: run_case(
            FEATURETOOLS_CASE, str(plays), str(out), reference, python=FEATURETOOLS
        ),
        "duckdb": lambda out: run_case(DUCKDB_CASE.format(), str(plays), str(out)),
        "spark": lambda out: run_case(SPARK_CASE.format(), str(plays), str(out), str(small)),
        "fastdfs": lambda out: run_case(
            FASTDFS_CASE.format(primitives=list(primitives)),
            str(plays),
            str(out),
            python=FEATURETOOLS,
        ),
        "duckdb_fastdfs": lambda out: run_case(
            DUCKDB_FASTDFS_CASE.format(primitives=primitives), str(plays), str(out)
        ),
        "one_game": lambda out: run_case(ONE_GAME_CASE.format(), str(small)),
    }
    labels = {
        "featuretools": "(a) featuretools 1.31, the book's steps (87 features)",
        "duckdb": "(a) scalepipe dfs on DuckDB (87 features)",
        "spark": "(a) scalepipe dfs on Spark SQL, local[2] (87 features)",
        "fastdfs": "(b) fastdfs dfs2sql, its primitives (47 features)",
        "duckdb_fastdfs": "(b) scalepipe dfs on DuckDB, the same primitives (47 features)",
        "one_game": "(c) one game's plays to its prediction, scalepipe's Predictor (median)",
    }
    results: dict[str, tuple[float, float]] = {}
    with tempfile.TemporaryDirectory(prefix="scalepipe-bench-") as folder:
        for case in options.cases.split(","):
            time.sleep(1)
            results[case] = cases[case](Path(folder) / f"{case}.parquet")

    print(f"\n{rows:,} generated NHL plays of {options.games:,} games, Parquet in "
          f"({os.cpu_count()} cores)\n")  # fmt: skip
    print("| case | seconds | peak RSS MB | speed vs featuretools | RSS vs featuretools |")
    print("|---|---:|---:|---:|---:|")
    base = results.get("featuretools")
    for case, (seconds, rss) in results.items():
        if case == "one_game":
            print(f"| {labels[case]} | {seconds * 1000:.2f} ms | {rss:,.0f} | - | - |")
            continue
        faster = f"{base[0] / seconds:.1f}x" if base else "-"
        lighter = f"{rss / base[1]:.2f}" if base else "-"
        print(f"| {labels[case]} | {seconds:.2f} | {rss:,.0f} | {faster} | {lighter} |")
    print()
    if "featuretools" in results and "duckdb" in results:
        speed = results["featuretools"][0] / results["duckdb"][0]
        memory = results["duckdb"][1] / results["featuretools"][1]
        print(f"DuckDB vs featuretools (goal 20x, RSS <= 1/5): {speed:.1f}x, RSS {memory:.2f}"
              f"{' met' if speed >= 20 and memory <= 0.2 else ' NOT met'}")  # fmt: skip
    if "fastdfs" in results and "duckdb_fastdfs" in results:
        speed = results["fastdfs"][0] / results["duckdb_fastdfs"][0]
        print(
            f"DuckDB vs fastdfs (goal 1.5x): {speed:.2f}x{' met' if speed >= 1.5 else ' NOT met'}"
        )
    if "one_game" in results:
        milliseconds = results["one_game"][0] * 1000
        print(f"one game's feature row (goal <= 5 ms inside the Predictor): {milliseconds:.2f} ms"
              f"{' met' if milliseconds <= 5 else ' NOT met'}")  # fmt: skip


if __name__ == "__main__":
    main()
