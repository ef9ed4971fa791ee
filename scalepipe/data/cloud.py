"""The book's cloud sources: BigQuery (natality) and Kaggle (NHL).

Neither can run on a machine without network and credentials, so both are kept thin:
they fetch into the same DataFrames the generators make and leave the rest to the
ordinary local path. They are not exercised by the test suite for that reason.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from scalepipe.data.catalog import DatasetError

NATALITY_QUERY = """
SELECT year, plurality, apgar_5min, mother_age, father_age, gestation_weeks, ever_born,
       CASE WHEN mother_married = true THEN 1 ELSE 0 END AS mother_married,
       weight_pounds, GENERATE_UUID() AS guid
FROM `bigquery-public-data.samples.natality`
WHERE weight_pounds IS NOT NULL AND gestation_weeks IS NOT NULL
LIMIT {rows}
"""
NHL_KAGGLE_DATASET = "martinellis/nhl-game-data"


def natality_from_bigquery(rows: int = 10_000, project: str | None = None) -> pd.DataFrame:
    """The book's natality query, run on BigQuery with the caller's credentials."""
    try:
        from google.cloud import bigquery
    except ImportError as error:
        raise DatasetError(
            "BigQuery needs the bigquery extra: pip install 'scalepipe[bigquery]'"
        ) from error
    try:
        client = bigquery.Client(project=project)
        frame: pd.DataFrame = client.query(NATALITY_QUERY.format(rows=int(rows))).to_dataframe()
        return frame
    except Exception as error:
        raise DatasetError(
            f"BigQuery query failed ({error}). It needs network access and credentials "
            "(gcloud auth application-default login, or GOOGLE_APPLICATION_CREDENTIALS); "
            "without them use the generated natality data or a local export."
        ) from error


def nhl_from_kaggle(folder: Path) -> Path:
    """Download the Kaggle NHL tables into `folder`; pass it as --source afterwards."""
    try:
        from kaggle.api.kaggle_api_extended import KaggleApi
    except ImportError as error:
        raise DatasetError(
            "Kaggle downloads need the kaggle extra: pip install 'scalepipe[kaggle]'"
        ) from error
    try:
        api = KaggleApi()
        api.authenticate()
        api.dataset_download_files(NHL_KAGGLE_DATASET, path=str(folder), unzip=True)
    except Exception as error:
        raise DatasetError(
            f"Kaggle download failed ({error}). It needs network access and an API token "
            "in ~/.kaggle/kaggle.json; without them use the generated nhl data."
        ) from error
    return folder
