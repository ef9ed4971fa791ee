"""Drift monitoring, side by side: `scalepipe monitor drift` and Evidently's data drift
preset on the same logged rows; and the server's throughput with and without
--log-predictions.

(1) Drift on 1,000,000 logged rows x 10 features (six continuous, two counts, two
binary; three of them shifted), each case a fresh process that times its own work
(reading its inputs is timed where it is part of the job, said in the case's name):
scalepipe against the training profile (the card's), from columns in memory, from a
Parquet log and from a JSON Lines log; Evidently 0.7's DataDriftPreset against the
100,000 training rows, given both as pandas frames already in memory
(.venv-evidently: `make bench` makes it).
(2) `scalepipe serve games`, 2 workers, one-row GETs at 64 connections with wrk: as it
comes (rolling drift gauges on), with --log-predictions (a JSON Lines file), and without
the drift gauges; alternated five times. Throughput at saturation on a shared 2-core
machine swings by 10-20 % from run to run, more than the cost measured, so each run
also reports the server's CPU time per request (all its processes, from /proc) and the
log writer's CPU time per record (its /metrics counter): their ratio is the log's
share of the server's work.

Goals: the drift report <= 1 s and >= 50x Evidently; logging costs <= 5 % of req/s.
The model is trained here, so its card holds the profile the gauges measure against.

    python benchmarks/monitor.py [--rows 1000000] [--seconds 10] [--rounds 5] [--no-serving]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import orjson
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from harness import ROOT, run_case

from scalepipe.train.profile import feature_profile

EVIDENTLY = ROOT / ".venv-evidently" / "bin" / "python"
EVIDENTLY_READY = ROOT / ".venv-evidently" / ".installed"
TRAINING_ROWS = 100_000
SHIFTED = ("income", "visits", "member")

SCALEPIPE_MEMORY = """
import sys, json, time
import numpy as np, pyarrow.parquet as pq
from scalepipe.monitor import measure
profile = json.load(open(sys.argv[1]))
table = pq.read_table(sys.argv[2])
columns = {name: table.column(name).to_numpy() for name in table.column_names}
started = time.perf_counter()
report = measure(profile, columns, model="bench", version=1)
assert report.drifted == sorted(report.drifted, key=list(profile["features"]).index)
print(json.dumps(report.drifted), file=sys.stderr)
print(time.perf_counter() - started)
"""

SCALEPIPE_LOG = """
import sys, json, time
from scalepipe.monitor import measure
from scalepipe.monitor.logs import read_log
import duckdb, fsspec, pyarrow.dataset  # imported before the clock, as in the other cases
profile = json.load(open(sys.argv[1]))
started = time.perf_counter()
logged = read_log(sys.argv[2], "bench", list(profile["features"]))
report = measure(profile, logged.columns, model="bench", version=1)
print(json.dumps(report.drifted), file=sys.stderr)
print(time.perf_counter() - started)
"""

EVIDENTLY_CASE = """
import sys, time, warnings
warnings.simplefilter("ignore")
import pandas as pd
from evidently import Report
from evidently.presets import DataDriftPreset
reference = pd.read_parquet(sys.argv[1])
current = pd.read_parquet(sys.argv[2])
started = time.perf_counter()
snapshot = Report([DataDriftPreset()]).run(current_data=current, reference_data=reference)
found = snapshot.dict()
print(time.perf_counter() - started)
"""


def frame(rng: np.random.Generator, rows: int, shifted: bool) -> pd.DataFrame:
    move = 1.0 if shifted else 0.0
    columns = {
        "income": rng.normal(50 + 10 * move, 10, rows),
        "age": rng.normal(40, 12, rows),
        "balance": rng.lognormal(8, 1, rows),
        "score": rng.uniform(300, 850, rows),
        "tenure": rng.exponential(5, rows),
        "rate": rng.beta(2, 5, rows),
        "visits": rng.poisson(30 + 6 * move, rows),
        "items": rng.poisson(3, rows),
        "member": rng.binomial(1, 0.8 if shifted else 0.5, rows),
        "mobile": rng.binomial(1, 0.3, rows),
    }
    table = pd.DataFrame(columns)
    logit = 0.03 * (table["income"] - 50) + 0.5 * table["member"] - 1
    table["output"] = 1 / (1 + np.exp(-logit))
    return table


def write_logs(current: pd.DataFrame, folder: Path) -> tuple[Path, Path]:
    """The rows as prediction records: a Parquet log (inputs as a struct) and a JSON
    Lines log, as the server writes them."""
    features = [name for name in current.columns if name != "output"]
    rows = len(current)
    times = pd.date_range("2026-12-01", periods=rows, freq="10ms", tz="UTC")
    inputs = pa.StructArray.from_arrays(
        [pa.array(current[name].to_numpy()) for name in features], names=features
    )
    table = pa.table({
        "time": pa.array(times.strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")),
        "model": pa.array(["bench"] * rows),
        "version": pa.array(np.ones(rows, dtype=np.int64)),
        "id": pa.array([f"r:{i}" for i in range(rows)]),
        "inputs": inputs,
        "output": pa.array(current["output"].to_numpy()),
        "latency_ms": pa.array(np.full(rows, 0.2)),
    })  # fmt: skip
    parquet = folder / "log.parquet"
    parquet.mkdir()
    pq.write_table(table, parquet / "part-0.parquet")
    jsonl = folder / "log.jsonl"
    with jsonl.open("wb") as handle:
        for record in table.to_pylist():
            handle.write(orjson.dumps(record) + b"\n")
    return parquet, jsonl


def drift_cases(rows: int) -> list[tuple[str, float, float, int]]:
    rng = np.random.default_rng(0)
    training = frame(rng, TRAINING_ROWS, shifted=False)
    current = frame(rng, rows, shifted=True)
    features = [name for name in training.columns if name != "output"]
    results = []
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        profile = feature_profile(training, features, output=training["output"])
        (folder / "profile.json").write_text(json.dumps(profile))
        training[features].to_parquet(folder / "reference.parquet")
        current[features].to_parquet(folder / "current-features.parquet")
        current.to_parquet(folder / "current.parquet")
        parquet, jsonl = write_logs(current, folder)
        cases = [
            ("scalepipe: columns in memory (computation only)", SCALEPIPE_MEMORY,
             folder / "current.parquet", sys.executable),
            ("scalepipe: read the Parquet log + compute", SCALEPIPE_LOG, parquet, sys.executable),
            ("scalepipe: read the JSON Lines log + compute", SCALEPIPE_LOG, jsonl, sys.executable),
        ]  # fmt: skip
        for name, code, data, python in cases:
            seconds, peak = run_case(code, str(folder / "profile.json"), str(data), python=python)
            results.append((name, seconds, peak, rows))
            print(f"{name}: {seconds:.3f} s, {peak:,.0f} MB", flush=True)
        if EVIDENTLY_READY.exists():
            name = "Evidently 0.7 DataDriftPreset: frames in memory (computation only)"
            inputs = (str(folder / "reference.parquet"), str(folder / "current-features.parquet"))
            seconds, peak = run_case(EVIDENTLY_CASE, *inputs, python=EVIDENTLY)
            results.append((name, seconds, peak, rows))
            print(f"{name}: {seconds:.3f} s, {peak:,.0f} MB", flush=True)
        else:
            print(f"(no {EVIDENTLY}: make .venv-evidently/.installed)", flush=True)
    return results


LOG_CPU = "scalepipe_prediction_log_cpu_seconds_total"
LOG_RECORDS = "scalepipe_prediction_log_records_total"


def serving_cases(seconds: int, rounds: int) -> dict[str, list[dict[str, float]]]:
    """Per case and round: req/s, the server's CPU per request (all its processes), and
    with the log, its writer's CPU per record (from /metrics)."""
    from serve import free_port, group_cpu_seconds, wait_until_up, wrk

    from scalepipe.io import load
    from scalepipe.store import ModelStore
    from scalepipe.train import train_frame

    games = load("games")
    trained = train_frame(games, "games", "logistic", plot_dir=None)
    row = games[list(trained.signature.names)].iloc[3]
    query = "&".join(f"{name}={int(value)}" for name, value in row.items())
    cases = {
        "without --log-predictions": [],
        "with --log-predictions": ["--log-predictions", "{log}"],
        "without drift gauges (--drift-window 0)": ["--drift-window", "0"],
    }
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in cases}
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        store = ModelStore(str(folder / "models"))
        trained.publish(store, name="games", alias="champion")  # with the training profile
        for round_ in range(rounds):
            for name, extra in cases.items():
                port = free_port()
                log = str(folder / f"log-{round_}.jsonl")
                command = [str(Path(sys.executable).parent / "scalepipe"), "serve", "games",
                           "--store", store.url, "--workers", "2", "--port", str(port),
                           *(part.format(log=log) for part in extra)]  # fmt: skip
                server = subprocess.Popen(command, stdout=subprocess.DEVNULL,
                                          stderr=subprocess.DEVNULL,
                                          start_new_session=True)  # fmt: skip
                try:
                    url = f"http://127.0.0.1:{port}/?{query}"
                    wait_until_up(url, server)
                    wrk(url, 64, 2)  # warm-up
                    time.sleep(1.5)  # the warm-up's log written
                    before = _log_counters(port), sum(group_cpu_seconds(server.pid).values())
                    got = wrk(url, 64, seconds)
                    time.sleep(1.5)  # the run's log written
                    after = _log_counters(port), sum(group_cpu_seconds(server.pid).values())
                finally:
                    server.terminate()
                    server.wait(timeout=60)
                result = {"rate": got["rate"],
                          "cpu_us": (after[1] - before[1]) / got["requests"] * 1e6}  # fmt: skip
                records = after[0][LOG_RECORDS] - before[0][LOG_RECORDS]
                if records:
                    result["log_us"] = (after[0][LOG_CPU] - before[0][LOG_CPU]) / records * 1e6
                runs[name].append(result)
                time.sleep(1)
                print(f"{name}, round {round_ + 1}: {result['rate']:,.0f} req/s, "
                      f"{result['cpu_us']:.0f} us CPU a request"
                      + (f", the log {result['log_us']:.1f} us a record" if records else ""),
                      flush=True)  # fmt: skip
    return runs


