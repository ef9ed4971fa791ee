"""Predicting with the games logistic model: the book's way, MLflow's pyfunc, the Predictor.

(a) the book's Flask code: a one-row DataFrame built from the request dict, then
    predict_proba; (b) mlflow.pyfunc on the same store version; (c) scalepipe's
    Predictor. Cold start: a fresh process that imports, loads from a local store and
    predicts once, for (b) and (c). Goals for (c): one row at least 50x (a) and 80x (b);
    predict_records on 1,000 rows at least 300,000 rows/s; predict_array at least
    10 million rows/s; cold start at most 0.5 s and at least 5x faster than (b).

    python benchmarks/predictor.py
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
import timeit
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from scalepipe.io import load
from scalepipe.predict import Predictor
from scalepipe.store import ModelStore
from scalepipe.train import train_frame

ROWS = 1_000


def per_call_seconds(call: Callable[[], Any], budget: float = 1.0) -> float:
    """Median seconds per call over 5 rounds, each sized to take about budget/5 s."""
    timer = timeit.Timer(call)
    loops, _ = timer.autorange()
    rounds = timer.repeat(repeat=5, number=max(1, int(loops * budget / 5 / 0.2)))
    return statistics.median(rounds) / max(1, int(loops * budget / 5 / 0.2))


def cold_start_seconds(code: str, repeats: int = 5) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run(
            [sys.executable, "-W", "ignore", "-c", code], check=True, capture_output=True
        )
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    warnings.simplefilter("ignore")
    import mlflow.pyfunc

    games = load("games")
    trained = train_frame(games, "games", "logistic")
    names = list(trained.signature.names)
    features = games[names]
    record = {name: int(value) for name, value in features.iloc[3].items()}
    records = [
        {k: int(v) for k, v in row.items()} for row in features.head(ROWS).to_dict("records")
    ]
    matrix = features.head(ROWS).to_numpy(dtype=np.float64)

    with tempfile.TemporaryDirectory() as folder:
        store = ModelStore(folder)
        store.publish(trained.model, "games", signature=trained.signature, alias="champion")
        model_dir = str(store.local_folder("games", 1))
        pyfunc = mlflow.pyfunc.load_model(model_dir)
        predictor = Predictor.load("games", store=store)
        model = trained.model

        def book_one() -> float:
            row = pd.DataFrame.from_dict(record, orient="index").transpose()
            return float(model.predict_proba(row)[0][1])

        def mlflow_one() -> float:
            return float(np.asarray(pyfunc.predict(pd.DataFrame([record])))[0, 1])

        assert abs(book_one() - predictor.predict_one(record)) < 1e-12
        assert abs(mlflow_one() - predictor.predict_one(record)) < 1e-12
        one = {
            "(a) book: one-row DataFrame + predict_proba": per_call_seconds(book_one),
            "(b) mlflow.pyfunc predict": per_call_seconds(mlflow_one),
            "(c) Predictor.predict_one": per_call_seconds(lambda: predictor.predict_one(record)),
            "(c) Predictor.predict_records, 1 row": per_call_seconds(
                lambda: predictor.predict_records([record])
            ),
        }
        batch = {
            "(a) book: DataFrame(records) + predict_proba": per_call_seconds(
                lambda: model.predict_proba(pd.DataFrame(records)[names])
            ),
            "(b) mlflow.pyfunc predict(DataFrame(records))": per_call_seconds(
                lambda: pyfunc.predict(pd.DataFrame(records))
            ),
            "(c) Predictor.predict_records": per_call_seconds(
                lambda: predictor.predict_records(records)
            ),
            "(c) Predictor.predict_frame": per_call_seconds(
                lambda: predictor.predict_frame(features.head(ROWS))
            ),
            "(c) Predictor.predict_array": per_call_seconds(
                lambda: predictor.predict_array(matrix)
            ),
        }
        cold = {
            "(b) mlflow.pyfunc: import, load, predict": cold_start_seconds(
                "import pandas as pd, mlflow.pyfunc; "
                f"m = mlflow.pyfunc.load_model({model_dir!r}); "
                f"m.predict(pd.DataFrame([{record!r}]))"
            ),
            "(c) Predictor: import, load, predict": cold_start_seconds(
                "from scalepipe.predict import Predictor; "
                f"Predictor.load({folder!r} + '/games').predict_one({record!r})"
            ),
        }

    book, mlflow_ = (
        one["(a) book: one-row DataFrame + predict_proba"],
        one["(b) mlflow.pyfunc predict"],
    )
    header = f"{'µs/call':>10} {'rows/s':>14} {'vs (a)':>8} {'vs (b)':>8}"
    print(f"{'one row (games logistic)':48} {header}")
    for name, seconds in one.items():
        print(
            f"{name:48} {seconds * 1e6:>10.2f} {1 / seconds:>14,.0f} "
            f"{book / seconds:>7.1f}x {mlflow_ / seconds:>7.1f}x"
        )
    base_a = batch["(a) book: DataFrame(records) + predict_proba"]
    base_b = batch["(b) mlflow.pyfunc predict(DataFrame(records))"]
    print(f"\n{f'{ROWS:,} rows':48} {header}")
    for name, seconds in batch.items():
        print(
            f"{name:48} {seconds * 1e6:>10.1f} {ROWS / seconds:>14,.0f} "
            f"{base_a / seconds:>7.1f}x {base_b / seconds:>7.1f}x"
        )
    mlflow_cold = cold["(b) mlflow.pyfunc: import, load, predict"]
    print(f"\n{'cold start (fresh process, median of 5)':48} {'seconds':>10} {'vs (b)':>8}")
    for name, seconds in cold.items():
        print(f"{name:48} {seconds:>10.3f} {mlflow_cold / seconds:>7.1f}x")


if __name__ == "__main__":
    main()
