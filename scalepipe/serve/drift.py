"""Rolling drift gauges on /metrics: each worker keeps the last `window` rows it scored
per model and, every `every` seconds, measures them against the model's training
profile (scalepipe/monitor), as `scalepipe monitor drift` does.

Requests only append (model, request, scores) to a list of at most SAMPLE entries per
interval (past it they are skipped: a sample is enough for a distribution,
and the server's speed does not depend on it); the background thread turns them into
rows. With several workers each measures its own share of the traffic, and the gauges
show the most recent measure (prometheus_client's `mostrecent` multiprocess mode).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from scalepipe.monitor import MonitorError, measure
from scalepipe.monitor.drift import MIN_ROWS, OUTPUT
from scalepipe.predict.records import request_rows
from scalepipe.serve.background import PeriodicFlush

if TYPE_CHECKING:
    from scalepipe.predict.predictor import LoadedVersion
    from scalepipe.serve.metrics import Metrics

log = logging.getLogger("scalepipe.serve")
WINDOW = 10_000
EVERY_SECONDS = 30.0
SAMPLE = 2_000  # requests kept per interval


class _Window:
    """The last `size` rows of one model version: a ring of feature rows and outputs."""

    def __init__(self, loaded: LoadedVersion, size: int) -> None:
        self.version = loaded.version
        self.names = list(loaded.names)
        self.profile = loaded.card.profile
        self.rows = np.full((size, len(self.names) + 1), np.nan)
        self.filled = 0
        self.next = 0

    def add(self, values: Sequence[Sequence[Any]], scores: Sequence[float]) -> None:
        for row, score in zip(values, scores, strict=True):
            self.rows[self.next, :-1] = [_number(value) for value in row]
            self.rows[self.next, -1] = score
            self.next = (self.next + 1) % len(self.rows)
            self.filled = min(self.filled + 1, len(self.rows))

    def columns(self) -> dict[str, np.ndarray]:
        kept = self.rows[: self.filled]
        found = {name: kept[:, index] for index, name in enumerate(self.names)}
        return found | {OUTPUT: kept[:, -1]}


class DriftGauges(PeriodicFlush):
    def __init__(
        self, metrics: Metrics, window: int = WINDOW, every: float = EVERY_SECONDS
    ) -> None:
        super().__init__("drift gauges", every)
        self.metrics = metrics
        self.size = window
        self._pending: list[tuple[LoadedVersion, Any, list[float]]] = []
        self._windows: dict[str, _Window] = {}
        self._lock = threading.Lock()

    def record(
        self, model: LoadedVersion, request: Any, scores: list[float], seconds: float
    ) -> None:
        """The hot path: keep the request if this interval's sample has room."""
        if len(self._pending) < SAMPLE:
            self._pending.append((model, request, scores))

    def flush(self) -> None:
        with self._lock:
            pending, self._pending = self._pending, []
            added = 0
            for model, request, scores in pending:
                if not model.card.profile or added >= self.size:  # a window's worth at most
                    continue
                window = self._windows.get(model.name)
                if window is None or window.version != model.version:
                    window = self._windows[model.name] = _Window(model, self.size)
                rows = list(request_rows(request, model.names, scores))
                window.add([values for values, _, _ in rows], [score for _, _, score in rows])
                added += len(rows)
            for name, window in self._windows.items():
                if window.filled >= MIN_ROWS and window.profile:
                    self._measure(name, window)

    def _measure(self, name: str, window: _Window) -> None:
        try:
            report = measure(window.profile or {}, window.columns(), model=name,
                             version=window.version)  # fmt: skip
        except MonitorError as error:  # a column with nothing logged, say
            log.warning("drift of %s: %s", name, error)
            return
        gauges = self.metrics
        for column in [*report.features, *([report.output] if report.output else [])]:
            gauges.drift_psi.labels(name, column.name).set(column.psi)
        gauges.drift_share.labels(name).set(report.share)
        gauges.drift.labels(name).set(1 if report.drift else 0)
        gauges.drift_rows.labels(name).set(window.filled)


def _number(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("nan")
