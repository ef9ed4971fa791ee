"""The training data's profile, kept in the model card: what every feature looked like
when the model learned from it. The model app takes its widgets, ranges, defaults and
example rows from it; drift monitoring compares served inputs with it.

Per feature, and for the model's output on held-out rows: count, missing values, min,
max, mean, standard deviation, quantiles, a histogram, a sketch (the values at 201
even quantile levels: drift tests read it as a sample of the reference, so a KS statistic is
within 1/200 of the one on the training rows), and for a column of few distinct values
those values with their frequencies. Plain JSON, a few kB per column whatever the rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

QUANTILES = (0.0, 0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 1.0)
HISTOGRAM_BINS = 20
SKETCH_POINTS = 201
FEW_VALUES = 20  # a feature with at most this many distinct values lists them
EXAMPLES = 5


def feature_profile(
    frame: pd.DataFrame,
    names: Sequence[str],
    *,
    examples: int = EXAMPLES,
    seed: int = 0,
    output: Any = None,
) -> dict[str, Any]:
    """The profile of the features `names` of `frame` (the training rows), with a few
    example rows drawn with `seed`, and of `output` (the model's scores on held-out rows)
    when given."""
    features = {name: column_profile(frame[name]) for name in names}
    chosen = frame[list(names)].sample(n=min(examples, len(frame)), random_state=seed)
    rows = [{name: _plain(value) for name, value in row.items()}
            for row in chosen.to_dict(orient="records")]  # fmt: skip
    profile = {"rows": len(frame), "features": features, "examples": rows}
    if output is not None:
        profile["output"] = column_profile(pd.Series(np.asarray(output, dtype=np.float64)))
    return profile


def column_profile(column: pd.Series) -> dict[str, Any]:
    values = pd.to_numeric(column, errors="coerce").to_numpy(dtype=np.float64)
    present = values[np.isfinite(values)]
    profile: dict[str, Any] = {"count": len(values), "missing": int(len(values) - len(present))}
    if len(present) == 0:
        return profile
    quantiles = np.quantile(present, QUANTILES)
    counts, edges = np.histogram(present, bins=HISTOGRAM_BINS)
    profile |= {
        "min": float(present.min()),
        "max": float(present.max()),
        "mean": float(present.mean()),
        "std": float(present.std(ddof=1)) if len(present) > 1 else 0.0,
        "quantiles": {f"{q:g}": float(v) for q, v in zip(QUANTILES, quantiles, strict=True)},
        "histogram": {"edges": edges.tolist(), "counts": counts.tolist()},
        # Values that occur (no interpolation): a value many rows share stays one value.
        "sketch": np.quantile(
            present, np.linspace(0.0, 1.0, SKETCH_POINTS), method="inverted_cdf"
        ).tolist(),
        "integer": bool(np.all(present == np.round(present))),
    }
    distinct, frequencies = np.unique(present, return_counts=True)
    profile["distinct"] = len(distinct)
    if len(distinct) <= FEW_VALUES:
        profile["values"] = {f"{v:g}": int(n) for v, n in zip(distinct, frequencies, strict=True)}
    return profile


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value
