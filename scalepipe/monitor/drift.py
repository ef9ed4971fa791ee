"""Drift of served values against the training profile (scalepipe/train/profile.py).

The reference of a column is its profile's sketch: the training values at 201 even
quantile levels, read as a sample of 201 equally weighted values. Against the current
values of the column (what the model was sent, or what it answered) each column gets:

- `psi`: the population stability index over the reference's deciles (a column of few
  values: over those values), proportions smoothed by 1e-4;
- `ks`: the two-sample Kolmogorov-Smirnov statistic, equal to
  `scipy.stats.ks_2samp(sketch, current).statistic`, computed at the 201 points;
- `js`: the Jensen-Shannon distance (base 2, in [0, 1]) over the PSI's bins;
- `wasserstein`: the earth mover's distance, equal to
  `scipy.stats.wasserstein_distance(sketch, current)`, and `wasserstein_normed`, divided
  by the training standard deviation.

A column drifts when its chosen statistic (`psi` by default) reaches its threshold;
the verdict is drift when the share of drifted features reaches `share` (0.5), or the
output drifted. The thresholds are effect sizes, not p-values: with a million rows a
p-value flags differences nobody cares about, and the same data resampled must not
raise an alarm. Each column's current values are sorted once; the rest are searches
of the 201 points in them and passes over them, two columns at a time.
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
    """One column's statistics. The current values are sorted once (the only step that
    costs more than a pass over them); everything else searches the sketch's 201 points
    in them."""
    values = np.asarray(values, dtype=np.float64)
    present = np.sort(values[np.isfinite(values)])
    sketch = np.sort(_sketch(name, reference))
    count = max(int(reference.get("count", 0)), 1)
    if len(present) == 0:
        raise MonitorError(f"{name}: every logged value is missing")
    categorical = "values" in reference
    if categorical:
        known = np.asarray([float(v) for v in reference["values"]])
        _snap_sorted(present, known, 1e-6)
    _snap_sorted(present, sketch, 1e-9)
    bins = _categories(reference, present) if categorical else _deciles(sketch, present)
    std = float(reference.get("std") or 0.0)
    distance = _wasserstein_sorted(sketch, present)
    found = ColumnDrift(
        name=name,
        kind="categorical" if categorical else "numeric",
        rows=len(present),
        missing_reference=int(reference.get("missing", 0)) / count,
        missing_current=1 - len(present) / len(values),
        psi=psi(bins.reference, bins.current),
        ks=_ks_sorted(sketch, present),
        js=js(bins.reference, bins.current),
        wasserstein=distance,
        wasserstein_normed=distance / std if std > 0 else distance,
        drifted=False,
        bins=bins,
    )
    limit = THRESHOLDS[statistic] if threshold is None else threshold
    return ColumnDrift(**{**found.__dict__, "drifted": found.value(statistic) >= limit})


def _snap_sorted(values: np.ndarray, points: np.ndarray, relative: float) -> None:
    """Values within `relative` of a reference value become that value, in place (they
    stay sorted): a score computed by the server's fast path can differ from training's in
    its last bits, and a value many rows share would otherwise fall on the wrong side of a
    bin edge (the category values of a profile keep 6 significant digits)."""
    for point in np.unique(points):
        margin = relative * abs(point)
        low = np.searchsorted(values, point - margin, side="left")
        high = np.searchsorted(values, point + margin, side="right")
        values[low:high] = point


def _sketch(name: str, reference: Mapping[str, Any]) -> np.ndarray:
    if reference.get("sketch"):
        return np.asarray(reference["sketch"], dtype=np.float64)
    if reference.get("quantiles"):  # a model trained before sketches: 11 quantiles
        return np.asarray(list(reference["quantiles"].values()), dtype=np.float64)
    raise MonitorError(f"the profile of {name} has no values to compare with (none were present)")


def ks(reference: np.ndarray, current: np.ndarray) -> float:
    """The two-sample Kolmogorov-Smirnov statistic, as scipy's ks_2samp computes it."""
    return _ks_sorted(np.sort(reference), np.sort(current))


