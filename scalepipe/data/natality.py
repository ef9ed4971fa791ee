"""Generated natality records, imitating the BigQuery sample the book queries.

Columns are those of the book's query of `publicdata.samples.natality` (year,
plurality, apgar_5min, mother_age, father_age, gestation_weeks, ever_born,
mother_married as 0/1) and the birth weight in pounds, plus a `guid` key for batch and
streaming use. Birth weight is driven mostly by gestation weeks (about a third of a
pound a week near term), then by plurality (twins and triplets are much lighter), with
smaller effects of marriage, earlier births and the Apgar score, and noise; a linear
regression explains about a third of its variance.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

FEATURES = (
    "year", "plurality", "apgar_5min", "mother_age", "father_age", "gestation_weeks",
    "ever_born", "mother_married",
)  # fmt: skip
TARGET = "weight_pounds"
KEY = "guid"
DEFAULT_ROWS = 10_000

_HEX_DIGITS = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
_HYPHEN_AFTER = (8, 12, 16, 20)


def guids(rng: np.random.Generator, rows: int) -> np.ndarray:
    """Random version-4 UUID strings, built as bytes in one vectorised pass."""
    raw = rng.integers(0, 256, size=(rows, 16), dtype=np.uint8)
    raw[:, 6] = (raw[:, 6] & 0x0F) | 0x40
    raw[:, 8] = (raw[:, 8] & 0x3F) | 0x80
    nibbles = np.empty((rows, 32), dtype=np.uint8)
    nibbles[:, 0::2] = raw >> 4
    nibbles[:, 1::2] = raw & 0x0F
    text = _HEX_DIGITS[nibbles]
    text = np.insert(text, _HYPHEN_AFTER, ord("-"), axis=1)
    return np.ascontiguousarray(text).view("S36").ravel().astype(str)


def block(rng: np.random.Generator, rows: int) -> pd.DataFrame:
    import pandas as pd

    plurality = rng.choice([1, 2, 3], size=rows, p=[0.968, 0.031, 0.001])
    mother_age = np.clip(np.rint(rng.normal(27.0, 6.0, rows)), 13, 50).astype(np.int64)
    father_age = np.clip(mother_age + np.rint(rng.normal(2.5, 4.5, rows)), 15, 70).astype(np.int64)
    preterm_shift = np.where(plurality > 1, 3.0 * (plurality - 1), 0.0)
    gestation = 39.6 - preterm_shift - rng.gamma(1.3, 1.0, rows) + rng.normal(0.0, 1.0, rows)
    gestation_weeks = np.clip(np.rint(gestation), 20, 45).astype(np.int64)
    ever_born = np.clip(1 + rng.poisson(np.clip((mother_age - 17) / 8.0, 0.1, None)), 1, 12)
    mother_married = (
        rng.random(rows) < np.clip(0.25 + 0.025 * (mother_age - 18), 0.2, 0.9)
    ).astype(np.int64)
    apgar = np.clip(
        np.rint(9.4 - rng.exponential(0.6, rows) - 0.15 * np.maximum(37 - gestation_weeks, 0)),
        0,
        10,
    )
    weight = (
        7.3
        + 0.33 * np.clip(gestation_weeks - 39, -12, 3)
        - 0.012 * np.clip(gestation_weeks - 39, -12, 0) ** 2
        - 1.3 * (plurality - 1)
        + 0.2 * mother_married
        + 0.08 * np.minimum(ever_born - 1, 3)
        + 0.05 * (apgar - 9)
        + 0.004 * (mother_age - 27)
        + rng.normal(0.0, 1.05, rows)
    )
    return pd.DataFrame(
        {
            "year": rng.integers(1969, 2009, rows),
            "plurality": plurality.astype(np.int64),
            "apgar_5min": apgar.astype(np.int64),
            "mother_age": mother_age,
            "father_age": father_age,
            "gestation_weeks": gestation_weeks,
            "ever_born": ever_born.astype(np.int64),
            "mother_married": mother_married,
            TARGET: np.clip(weight, 0.5, 13.5).round(4),
            KEY: guids(rng, rows),
        }
    )
