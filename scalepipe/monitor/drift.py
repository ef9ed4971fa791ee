"""Drift of served values against the training profile (scalepipe/train/profile.py).

The reference of a column is its profile's sketch: the training values' quantiles at
201 even levels, read as a sample of 201 equally weighted values. Against the current
values of the column (what the model was sent, or what it answered) each column gets:

- `psi`: the population stability index over the reference's deciles (a column of few
  values: over those values), proportions smoothed by 1e-4;
- `ks`: the two-sample Kolmogorov-Smirnov statistic, equal to
  `scipy.stats.ks_2samp(sketch, current).statistic`, computed from the current values'
  positions among the 201 points (no sort);
- `js`: the Jensen-Shannon distance (base 2, in [0, 1]) over the PSI's bins;
- `wasserstein`: the earth mover's distance, equal to
  `scipy.stats.wasserstein_distance(sketch, current)`, and `wasserstein_normed`, divided
  by the training standard deviation.

A column drifts when its chosen statistic (`psi` by default) reaches its threshold;
the verdict is drift when the share of drifted features reaches `share` (0.5), or the
output drifted. The thresholds are effect sizes, not p-values: with a million rows a
p-value flags differences nobody cares about, and the same data resampled must not
raise an alarm.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from itertools import pairwise
from typing import Any, Literal

import numpy as np

from scalepipe.errors import ScalepipeError

Statistic = Literal["psi", "ks", "js", "wasserstein"]
STATISTICS: tuple[Statistic, ...] = ("psi", "ks", "js", "wasserstein")
# psi 0.2: the usual "significant shift"; js and normed Wasserstein 0.1: Evidently's.
THRESHOLDS: dict[Statistic, float] = {"psi": 0.2, "ks": 0.1, "js": 0.1, "wasserstein": 0.1}
SHARE = 0.5
MIN_ROWS = 100
_SMOOTH = 1e-4
_DECILES = np.linspace(0.0, 1.0, 11)[1:-1]
OUTPUT = "output"


class MonitorError(ScalepipeError):
    """Drift cannot be measured: no profile, no rows, an unknown statistic."""


@dataclass(frozen=True)
class Bins:
    """The bins a column is compared over, with the share of each side in each."""

    labels: list[str]
    reference: list[float]
    current: list[float]


@dataclass(frozen=True)
class ColumnDrift:
    name: str
    kind: Literal["numeric", "categorical"]
    rows: int
    missing_reference: float
    missing_current: float
    psi: float
    ks: float
    js: float
    wasserstein: float
    wasserstein_normed: float
    drifted: bool
    bins: Bins

    def value(self, statistic: Statistic) -> float:
        return self.wasserstein_normed if statistic == "wasserstein" else getattr(self, statistic)


@dataclass(frozen=True)
class DriftReport:
    model: str
    version: int
    rows: int
    statistic: Statistic
    threshold: float
    share_threshold: float
    features: list[ColumnDrift]
    output: ColumnDrift | None
    window: dict[str, str | None] = field(default_factory=dict)

    @property
    def drifted(self) -> list[str]:
        return [column.name for column in self.features if column.drifted]

    @property
    def share(self) -> float:
        return len(self.drifted) / len(self.features) if self.features else 0.0

    @property
    def drift(self) -> bool:
        output = self.output is not None and self.output.drifted
        return self.share >= self.share_threshold or output

    @property
    def verdict(self) -> str:
        if not self.drift:
            return "no drift"
        parts = [f"{len(self.drifted)} of {len(self.features)} features drifted"]
        if self.output is not None and self.output.drifted:
            parts.append("the output drifted")
        return "drift: " + ", ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        shown = asdict(self)
        return shown | {
            "drifted": self.drifted,
            "share": self.share,
            "drift": self.drift,
            "verdict": self.verdict,
        }


def measure(
    profile: Mapping[str, Any],
    current: Mapping[str, np.ndarray],
    *,
    model: str,
    version: int,
    statistic: Statistic = "psi",
    threshold: float | None = None,
    share: float = SHARE,
    window: Mapping[str, str | None] | None = None,
) -> DriftReport:
    """The drift of each column of `current` (the features, and `output` for the model's
    output) against the training `profile`."""
    if statistic not in STATISTICS:
        raise MonitorError(f"--stat takes {', '.join(STATISTICS)}, not {statistic!r}")
    threshold = THRESHOLDS[statistic] if threshold is None else threshold
    if threshold <= 0 or not 0 < share <= 1:
        raise MonitorError("the threshold must be > 0 and the share in (0, 1]")
    features = profile.get("features") or {}
    names = [name for name in features if name in current]
    if not names:
        raise MonitorError("the log holds none of the model's features")
    rows = len(next(iter(current.values())))
    if rows < MIN_ROWS:
        raise MonitorError(
            f"{rows} logged prediction(s) in the window: drift needs at least {MIN_ROWS}"
        )
    jobs = [(name, features[name]) for name in names]
    if OUTPUT in current and "output" in profile:
        jobs.append((OUTPUT, profile["output"]))
    with ThreadPoolExecutor(max_workers=2) as pool:  # numpy's sorts release the GIL
        columns = list(
            pool.map(
                lambda job: column_drift(job[0], job[1], current[job[0]], statistic, threshold),
                jobs,
            )
        )
    output = columns.pop() if jobs[-1][0] == OUTPUT else None
    return DriftReport(
        model=model, version=version, rows=rows, statistic=statistic, threshold=threshold,
        share_threshold=share, features=columns, output=output, window=dict(window or {}),
    )  # fmt: skip


def column_drift(
    name: str,
    reference: Mapping[str, Any],
    values: np.ndarray,
    statistic: Statistic = "psi",
    threshold: float | None = None,
) -> ColumnDrift:
    values = np.asarray(values, dtype=np.float64)
    present = values[np.isfinite(values)]
    sketch = _sketch(name, reference)
    count = max(int(reference.get("count", 0)), 1)
    if len(present) == 0:
        raise MonitorError(f"{name}: every logged value is missing")
    categorical = "values" in reference
    if categorical:
        present = _snap(present, np.asarray([float(v) for v in reference["values"]]), 1e-6)
    present = _snap(present, sketch, 1e-9)
    bins = _categories(reference, present) if categorical else _deciles(sketch, present)
    std = float(reference.get("std") or 0.0)
    distance = wasserstein(sketch, present)
    found = ColumnDrift(
        name=name,
        kind="categorical" if categorical else "numeric",
        rows=len(present),
        missing_reference=int(reference.get("missing", 0)) / count,
        missing_current=1 - len(present) / len(values),
        psi=psi(bins.reference, bins.current),
        ks=ks(sketch, present),
        js=js(bins.reference, bins.current),
        wasserstein=distance,
        wasserstein_normed=distance / std if std > 0 else distance,
        drifted=False,
        bins=bins,
    )
    limit = THRESHOLDS[statistic] if threshold is None else threshold
    return ColumnDrift(**{**found.__dict__, "drifted": found.value(statistic) >= limit})


def _snap(values: np.ndarray, points: np.ndarray, relative: float) -> np.ndarray:
    """Values within `relative` of a reference value become that value: a score computed
    by the server's fast path can differ from training's in its last bits, and a value
    many rows share would otherwise fall on the wrong side of a bin edge (the category
    values of a profile keep 6 significant digits)."""
    points = np.unique(points)
    if len(points) == 0 or len(values) == 0:
        return values
    right = np.clip(np.searchsorted(points, values), 0, len(points) - 1)
    left = np.clip(right - 1, 0, len(points) - 1)
    nearest = np.where(
        np.abs(values - points[left]) <= np.abs(points[right] - values), points[left], points[right]
    )
    close = np.abs(values - nearest) <= relative * np.maximum(np.abs(nearest), 1e-300)
    return np.where(close, nearest, values)


def _sketch(name: str, reference: Mapping[str, Any]) -> np.ndarray:
    if reference.get("sketch"):
        return np.asarray(reference["sketch"], dtype=np.float64)
    if reference.get("quantiles"):  # a model trained before sketches: 11 quantiles
        return np.sort(np.asarray(list(reference["quantiles"].values()), dtype=np.float64))
    raise MonitorError(f"the profile of {name} has no values to compare with (none were present)")


def ks(reference: np.ndarray, current: np.ndarray) -> float:
    """sup |F_ref - F_cur| over both samples' values. Between two consecutive reference
    points F_ref is flat and F_cur rises, so the supremum is at a reference point, from
    the left or the right: only the current values' counts below each point are needed."""
    reference = np.sort(reference)
    points = np.unique(reference)
    n, m = len(reference), len(current)
    ref_right = np.searchsorted(reference, points, side="right") / n
    ref_left = np.searchsorted(reference, points, side="left") / n
    # x < p_k exactly when fewer than k+1 points are <= x; x <= p_k when fewer than k+1 are < x.
    points_at_or_below = np.searchsorted(points, current, side="right")
    points_below = np.searchsorted(points, current, side="left")
    size = len(points) + 1
    cur_left = np.cumsum(np.bincount(points_at_or_below, minlength=size))[: len(points)] / m
    cur_right = np.cumsum(np.bincount(points_below, minlength=size))[: len(points)] / m
    return float(max(np.max(np.abs(ref_right - cur_right)), np.max(np.abs(ref_left - cur_left))))


