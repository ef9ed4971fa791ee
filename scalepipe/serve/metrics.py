"""Prometheus metrics, correct across worker processes.

With several workers each process counts for itself; prometheus_client's multiprocess
mode keeps every process's values in files under one folder, and /metrics, whichever
worker answers it, sums them. The supervisor makes the folder before it forks.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"
_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


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


class Metrics:
    """Requests by route and status, latency, predictions, loaded model versions."""

    def __init__(self) -> None:
        import prometheus_client

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
            buckets=_BUCKETS,
            registry=self.registry,
        )
        self.predictions = prometheus_client.Counter(
            "scalepipe_predictions", "Rows scored, by model", ["model"], registry=self.registry
        )
        self.versions = prometheus_client.Gauge(
            "scalepipe_model_version", "Loaded model version, per worker process", ["model"],
            multiprocess_mode="liveall", registry=self.registry,
        )  # fmt: skip
        self._request_children: dict[tuple[str, int], Any] = {}
        self._latency_children: dict[str, Any] = {}
        self._prediction_children: dict[str, Any] = {}

    def observe(self, route: str, status: int, seconds: float) -> None:
        counter = self._request_children.get((route, status))
        if counter is None:
            counter = self._request_children[(route, status)] = self.requests.labels(
                route, str(status)
            )
        counter.inc()
        histogram = self._latency_children.get(route)
        if histogram is None:
            histogram = self._latency_children[route] = self.latency.labels(route)
        histogram.observe(seconds)

    def predicted(self, model: str, rows: int) -> None:
        counter = self._prediction_children.get(model)
        if counter is None:
            counter = self._prediction_children[model] = self.predictions.labels(model)
        counter.inc(rows)

    def loaded(self, model: str, version: int) -> None:
        self.versions.labels(model).set(version)

    def exposition(self) -> tuple[bytes, str]:
        """The text format, summed over every worker when running under several."""
        registry = self.registry
        if os.environ.get(MULTIPROCESS_ENV):
            from prometheus_client import multiprocess

            registry = self._client.CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return self._client.generate_latest(registry), self._client.CONTENT_TYPE_LATEST
