"""Prometheus metrics, correct across worker processes.

With several workers each process counts for itself; prometheus_client's multiprocess
mode keeps every process's values in files under one folder, and /metrics, whichever
worker answers it, sums them. The supervisor makes the folder before it forks.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
from bisect import bisect_left
from collections.abc import Iterator
from contextlib import contextmanager

from scalepipe.serve.background import PeriodicFlush

MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"
FLUSH_SECONDS = 0.25
BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


@contextmanager
def multiprocess_folder() -> Iterator[str]:
    """A fresh folder for the workers' metric files, removed when the server stops."""
    folder = tempfile.mkdtemp(prefix="scalepipe-metrics-")
    previous = os.environ.get(MULTIPROCESS_ENV)
    os.environ[MULTIPROCESS_ENV] = folder
    try:
        yield folder
    finally:
        if previous is None:
            os.environ.pop(MULTIPROCESS_ENV, None)
        else:
            os.environ[MULTIPROCESS_ENV] = previous
        shutil.rmtree(folder, ignore_errors=True)


def worker_exited(pid: int) -> None:
    if os.environ.get(MULTIPROCESS_ENV):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]


class Metrics(PeriodicFlush):
    """Requests by route and status, latency, predictions, loaded model versions, drift.

    Requests only add to plain dicts; flush() moves the totals into prometheus_client's
    (file-backed, locked) values, from a background thread every FLUSH_SECONDS and
    before every /metrics answer. Scrapes may lag a busy worker by that much; a
    request saves the several microseconds that locked file-backed writes cost.
    """

    def __init__(self, flush_seconds: float = FLUSH_SECONDS) -> None:
        import prometheus_client

        super().__init__("metrics", flush_seconds)
        self._client = prometheus_client
        self.registry = prometheus_client.CollectorRegistry()
        self.requests = prometheus_client.Counter(
            "scalepipe_requests",
            "HTTP requests by route and status",
            ["route", "status"],
            registry=self.registry,
        )
        self.latency = prometheus_client.Histogram(
            "scalepipe_request_duration_seconds",
            "Time to answer, by route",
            ["route"],
            buckets=BUCKETS,
            registry=self.registry,
        )
        self.predictions = prometheus_client.Counter(
            "scalepipe_predictions", "Rows scored, by model", ["model"], registry=self.registry
        )
        self.versions = prometheus_client.Gauge(
            "scalepipe_model_version",
            "Loaded model version, per worker process",
            ["model"],
            multiprocess_mode="liveall",
            registry=self.registry,
        )
        # Rolling drift against the training profile (serve/drift.py): the latest measure.
        self.drift_psi = prometheus_client.Gauge(
            "scalepipe_drift_psi",
            "Population stability index of the last rows scored, per model and column",
            ["model", "column"],
            multiprocess_mode="mostrecent",
            registry=self.registry,
        )
        self.drift_share = prometheus_client.Gauge(
            "scalepipe_drift_share",
            "Share of the model's features that drifted in the last rows scored",
            ["model"],
            multiprocess_mode="mostrecent",
            registry=self.registry,
        )
        self.drift = prometheus_client.Gauge(
            "scalepipe_drift",
            "1 when the last rows scored drifted (scalepipe monitor drift's verdict)",
            ["model"],
            multiprocess_mode="mostrecent",
            registry=self.registry,
        )
        self.drift_rows = prometheus_client.Gauge(
            "scalepipe_drift_rows",
            "Rows in the drift window",
            ["model"],
            multiprocess_mode="mostrecent",
            registry=self.registry,
        )
        # The prediction log (serve/predlog.py): what it wrote, lost, and cost its thread.
        self.log_records = prometheus_client.Counter(
            "scalepipe_prediction_log_records",
            "Prediction records written to --log-predictions",
            registry=self.registry,
        )
        self.log_lost = prometheus_client.Counter(
            "scalepipe_prediction_log_lost",
            "Prediction records dropped because the log could not be written (a full disk)",
            registry=self.registry,
        )
        self.log_cpu = prometheus_client.Counter(
            "scalepipe_prediction_log_cpu_seconds",
            "CPU seconds the prediction log's writer thread spent on its records",
            registry=self.registry,
        )
        self._requests: dict[tuple[str, int], int] = {}
        self._latencies: dict[str, list[float]] = {}  # per route: bucket counts..., sum
        self._predictions: dict[str, int] = {}
        self._lock = threading.Lock()

    def observe(self, route: str, status: int, seconds: float) -> None:
        key = (route, status)
        self._requests[key] = self._requests.get(key, 0) + 1
        tally = self._latencies.get(route)
        if tally is None:
            tally = self._latencies[route] = [0.0] * (len(BUCKETS) + 2)
        tally[bisect_left(BUCKETS, seconds)] += 1
        tally[-1] += seconds

    def predicted(self, model: str, rows: int) -> None:
        self._predictions[model] = self._predictions.get(model, 0) + rows

    def loaded(self, model: str, version: int) -> None:
        self.versions.labels(model).set(version)

    def flush(self) -> None:
        with self._lock:
            # Swapping the dicts is atomic under the GIL: a request in flight adds to
            # either the old dict (flushed now) or the new one (flushed next time).
            requests, self._requests = self._requests, {}
            latencies, self._latencies = self._latencies, {}
            predictions, self._predictions = self._predictions, {}
            for (route, status), count in requests.items():
                self.requests.labels(route, str(status)).inc(count)
            for route, tally in latencies.items():
                histogram = self.latency.labels(route)
                # prometheus_client offers observe() one value at a time; adding whole
                # bucket counts goes through its (long-stable) per-bucket values.
                for bucket, hits in zip(histogram._buckets, tally[:-1], strict=True):
                    if hits:
                        bucket.inc(hits)
                histogram._sum.inc(tally[-1])
            for model, rows in predictions.items():
                self.predictions.labels(model).inc(rows)

    def exposition(self) -> tuple[bytes, str]:
        """The text format, summed over every worker when running under several."""
        self.flush()
        registry = self.registry
        if os.environ.get(MULTIPROCESS_ENV):
            from prometheus_client import multiprocess

            registry = self._client.CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return self._client.generate_latest(registry), self._client.CONTENT_TYPE_LATEST