def wasserstein(reference: np.ndarray, current: np.ndarray) -> float:
    """The integral of |F_ref - F_cur|, as scipy computes it."""
    reference, current = np.sort(reference), np.sort(current)
    every = np.sort(np.concatenate([reference, current]))
    widths = np.diff(every)
    ref_cdf = np.searchsorted(reference, every[:-1], side="right") / len(reference)
    cur_cdf = np.searchsorted(current, every[:-1], side="right") / len(current)
    return float(np.sum(np.abs(ref_cdf - cur_cdf) * widths))


def psi(reference: Sequence[float], current: Sequence[float]) -> float:
    expected, actual = _smoothed(reference), _smoothed(current)
    return float(np.sum((actual - expected) * np.log(actual / expected)))


def js(reference: Sequence[float], current: Sequence[float]) -> float:
    p, q = _smoothed(reference), _smoothed(current)
    middle = (p + q) / 2
    divergence = (np.sum(p * np.log2(p / middle)) + np.sum(q * np.log2(q / middle))) / 2
    return float(np.sqrt(max(divergence, 0.0)))


def _smoothed(shares: Sequence[float]) -> np.ndarray:
    array = np.asarray(shares, dtype=np.float64) + _SMOOTH
    return np.asarray(array / array.sum())


def _deciles(sketch: np.ndarray, current: np.ndarray) -> Bins:
    edges = np.unique(np.quantile(sketch, _DECILES, method="inverted_cdf"))
    reference = np.bincount(np.searchsorted(edges, sketch, side="left"), minlength=len(edges) + 1)
    now = np.bincount(np.searchsorted(edges, current, side="left"), minlength=len(edges) + 1)
    bounds = ["-inf", *(f"{edge:.4g}" for edge in edges), "inf"]
    labels = [f"({low}, {high}]" for low, high in pairwise(bounds)]
    return Bins(labels, (reference / len(sketch)).tolist(), (now / len(current)).tolist())


def _categories(reference: Mapping[str, Any], current: np.ndarray) -> Bins:
    """The training values, and one bin `other` for every value training never had."""
    known = {float(value): int(count) for value, count in reference["values"].items()}
    values = np.asarray(sorted(known), dtype=np.float64)
    positions = np.searchsorted(values, current)
    matched = (positions < len(values)) & (
        values[np.minimum(positions, len(values) - 1)] == current
    )
    now = np.bincount(positions[matched], minlength=len(values)) / len(current)
    total = sum(known.values())
    labels = [f"{value:g}" for value in values]
    shares = [known[value] / total for value in values.tolist()]
    other = 1.0 - float(matched.mean())
    return Bins([*labels, "other"], [*shares, 0.0], [*now.tolist(), other])
