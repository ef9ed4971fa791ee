"""Load a named dataset into warehouse tables, streaming generated data block by block."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator

from scalepipe.data.catalog import Tables, spec
from scalepipe.data.sources import GENERATED, load_tables
from scalepipe.data.warehouse import Warehouse

BlockCallback = Callable[[str, int, int], None]


def write_dataset(
    name: str,
    warehouse: Warehouse,
    *,
    rows: int | None = None,
    source: str | None = None,
    seed: int = 0,
    on_block: BlockCallback | None = None,
) -> dict[str, int]:
    """Replace the dataset's tables in `warehouse`; return rows written per table.

    Generated data streams in bounded memory, so millions of rows fit; `on_block`
    hears (dataset, blocks done, blocks in all) after each block.
    """
    described = spec(name)
    if source not in (None, GENERATED):
        tables = load_tables(name, source=source, rows=rows, seed=seed)
        return warehouse.write_tables([tables])
    total = described.default_rows if rows is None else rows
    blocks = max(1, math.ceil(total / described.block_rows))

    def reported() -> Iterator[Tables]:
        for done, block in enumerate(described.generate_blocks(rows, seed), start=1):
            yield block
            if on_block is not None:
                on_block(name, done, blocks)

    return warehouse.write_tables(reported())
