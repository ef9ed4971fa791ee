"""Serverless handlers for the games logistic model: the book's Lambda way, an
MLflow-pyfunc handler and scalepipe's, side by side.

Cold start: a fresh process imports the handler, loads the model and answers one
event. (a) the book: joblib-loaded scikit-learn model, a one-row DataFrame per event;
(b) mlflow.pyfunc.load_model of the same store version; (c) scalepipe's Lambda zip,
unpacked and run by `python -I -S` (the standard library only), model bundled; (c')
scalepipe loading the model from a local S3 server (moto). Warm: one invocation in a
process that has already answered. Goals: cold start from a bundled model at most
0.5 s and at least 5x faster than (b); warm at most 50 µs; the zip at most 15 MB.

    python benchmarks/functions.py
"""

from __future__ import annotations

import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import timeit
import warnings
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import joblib
import pandas as pd

from scalepipe.functions.package import build_lambda_zip
from scalepipe.functions.runtime import FunctionRuntime
from scalepipe.io import load
from scalepipe.store import ModelStore
from scalepipe.train import train_frame

EVENT = {f"G{i}": str(int(i in (1, 10))) for i in range(1, 11)}
BIN = Path(sys.executable).parent


def cold(command: list[str], env: dict[str, str] | None = None, repeats: int = 5) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True, env=env)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def warm(call: Callable[[], Any]) -> float:
    timer = timeit.Timer(call)
    loops, _ = timer.autorange()
    return min(timer.repeat(repeat=5, number=loops)) / loops


@contextmanager
def s3_server() -> Iterator[str]:
    """moto's S3 server on a free port of 127.0.0.1, for the duration of the block."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(300):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(timeout=10)


def main() -> None:
    warnings.simplefilter("ignore")
    import boto3
    import mlflow.pyfunc

    trained = train_frame(load("games"), "games", "logistic", plot_dir=None)
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        store = ModelStore(str(folder / "models"))
        store.publish(trained.model, "games", signature=trained.signature, alias="champion")
        model_dir = str(store.local_folder("games", 1))
        pickled = folder / "model.joblib"
        joblib.dump(trained.model, pickled)
        built = build_lambda_zip(f"{store.url}/games", folder / "lambda.zip", bundle_model=True)
        unpacked = folder / "unpacked"
        with zipfile.ZipFile(built.path) as archive:
            archive.extractall(unpacked)

        book_code = (
            "import joblib, pandas as pd; "
            f"m = joblib.load({str(pickled)!r}); "
            f"x = pd.DataFrame.from_dict({EVENT!r}, orient='index').transpose(); "
            "print(m.predict_proba(x)[0][1])"
        )
        mlflow_code = (
            "import pandas as pd, mlflow.pyfunc; "
            f"m = mlflow.pyfunc.load_model({model_dir!r}); "
            f"print(m.predict(pd.DataFrame([{EVENT!r}])))"
        )
        ours_code = (
            f"import sys; sys.path.insert(0, {str(unpacked)!r}); import lambda_function; "
            f"print(lambda_function.handler({EVENT!r}, None))"
        )
        quiet = [sys.executable, "-W", "ignore", "-c"]
        results_cold = {
            "(a) book: joblib + one-row DataFrame": cold([*quiet, book_code]),
            "(b) mlflow.pyfunc handler": cold([*quiet, mlflow_code]),
            "(c) scalepipe zip, bundled model, python -I -S": cold(
                [sys.executable, "-I", "-S", "-c", ours_code]
            ),
        }

        with s3_server() as endpoint:
            env = os.environ | {
                "AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench",
                "AWS_DEFAULT_REGION": "us-east-1", "AWS_ENDPOINT_URL": endpoint,
            }  # fmt: skip
            os.environ.update(env)
            boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket="models")
            ModelStore("s3://models/store").publish(
                trained.model, "games", signature=trained.signature, alias="champion"
            )
            s3_code = (
                "from scalepipe.functions import aws_lambda; "
                f"print(aws_lambda.handler({EVENT!r}, None))"
            )
            results_cold["(c') scalepipe, model from S3 (moto)"] = cold(
                [sys.executable, "-c", s3_code],
                env | {"SCALEPIPE_MODEL": "s3://models/store/games"},
            )

        model = joblib.load(pickled)
        pyfunc = mlflow.pyfunc.load_model(model_dir)
        runtime = FunctionRuntime({"SCALEPIPE_MODEL": f"{store.url}/games"})
        from scalepipe.functions import aws_lambda

        aws_lambda.runtime = runtime
        aws_lambda.handler(EVENT, None)

        def book_handler() -> dict[str, Any]:
            x = pd.DataFrame.from_dict(EVENT, orient="index").transpose()
            return {
                "statusCode": 200,
                "body": json.dumps({"response": str(model.predict_proba(x)[0][1])}),
            }

        def mlflow_handler() -> dict[str, Any]:
            prediction = pyfunc.predict(pd.DataFrame([EVENT]).astype(int))
            return {"statusCode": 200, "body": json.dumps({"response": str(prediction[0][1])})}

        results_warm = {
            "(a) book: joblib + one-row DataFrame": warm(book_handler),
            "(b) mlflow.pyfunc handler": warm(mlflow_handler),
            "(c) scalepipe aws_lambda.handler": warm(lambda: aws_lambda.handler(EVENT, None)),
        }

    base = results_cold["(b) mlflow.pyfunc handler"]
    print(f"{'cold start (fresh process, median of 5)':52} {'seconds':>9} {'vs (b)':>8}")
    for name, seconds in results_cold.items():
        print(f"{name:52} {seconds:>9.3f} {base / seconds:>7.1f}x")
    book = results_warm["(a) book: joblib + one-row DataFrame"]
    print(f"\n{'warm invocation (in process)':52} {'µs':>9} {'vs (a)':>8}")
    for name, seconds in results_warm.items():
        print(f"{name:52} {seconds * 1e6:>9.1f} {book / seconds:>7.1f}x")
    print(
        f"\nLambda zip (bundled model): {built.zipped_bytes / 1024:.0f} kB zipped, "
        f"{built.unzipped_bytes / 1024:.0f} kB unzipped; libraries: none"
    )


if __name__ == "__main__":
    main()
