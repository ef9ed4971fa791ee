"""scalepipe: take a predictive model from a notebook to production."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from scalepipe.version import __version__

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["__version__", "load_dataset", "sql"]


def sql(query: str, **frames: pd.DataFrame) -> pd.DataFrame:
    """Run SQL over pandas DataFrames on DuckDB; each keyword names a table."""
    from scalepipe.data.sql import sql as run_sql

    return run_sql(query, **frames)


def load_dataset(name: str, **options: Any) -> Any:
    """Load a named dataset (games, housing, natality, nhl); see scalepipe.io.load."""
    from scalepipe.io.datasets import load

    return load(name, **options)
