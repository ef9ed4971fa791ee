"""Named datasets: their catalog and deterministic generators (read them through scalepipe.io)."""

from scalepipe.data.catalog import DATASETS, DatasetError, DatasetSpec, Tables, spec
from scalepipe.data.sql import sql

__all__ = ["DATASETS", "DatasetError", "DatasetSpec", "Tables", "spec", "sql"]
