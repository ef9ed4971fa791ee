"""Generated Boston housing data (Harrison & Rubinfeld 1978), the book's regression set.

Tracts are driven by two latent traits: how urban and industrial a tract is (crime,
industry, nitric oxides, old housing, highway access, tax, pupil-teacher ratio all rise
with it; distance to employment and large-lot zoning fall) and how wealthy it is (more
rooms, fewer lower-status residents). Each column keeps the real file's range and
roughly its mean and spread. The median value (medv, k$) follows the real file's
linear relation plus its curvature in rooms and lower-status share, with noise, capped
at 50 like the census data; a linear regression reaches R² ~0.7 on it, as on the real
data.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

FEATURES = (
    "crim", "zn", "indus", "chas", "nox", "rm", "age", "dis", "rad", "tax", "ptratio", "b",
    "lstat",
)  # fmt: skip
TARGET = "medv"
DEFAULT_ROWS = 506

_LINEAR_EFFECT = {
    "crim": -0.108, "zn": 0.046, "indus": 0.021, "chas": 2.687, "nox": -17.767, "rm": 3.81,
    "age": 0.001, "dis": -1.476, "rad": 0.306, "tax": -0.012, "ptratio": -0.953, "b": 0.009,
    "lstat": -0.525,
}  # fmt: skip
_ZONED_LOT_SHARES = np.array([12.5, 20.0, 22.0, 25.0, 30.0, 40.0, 55.0, 80.0, 90.0, 100.0])
_SUBURBAN_HIGHWAY_INDEX = np.array([1, 2, 3, 4, 5, 6, 7, 8])


def block(rng: np.random.Generator, rows: int) -> pd.DataFrame:
    import pandas as pd

    def noise() -> np.ndarray:
        return rng.standard_normal(rows)

    urban = noise()
    wealth = -0.5 * urban + 0.87 * noise()
    ring_road = urban + 0.4 * noise() > 0.75
    zoned = urban + 0.5 * noise() < -0.6
    columns: dict[str, np.ndarray] = {
        "crim": np.clip(np.exp(-1.3 + 1.9 * urban + 0.8 * noise()), 0.006, 89.0),
        "zn": np.where(zoned, rng.choice(_ZONED_LOT_SHARES, rows), 0.0),
        "indus": np.clip(11.1 + 6.0 * urban + 2.0 * noise(), 0.46, 27.74),
        "chas": (rng.random(rows) < 0.069).astype(np.int64),
        "nox": np.clip(0.555 + 0.095 * urban + 0.05 * noise(), 0.385, 0.871),
        "rm": np.clip(6.28 + 0.55 * wealth + 0.35 * noise(), 3.56, 8.78),
        "age": np.clip(68.6 + 22.0 * urban + 15.0 * noise(), 2.9, 100.0),
        "dis": np.clip(np.exp(1.2 - 0.45 * urban + 0.2 * noise()), 1.13, 12.13),
        "rad": np.where(ring_road, 24, rng.choice(_SUBURBAN_HIGHWAY_INDEX, rows)),
        "tax": np.where(
            ring_road, 666.0, np.clip(340.0 + 70.0 * urban + 50.0 * noise(), 187.0, 711.0)
        ).round(),
        "ptratio": np.clip(18.46 + 1.2 * urban - 0.8 * wealth + 1.2 * noise(), 12.6, 22.0),
        "b": np.clip(396.9 - np.exp(1.8 + 0.8 * urban + 1.3 * noise()), 0.32, 396.9),
        "lstat": np.clip(12.65 + 4.0 * urban - 4.5 * wealth + 2.5 * noise(), 1.73, 37.97),
    }
    value = 36.46 + sum(effect * columns[name] for name, effect in _LINEAR_EFFECT.items())
    value = (
        value
        + 0.025 * (columns["lstat"] - 12.0) ** 2
        + 2.0 * np.maximum(columns["rm"] - 7.0, 0.0) ** 2
    )
    columns[TARGET] = np.clip(value + 4.1 * noise(), 5.0, 50.0).round(1)
    frame = pd.DataFrame(columns)
    return frame.round(
        {"crim": 5, "nox": 3, "rm": 3, "age": 1, "dis": 4, "ptratio": 1, "b": 2, "lstat": 2}
    )
