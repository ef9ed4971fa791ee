"""Deterministic generation in fixed-size blocks.

Each block draws from its own random stream, seeded by (seed, block index), so the
same (rows, seed) always gives the same rows however a caller consumes them, and a
large dataset streams in bounded memory, one block at a time.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from scalepipe.errors import DatasetError

BLOCK_ROWS = 262_144


def block_streams(
    rows: int, seed: int, block_rows: int = BLOCK_ROWS
) -> Iterator[tuple[np.random.Generator, int, int]]:
    """Yield (random stream, first row index, row count) for each block of `rows` rows."""
    if rows < 0:
        raise DatasetError(f"rows must be 0 or more, got {rows}")
    for index, start in enumerate(range(0, rows, block_rows)):
        yield np.random.default_rng([seed, index]), start, min(block_rows, rows - start)
