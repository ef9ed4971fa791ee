"""The book's cloud sources as Sources: BigQuery (natality) and Kaggle (NHL).

    bigquery:SELECT ...                     a query on BigQuery, with the caller's credentials
    kaggle:OWNER/DATASET/FILE.csv           one file of a Kaggle dataset, downloaded once

Neither runs without network and credentials; both turn that into an error that says
what to use instead. No BigQuery emulator starts offline here (shared/NOTES.md), so the
tests cover their errors and the code path, not a live query.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from scalepipe.errors import DatasetError
from scalepipe.io.sources import FileSource, selected_columns

NATALITY_QUERY = """
SELECT year, plurality, apgar_5min, mother_age, father_age, gestation_weeks, ever_born,
       CASE WHEN mother_married = true THEN 1 ELSE 0 END AS mother_married,
       weight_pounds, GENERATE_UUID() AS guid
FROM `bigquery-public-data.samples.natality`
WHERE weight_pounds IS NOT NULL AND gestation_weeks IS NOT NULL
LIMIT {rows}
"""
NHL_KAGGLE_DATASET = "martinellis/nhl-game-data"


class BigQuerySource:
    """The rows of a BigQuery query, page by page as Arrow batches."""

    def __init__(self, sql: str, *, project: str | None = None, timeout: float = 60.0) -> None:
        if not sql.strip():
            raise DatasetError("the BigQuery query is empty")
        self.sql = sql
        self.project = project
        self.timeout = timeout

    def describe(self) -> dict[str, Any]:
        return {"kind": "bigquery", "sql": self.sql, "project": self.project}

    def schema(self) -> Any:
        return next(self._batches(), self._empty()).schema

    def read_batches(self, columns: Sequence[str] | None = None) -> Iterator[Any]:
        yield from selected_columns(self._batches(), columns, "the BigQuery query")

    def _empty(self) -> Any:
        import pyarrow as pa

        return pa.RecordBatch.from_pylist([])

    def _batches(self) -> Iterator[Any]:
        try:
            import google.cloud.bigquery as bigquery
        except ImportError as error:
            raise DatasetError(
                "BigQuery needs the bigquery extra: pip install 'scalepipe[bigquery]'"
            ) from error
        try:
            client = bigquery.Client(project=self.project)
            rows = client.query(self.sql, timeout=self.timeout).result(timeout=self.timeout)
            yield from rows.to_arrow_iterable()
        except Exception as error:
            raise DatasetError(
                f"BigQuery query failed ({error}). It needs network access and credentials "
                "(gcloud auth application-default login, or GOOGLE_APPLICATION_CREDENTIALS); "
                "without them use a generated dataset or a local export."
            ) from error


class KaggleSource:
    """One file of a Kaggle dataset: downloaded once into the cache folder, then read there."""

    def __init__(self, reference: str, cache_dir: Path) -> None:
        parts = reference.strip("/").split("/")
        if len(parts) != 3 or not all(parts) or ".." in parts:
            raise DatasetError(
                f"a Kaggle source is kaggle:OWNER/DATASET/FILE.csv, not kaggle:{reference}"
            )
        self.dataset = "/".join(parts[:2])
        self.file = parts[2]
        self.folder = cache_dir / "kaggle" / parts[0] / parts[1]

    def describe(self) -> dict[str, Any]:
        return {"kind": "kaggle", "dataset": self.dataset, "file": self.file}

    def schema(self) -> Any:
        return self._local().schema()

    def read_batches(self, columns: Sequence[str] | None = None) -> Iterator[Any]:
        yield from self._local().read_batches(columns)

    def _local(self) -> FileSource:
        path = self.folder / self.file
        if not path.is_file():
            self._download()
        if not path.is_file():
            raise DatasetError(f"the Kaggle dataset {self.dataset} holds no file {self.file}")
        return FileSource(str(path))

    def _download(self) -> None:
        try:
            from kaggle.api.kaggle_api_extended import KaggleApi
        except ImportError as error:
            raise DatasetError(
                "Kaggle downloads need the kaggle extra: pip install 'scalepipe[kaggle]'"
            ) from error
        try:
            api = KaggleApi()
            api.authenticate()
            api.dataset_download_files(self.dataset, path=str(self.folder), unzip=True)
        except Exception as error:
            raise DatasetError(
                f"Kaggle download failed ({error}). It needs network access and an API token "
                "in ~/.kaggle/kaggle.json; without them use the generated data."
            ) from error
