"""SQL over pandas DataFrames, on DuckDB (the book used framequery for this)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from scalepipe.data.catalog import DatasetError

if TYPE_CHECKING:
    import pandas as pd


def sql(query: str, **frames: pd.DataFrame) -> pd.DataFrame:
    """Run `query` where each keyword argument is a table: sql("SELECT * FROM g", g=df)."""
    import duckdb
    import pandas as pd

    with duckdb.connect() as connection:
        for name, frame in frames.items():
            if not isinstance(frame, pd.DataFrame):
                raise DatasetError(
                    f"table {name!r} must be a pandas DataFrame, got {type(frame).__name__}"
                )
            connection.register(name, frame)
        try:
            return connection.execute(query).df()
        except duckdb.Error as error:
            known = ", ".join(frames) or "none"
            raise DatasetError(f"SQL failed: {error} (tables given: {known})") from error
