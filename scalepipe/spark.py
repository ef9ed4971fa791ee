"""The process's SparkSession, shared by the Spark batch engine, MLlib training and the
features computed with Spark SQL."""

from __future__ import annotations

import os
import sys
import threading
import warnings
from typing import Any

from scalepipe.errors import DatasetError

DEFAULT_MASTER = "local[2]"
_QUIET_PANDAS_WARNING = "ignore:PySpark does not yet fully support pandas:FutureWarning"
_session_lock = threading.Lock()


def spark_session(master: str | None = None) -> Any:
    """The process's SparkSession (created once, then shared): on loopback, UTC, Arrow."""
    try:
        from pyspark.sql import SparkSession
    except ImportError as error:
        raise DatasetError("Spark needs the spark extra: pip install 'scalepipe[spark]'") from error
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    # Spark's Python workers run `python3` from PATH unless told: this interpreter has
    # scalepipe and its dependencies installed.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    # PySpark 4.3 warns that pandas 3 is "not fully supported"; scalepipe hands Spark
    # Arrow data only, never pandas objects.
    warnings.filterwarnings("ignore", message=_QUIET_PANDAS_WARNING.split(":")[1])
    with _session_lock:
        session = (
            SparkSession.builder.master(master or DEFAULT_MASTER)
            .appName("scalepipe")
            .config("spark.ui.enabled", "false")
            .config("spark.ui.showConsoleProgress", "false")
            .config("spark.sql.session.timeZone", "UTC")
            .config("spark.sql.execution.arrow.pyspark.enabled", "true")
            .config("spark.sql.execution.arrow.maxRecordsPerBatch", "65536")
            .config("spark.driver.host", os.environ["SPARK_LOCAL_IP"])
            .config("spark.executorEnv.PYTHONWARNINGS", _QUIET_PANDAS_WARNING)
            .getOrCreate()
        )
        session.sparkContext.setLogLevel("ERROR")
        return session
