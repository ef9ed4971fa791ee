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
(2) `scalepipe serve games`, one-row GETs at 64 connections with wrk: with
--log-predictions (a JSON Lines file), and without the drift gauges, each against the
server as it comes (rolling drift gauges on, no log). Throughput at saturation on a
shared 2-core machine swings by 10-20 % between identical runs, more than the cost
measured, so the two servers of a comparison (one worker each) run at the same time,
each loaded by its own wrk: what the machine does to one it does to the other, and the
ratio is read per round. Each run also reports the server's CPU time per request (all
its processes, from /proc) and the log writer's CPU time per record (its /metrics
counter).

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
from concurrent.futures import ThreadPoolExecutor
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
    """Per case and round: req/s, the server's CPU per request (all its processes), with
    the log its writer's CPU per record (from /metrics), and both as a ratio to the
    server without the log that ran beside it."""
    from scalepipe.io import load
    from scalepipe.store import ModelStore
    from scalepipe.train import train_frame

    games = load("games")
    trained = train_frame(games, "games", "logistic", plot_dir=None)
    row = games[list(trained.signature.names)].iloc[3]
    query = "&".join(f"{name}={int(value)}" for name, value in row.items())
    cases = {
        "with --log-predictions": ["--log-predictions", "{log}"],
        "without drift gauges (--drift-window 0)": ["--drift-window", "0"],
    }
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in [BASE, *cases]}
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        store = ModelStore(str(folder / "models"))
        trained.publish(store, name="games", alias="champion")  # with the training profile
        for round_ in range(rounds):
            for name, extra in cases.items():
                log = str(folder / f"log-{round_}.jsonl")
                extra = [part.format(log=log) for part in extra]
                pair = [(BASE, []), (name, extra)]
                if round_ % 2:
                    pair.reverse()  # which server starts first
                got = dict(_side_by_side(store.url, query, pair, seconds))
                base, result = got[BASE], got[name]
                result["rate_ratio"] = result["rate"] / base["rate"]
                result["cpu_ratio"] = result["cpu_us"] / base["cpu_us"]
                runs[name].append(result)
                runs[BASE].append(base)
                print(f"round {round_ + 1}, {name}: {result['rate']:,.0f} req/s beside "
                      f"{base['rate']:,.0f} ({result['rate_ratio']:.1%}), CPU a request "
                      f"{result['cpu_us']:.0f} us beside {base['cpu_us']:.0f} us "
                      f"({result['cpu_ratio']:.1%})"
                      + (f", the log {result['log_us']:.1f} us a record" if "log_us" in result
                         else ""), flush=True)  # fmt: skip
    return runs


BASE = "without --log-predictions"


def _side_by_side(
    store: str, query: str, cases: list[tuple[str, list[str]]], seconds: int
) -> list[tuple[str, dict[str, float]]]:
    """Each case a server of one worker, loaded by its own wrk (64 connections) at the
    same time as the others: what the machine does to one it does to all, so their ratio
    holds where req/s alone swings by 10-20 % between identical runs of a shared VM."""
    from serve import free_port, wait_until_up, wrk

    servers = []
    try:
        for _, extra in cases:
            port = free_port()
            command = [str(Path(sys.executable).parent / "scalepipe"), "serve", "games",
                       "--store", store, "--workers", "1", "--port", str(port), *extra]  # fmt: skip
            quiet = subprocess.DEVNULL
            server = subprocess.Popen(command, stdout=quiet, stderr=quiet, start_new_session=True)
            servers.append((server, port, f"http://127.0.0.1:{port}/?{query}"))
            wait_until_up(servers[-1][2], server)
        with ThreadPoolExecutor(len(servers)) as pool:
            list(pool.map(lambda server: wrk(server[2], 64, 2), servers))  # warm-up
            time.sleep(1.5)  # the warm-up's log written
            before = [(_log_counters(port), _cpu(server.pid)) for server, port, _ in servers]
            got = list(pool.map(lambda server: wrk(server[2], 64, seconds), servers))
            time.sleep(1.5)  # the run's log written
            after = [(_log_counters(port), _cpu(server.pid)) for server, port, _ in servers]
    finally:
        for server, _, _ in servers:
            server.terminate()
            server.wait(timeout=60)
    results = []
    for (name, _), run, (log0, cpu0), (log1, cpu1) in zip(cases, got, before, after, strict=True):
        result = {"rate": run["rate"], "cpu_us": (cpu1 - cpu0) / run["requests"] * 1e6}
        records = log1[LOG_RECORDS] - log0[LOG_RECORDS]
        if records:
            result["log_us"] = (log1[LOG_CPU] - log0[LOG_CPU]) / records * 1e6
        results.append((name, result))
    return results


def _cpu(group: int) -> float:
    from serve import group_cpu_seconds

    return sum(group_cpu_seconds(group).values())


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
    print("\nServing games, one-row GETs: each case a 1-worker server loaded at 64 "
          "connections side by side with one without the log, "
          f"{options.rounds} rounds (medians)\n")  # fmt: skip
    print("| case | req/s | vs the one beside it | rounds | server CPU us a request "
          "| vs the one beside it |")  # fmt: skip
    print("|---|---:|---:|---|---:|---:|")
    for name, values in runs.items():
        rate = statistics.median(run["rate"] for run in values)
        cpu = statistics.median(run["cpu_us"] for run in values)
        if name == BASE:
            print(f"| scalepipe serve {name} | {rate:,.0f} | 100% | | {cpu:.0f} | 100% |")
            continue
        ratios = [run["rate_ratio"] for run in values]
        each = ", ".join(f"{ratio:.1%}" for ratio in ratios)
        cpu_ratio = statistics.median(run["cpu_ratio"] for run in values)
        print(f"| scalepipe serve {name} | {rate:,.0f} | {statistics.median(ratios):.1%} "
              f"| {each} | {cpu:.0f} | {cpu_ratio:.1%} |")  # fmt: skip
    logged = runs["with --log-predictions"]
    writer = statistics.median(run["log_us"] for run in logged if "log_us" in run)
    beside = statistics.median(run["cpu_us"] for run in runs[BASE])
    print(f"\nThe prediction log's writer: {writer:.1f} us CPU a record (median), "
          f"{writer / beside:.1%} of a request's CPU without the log.")  # fmt: skip


if __name__ == "__main__":
    main()
