"""Reading one entry back from a key-value sink, as an application does."""

from __future__ import annotations

from scalepipe.config import Settings
from scalepipe.errors import DatasetError
from scalepipe.io.uris import open_sink


def lookup(sink: str, key: str, *, settings: Settings | None = None) -> dict[str, str]:
    """The fields of the entry named `key` (key columns joined by `:`)."""
    opened = open_sink(sink, settings=settings)
    read = getattr(opened, "lookup", None)
    if read is None:
        raise DatasetError(
            f"{sink!r} is not a key-value sink: lookup reads redis://... and datastore://... "
            "(Parquet folders and tables are read with SQL: scalepipe data show, or the warehouse)"
        )
    entry: dict[str, str] | None = read(key)
    if entry is None:
        described = opened.describe()
        prefix = f" (prefix {described['prefix']!r})" if described.get("prefix") else ""
        raise DatasetError(f"no entry {key!r} in {described.get('url')}{prefix}")
    return entry
