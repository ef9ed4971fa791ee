"""Serving the games logistic model: the book's Flask stack, MLflow, scalepipe, the ceiling.

(a) the book's stack: Flask building a one-row DataFrame + predict_proba, gunicorn,
    2 sync workers (benchmarks/book_flask_app.py); (b) `mlflow models serve`, 2 workers;
(c) `scalepipe serve`, 2 workers; (d) the ceiling: a raw ASGI app answering a constant
JSON body on the same server as (c), 2 workers, asked the same URL as (c) (the server
splits the same request line either way: a shorter URL would flatter the ceiling).
Single-row GETs at 1, 16 and 64 connections and 1,000-row POSTs, measured with wrk, one
server at a time; (c) takes the 1,000 rows in every protocol it speaks.

Goals for (c): at 64 connections at least 12x (a) and 80 % of (d); p99 at 16
connections at most 5 ms; 1,000-row POSTs at least 5 million rows/s in MLflow's
dataframe_split and in the Open Inference Protocol's tensors.

    python benchmarks/serve.py [--seconds 10]      (needs wrk: apt-get install wrk)
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import warnings
from pathlib import Path
from typing import Any

from scalepipe.io import load
from scalepipe.store import ModelStore
from scalepipe.train import train_frame

BIN = Path(sys.executable).parent
HERE = Path(__file__).resolve().parent
CONNECTIONS = (1, 16, 64)
BATCH_ROWS = 1_000
CEILING = """
import sys
from scalepipe.serve.runner import run_workers
BODY = b'{"response": "0.1", "success": true}'
HEADERS = [(b"content-type", b"application/json"), (b"content-length", str(len(BODY)).encode())]

async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    more = True
    while more:
        more = (await receive()).get("more_body", False)
    await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
    await send({"type": "http.response.body", "body": BODY})

run_workers(lambda: app, "127.0.0.1", int(sys.argv[1]), 2)
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_until_up(url: str, process: subprocess.Popen[bytes], seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}: {url}")
        try:
            urllib.request.urlopen(url, timeout=1).read()
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"server did not come up: {url}")


def wrk(url: str, connections: int, seconds: int, script: Path | None = None) -> dict[str, float]:
    command = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", url]
    if script is not None:
        command[1:1] = ["-s", str(script)]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
    served = int(re.search(r"(\d+) requests in", output).group(1))  # type: ignore[union-attr]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", output)
    scale = {"us": 1e-3, "ms": 1.0, "s": 1e3}
    return {
        "rate": rate,
        "requests": served,
        "p99_ms": float(p99.group(1)) * scale[p99.group(2)] if p99 else float("nan"),
        "errors": float(errors.group(1)) if errors else 0.0,
    }


def group_cpu_seconds(group: int) -> dict[int, float]:
    """CPU seconds used so far by each process of a process group (from /proc)."""
    ticks = os.sysconf("SC_CLK_TCK")
    used = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == group:
            used[int(entry.name)] = (int(fields[11]) + int(fields[12])) / ticks
    return used


def post_script(folder: Path, name: str, body: Any, content_type: str = "application/json") -> Path:
    path = folder / f"{name}.lua"
    text = body if isinstance(body, str) else json.dumps(body)
    path.write_text(
        f'wrk.method = "POST"\nwrk.body = {json.dumps(text)}\n'
        f'wrk.headers["Content-Type"] = "{content_type}"\n'
    )
    return path


