"""Named datasets: deterministic generators, file/URL/SQL sources and the warehouse."""

from scalepipe.data.catalog import DATASETS, DatasetError, DatasetSpec, Tables, spec
from scalepipe.data.sources import load, load_tables
from scalepipe.data.sql import sql
from scalepipe.data.warehouse import Warehouse

__all__ = [
    "DATASETS",
    "DatasetError",
    "DatasetSpec",
    "Tables",
    "Warehouse",
    "load",
    "load_tables",
    "spec",
    "sql",
]