def _ks_sorted(reference: np.ndarray, current: np.ndarray) -> float:
    """sup |F_ref - F_cur|. Between two consecutive reference points F_ref is flat and
    F_cur rises, so the supremum is at a reference point, from the left or the right."""
    points = np.unique(reference)
    n, m = len(reference), len(current)
    gaps = [
        np.searchsorted(reference, points, side=side) / n
        - np.searchsorted(current, points, side=side) / m
        for side in ("left", "right")
    ]
    return float(max(np.max(np.abs(gap)) for gap in gaps))


def wasserstein(reference: np.ndarray, current: np.ndarray) -> float:
    """The integral of |F_ref - F_cur|, as scipy's wasserstein_distance computes it."""
    return _wasserstein_sorted(np.sort(reference), np.sort(current))


def _wasserstein_sorted(reference: np.ndarray, current: np.ndarray) -> float:
    """The same integral over the quantile functions, which are steps at i/n and j/m:
    each current value pairs with the reference value whose step it starts in, and the
    n - 1 steps that begin inside a current value's share are corrected for. Positions
    are counted in units of 1/(n m), so that every boundary is an exact integer."""
    n, m = len(reference), len(current)
    if m < n:  # a current value's share may hold several reference steps: merge instead
        return _wasserstein_merged(reference, current)
    starts = (np.arange(n + 1, dtype=np.int64) * m + n - 1) // n  # first j of each step
    starts[-1] = m
    gaps = np.repeat(reference, np.diff(starts))
    np.subtract(current, gaps, out=gaps)
    total = float(np.sum(np.abs(gaps, out=gaps))) * n
    steps = np.arange(1, n, dtype=np.int64) * m
    inside = steps % n != 0
    owner = steps[inside] // n  # the current value whose share holds that step's start
    after = ((owner + 1) * n - steps[inside]).astype(np.float64)
    value, below, above = current[owner], reference[:-1][inside], reference[1:][inside]
    total += float(np.sum(after * (np.abs(value - above) - np.abs(value - below))))
    return total / (n * m)


def _wasserstein_merged(reference: np.ndarray, current: np.ndarray) -> float:
    """Both samples merged in order without a sort (the reference's points inserted where
    they go); between two neighbours of the merged values each CDF is the count of its
    values up to the left one (ties make intervals of width 0, which add nothing)."""
    n, m = len(reference), len(current)
    places = np.searchsorted(current, reference, side="right")
    every = np.insert(current, places, reference)
    from_reference = np.zeros(n + m, dtype=np.int64)
    from_reference[places + np.arange(n)] = 1
    ref_count = np.cumsum(from_reference)[:-1]
    cur_count = np.arange(1, n + m) - ref_count
    return float(np.sum(np.abs(ref_count / n - cur_count / m) * np.diff(every)))


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
    """Bins (-inf, e1], (e1, e2], ..., (ek, inf) at the sketch's deciles; both samples
    sorted."""
    edges = np.unique(np.quantile(sketch, _DECILES, method="inverted_cdf"))
    reference = np.diff(np.searchsorted(sketch, edges, side="right"), prepend=0, append=len(sketch))
    now = np.diff(np.searchsorted(current, edges, side="right"), prepend=0, append=len(current))
    bounds = ["-inf", *(f"{edge:.4g}" for edge in edges), "inf"]
    labels = [f"({low}, {high}]" for low, high in pairwise(bounds)]
    return Bins(labels, (reference / len(sketch)).tolist(), (now / len(current)).tolist())


def _categories(reference: Mapping[str, Any], current: np.ndarray) -> Bins:
    """The training values, and one bin `other` for every value training never had; the
    current values sorted."""
    known = {float(value): int(count) for value, count in reference["values"].items()}
    values = np.asarray(sorted(known), dtype=np.float64)
    counts = np.searchsorted(current, values, side="right") - np.searchsorted(current, values)
    now = counts / len(current)
    total = sum(known.values())
    labels = [f"{value:g}" for value in values]
    shares = [known[value] / total for value in values.tolist()]
    other = max(1.0 - float(now.sum()), 0.0)
    return Bins([*labels, "other"], [*shares, 0.0], [*now.tolist(), other])