def protocol_scripts(
    folder: Path, features: list[str], records: list[dict[Any, int]]
) -> dict[str, tuple[str, Path]]:
    """The same 1,000 rows in each protocol scalepipe serve speaks: (path, wrk script)."""
    rows = [[r[c] for c in features] for r in records]
    split = {"dataframe_split": {"columns": features, "data": rows}}
    matrix = [
        {
            "name": "features",
            "shape": [len(rows), len(features)],
            "datatype": "INT64",
            "data": [value for row in rows for value in row],
        }
    ]
    per_feature = [
        {"name": c, "shape": [len(rows)], "datatype": "INT64", "data": [r[c] for r in records]}
        for c in features
    ]
    csv = ",".join(features) + "\n" + "".join(",".join(map(str, row)) + "\n" for row in rows)
    return {
        "MLflow dataframe_split /invocations": (
            "/invocations", post_script(folder, "split", split)),
        "MLflow text/csv /invocations": (
            "/invocations", post_script(folder, "csv", csv, "text/csv")),
        "KServe V1 instances (rows) :predict": (
            "/v1/models/games:predict", post_script(folder, "v1rows", {"instances": rows})),
        "instances (objects) /v1/.../predict": (
            "/v1/models/games/predict", post_script(folder, "records", {"instances": records})),
        "V2 tensors, one [1000, 10]": (
            "/v2/models/games/infer", post_script(folder, "v2matrix", {"inputs": matrix})),
        "V2 tensors, one per feature": (
            "/v2/models/games/infer", post_script(folder, "v2features", {"inputs": per_feature})),
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10, help="length of each wrk run")
    options = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is needed: apt-get install wrk")
    warnings.simplefilter("ignore")
    games = load("games")
    trained = train_frame(games, "games", "logistic", plot_dir=None)
    features = list(trained.signature.names)
    record = {name: str(int(value)) for name, value in games[features].iloc[3].items()}
    query = "&".join(f"{k}={v}" for k, v in record.items())
    records = [
        {k: int(v) for k, v in row.items()}
        for row in games[features].head(BATCH_ROWS).to_dict("records")
    ]

    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        store = ModelStore(str(folder / "models"))
        store.publish(trained.model, "games", signature=trained.signature, alias="champion")
        pickled = folder / "logit.pkl"
        pickled.write_bytes(pickle.dumps(trained.model))
        ceiling = folder / "ceiling.py"
        ceiling.write_text(CEILING)
        path = f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"  # mlflow execs uvicorn by name
        env = os.environ | {"BOOK_MODEL": str(pickled), "PYTHONPATH": str(HERE), "PATH": path}
        split = {
            "dataframe_split": {
                "columns": features,
                "data": [[r[c] for c in features] for r in records],
            }
        }
        cases: dict[str, tuple[list[str], str, str, Path]] = {
            "(a) book: Flask + gunicorn, 2 sync workers": (
                [str(BIN / "gunicorn"), "-w", "2", "-b", "127.0.0.1:{port}",
                 "--log-level", "warning", "book_flask_app:app"],
                "/?" + query, "/batch", post_script(folder, "book", records),
            ),
            "(b) mlflow models serve, 2 workers": (
                [str(BIN / "mlflow"), "models", "serve", "-m", str(store.local_folder("games", 1)),
                 "--env-manager", "local", "-w", "2", "-h", "127.0.0.1", "-p", "{port}"],
                "/invocations", "/invocations", post_script(folder, "mlflow", split),
            ),
            "(c) scalepipe serve, 2 workers": (
                [str(BIN / "scalepipe"), "serve", "games", "--store", store.url,
                 "--workers", "2", "--port", "{port}"],
                "/?" + query, "", Path(),
            ),
            "(d) ceiling: raw ASGI constant, same server, 2 workers": (
                [sys.executable, str(ceiling), "{port}"],
                "/?" + query, "/", post_script(folder, "ceiling", split),
            ),
        }  # fmt: skip
        one_row_mlflow = post_script(
            folder,
            "mlflow-one",
            {"dataframe_split": {"columns": features, "data": [[int(v) for v in record.values()]]}},
        )
        results: dict[str, dict[str, dict[str, float]]] = {}
        for name, (command, get_path, post_path, batch_script) in cases.items():
            port = free_port()
            process = subprocess.Popen(
                [part.format(port=port) for part in command], env=env, cwd=HERE,
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
            )  # fmt: skip
            base = f"http://127.0.0.1:{port}"
            try:
                wait_until_up(
                    base
                    + ("/ping" if "mlflow" in name else "/healthz" if "scalepipe" in name else "/"),
                    process,
                )
                measured: dict[str, dict[str, float]] = {}
                for connections in CONNECTIONS:
                    before = group_cpu_seconds(process.pid)
                    if "mlflow" in name:  # MLflow scores only POSTed frames
                        measured[f"get{connections}"] = wrk(
                            base + get_path, connections, options.seconds, one_row_mlflow
                        )
                    else:
                        measured[f"get{connections}"] = wrk(
                            base + get_path, connections, options.seconds
                        )
                    after = group_cpu_seconds(process.pid)
                    busy = sorted(after[pid] - before.get(pid, 0.0) for pid in after)
                    measured[f"get{connections}"]["cores"] = sum(busy) / options.seconds
                    measured[f"get{connections}"]["busiest_share"] = busy[-1] / max(sum(busy), 1e-9)
                if "scalepipe" in name:
                    forms = protocol_scripts(folder, features, records)
                    for form, (path, script) in forms.items():
                        measured[f"batch {form}"] = wrk(base + path, 4, options.seconds, script)
                    measured["batch"] = measured[f"batch {next(iter(forms))}"]
                else:
                    measured["batch"] = wrk(base + post_path, 4, options.seconds, batch_script)
                results[name] = measured
                print(f"measured {name}", file=sys.stderr)
            finally:
                if process.poll() is None:
                    os.killpg(process.pid, signal.SIGTERM)
                process.wait(timeout=60)
    report(results)


def report(results: dict[str, dict[str, dict[str, float]]]) -> None:
    names = list(results)
    book, ceiling = results[names[0]], results[names[3]]
    columns = ("1 conn", "16 conn", "64 conn", "p99@16", "x (a)@64", "% (d)@64")
    print(f"{'single-row requests/s (wrk -t1)':56} " + " ".join(f"{c:>9}" for c in columns))
    for name, measured in results.items():
        rates = [measured[f"get{c}"]["rate"] for c in CONNECTIONS]
        times_book = rates[2] / book["get64"]["rate"]
        of_ceiling = 100 * rates[2] / ceiling["get64"]["rate"]
        print(
            f"{name:56} {rates[0]:>9,.0f} {rates[1]:>9,.0f} {rates[2]:>9,.0f} "
            f"{measured['get16']['p99_ms']:>7.2f}ms {times_book:>8.1f}x {of_ceiling:>8.0f}%"
        )
    print(f"\n{'server CPU during the 64-connection run':56} {'cores':>9} {'busiest process':>16}")
    for name, measured in results.items():
        run = measured["get64"]
        print(f"{name:56} {run['cores']:>9.2f} {run['busiest_share']:>15.0%}")
    header = f"{'req/s':>9} {'rows/s':>12} {'x (a)':>8} {'errors':>7}"
    print(f"\n{f'{BATCH_ROWS:,}-row POSTs (4 connections)':56} {header}")
    for name, measured in results.items():
        if "scalepipe" in name:
            print(name)
        for key, run in measured.items():
            if not key.startswith("batch") or (key == "batch" and "scalepipe" in name):
                continue
            label = name if key == "batch" else f"  {key.removeprefix('batch ')}"
            rate = run["rate"]
            print(
                f"{label:56} {rate:>9,.0f} {rate * BATCH_ROWS:>12,.0f} "
                f"{rate / book['batch']['rate']:>7.1f}x {run['errors']:>7.0f}"
            )


if __name__ == "__main__":
    main()