def _log_counters(port: int) -> dict[str, float]:
    import requests

    text = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    found = {LOG_CPU: 0.0, LOG_RECORDS: 0.0}
    for line in text.splitlines():
        name, _, value = line.partition(" ")
        if name in found:
            found[name] = float(value)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--seconds", type=int, default=10, help="length of each wrk run")
    parser.add_argument("--rounds", type=int, default=5, help="alternated serving runs")
    parser.add_argument("--no-serving", action="store_true")
    options = parser.parse_args()
    results = drift_cases(options.rows)
    slowest = max(seconds for _, seconds, _, _ in results)
    print(f"\nDrift report, {options.rows:,} logged rows x 10 features (+ the output)\n")
    print("| case | seconds | peak MB | rows/s | speed-up vs the slowest |")
    print("|---|---:|---:|---:|---:|")
    for name, seconds, peak, rows in results:
        print(f"| {name} | {seconds:.3f} | {peak:,.0f} | {rows / seconds:,.0f} | "
              f"{slowest / seconds:.1f}x |")  # fmt: skip
    if options.no_serving:
        return
    runs = serving_cases(options.seconds, options.rounds)
    median = {name: {key: statistics.median(run[key] for run in values if key in run)
                     for key in values[0]} for name, values in runs.items()}  # fmt: skip
    base = median["without --log-predictions"]
    print(f"\nServing games, 2 workers, one-row GETs, 64 connections "
          f"(median of {options.rounds} alternated runs)\n")  # fmt: skip
    print("| case | req/s (median) | runs | vs without | server CPU us a request | vs without |")
    print("|---|---:|---|---:|---:|---:|")
    for name, values in runs.items():
        rates = ", ".join(f"{run['rate']:,.0f}" for run in values)
        rate, cpu = median[name]["rate"], median[name]["cpu_us"]
        print(f"| scalepipe serve {name} | {rate:,.0f} | {rates} | {rate / base['rate']:.1%} "
              f"| {cpu:.0f} | {cpu / base['cpu_us']:.1%} |")  # fmt: skip
    logged = median["with --log-predictions"]
    print(
        f"\nThe prediction log's writer: {logged['log_us']:.1f} us CPU a record (median), "
        f"{logged['log_us'] / base['cpu_us']:.1%} of the server's CPU a request without it."
    )


if __name__ == "__main__":
    main()
