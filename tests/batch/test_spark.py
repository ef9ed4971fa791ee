"""Batch scoring on Apache Spark (local[2], one session for the whole test run): the same
rows as the local engine, from files Spark reads itself and from any other source."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from scalepipe.batch import score
from scalepipe.batch.job import Engine
from scalepipe.errors import DatasetError, InvalidInput
from scalepipe.io import open_warehouse
from scalepipe.store import ModelStore
from tests import models
from tests.batch.conftest import games_rows
from tests.batch.test_local import bad_rows_file, folder_state, read_run

pytestmark = pytest.mark.usefixtures("spark")


def same_rows(left: pd.DataFrame, right: pd.DataFrame, relative: float = 0.0) -> None:
    """Same keys, same row count, predictions within 1e-12 (and `relative`), same model
    columns."""
    left = left.sort_values("user_id", ignore_index=True)
    right = right.sort_values("user_id", ignore_index=True)
    assert len(left) == len(right) and len(left) > 0
    assert (left["user_id"] == right["user_id"]).all()
    difference = np.abs(left["prediction"] - right["prediction"])
    assert (difference <= 1e-12 + relative * np.abs(left["prediction"])).all(), difference.max()
    for column in ("model", "model_version", "run_id"):
        assert (left[column] == right[column]).all()


@pytest.mark.parametrize("model", ["games:1", "games:2"], ids=["logistic", "gradient boosting"])
def test_spark_gives_the_local_engines_rows(
    store: ModelStore, games_parquet: Path, tmp_path: Path, model: str
) -> None:
    local = score(model, str(games_parquet), str(tmp_path / "local"), keys=["user_id"],
                  run_id="r")  # fmt: skip
    spark = score(model, str(games_parquet), str(tmp_path / "spark"), keys=["user_id"],
                  run_id="r", engine="spark")  # fmt: skip
    figures = (spark.engine, spark.rows_in, spark.rows_out, spark.rejected)
    assert figures == ("spark", 12_000, 12_000, 0)
    assert local.rows_out == spark.rows_out
    same_rows(read_run(tmp_path / "local", "r"), read_run(tmp_path / "spark", "r"))
    assert [p.name for p in (tmp_path / "spark").iterdir()] == ["run=r"]


def test_the_keras_mlp_scores_on_spark_as_on_the_local_engine(
    store: ModelStore, games_parquet: Path, tmp_path: Path
) -> None:
    """The book's chapter 6 applies a Keras model at scale: the MLP's version is shipped
    to Spark's Python workers and loaded there, and scores every row as at home. Keras
    computes in float32 and torch rounds a row differently in batches of other sizes:
    the engines agree within float32 rounding (a few units in the last place)."""
    store.publish(models.prepared("mlp"), "mlp", alias="champion")
    for engine in ("local", "spark"):
        result = score("mlp", str(games_parquet), str(tmp_path / engine), keys=["user_id"],
                       run_id="k", engine=engine)  # fmt: skip
        assert (result.rows_in, result.rows_out, result.model) == (12_000, 12_000, "mlp")
    float32 = float(np.finfo(np.float32).eps)
    same_rows(read_run(tmp_path / "local", "k"), read_run(tmp_path / "spark", "k"), 4 * float32)


def test_spark_reads_any_source_and_writes_any_sink(
    store: ModelStore, games_parquet: Path, tmp_path: Path, s3_store: str
) -> None:
    """A Parquet folder on the S3 server, read on the executors by the scalepipe data
    source, into a warehouse table; a generated dataset into a Parquet folder."""
    import fsspec

    bucket = s3_store.rsplit("/", 1)[0] + "/input"
    for path in sorted(games_parquet.iterdir()):
        with fsspec.open(f"{bucket}/{path.name}", "wb") as remote:
            remote.write(path.read_bytes())
    score("games", bucket, "table:spark_scores", keys=["user_id"], run_id="s3", engine="spark")
    score("games", str(games_parquet), str(tmp_path / "local"), keys=["user_id"], run_id="s3")
    warehouse = open_warehouse(str(tmp_path / "warehouse.duckdb"))
    same_rows(warehouse.query("SELECT * FROM spark_scores"), read_run(tmp_path / "local", "s3"))

    result = score("games", "dataset:games?rows=30000&seed=4", str(tmp_path / "gen"),
                   run_id="g", engine="spark")  # fmt: skip
    assert result.rows_out == 30_000
    written = read_run(tmp_path / "gen", "g")
    assert len(written) == 30_000 and list(written.columns)[:11] == [
        *(f"G{i}" for i in range(1, 11)), "label"]  # fmt: skip


def test_spark_follows_on_error_as_the_local_engine(store: ModelStore, tmp_path: Path) -> None:
    source = str(bad_rows_file(tmp_path))
    user = games_rows(500)["user_id"][5]  # rows are read in parts: named by their keys
    message = rf"^the row with user_id={user}: feature 'G2' must be a finite number, got null"
    with pytest.raises(InvalidInput, match=message):
        score("games", source, str(tmp_path / "failed"), keys=["user_id"], engine="spark")
    assert not list((tmp_path / "failed").glob("run=*"))

    skipped = score("games", source, str(tmp_path / "skip"), keys=["user_id"],
                    on_error="skip", engine="spark", run_id="s")  # fmt: skip
    assert (skipped.rows_in, skipped.rows_out, skipped.rejected) == (500, 497, 3)

    for engine in ("local", "spark"):
        score("games", source, str(tmp_path / engine), keys=["user_id"], engine=engine,
              on_error=f"dead-letter:{tmp_path / engine}-dead", run_id="d")  # fmt: skip
    same_rows(read_run(tmp_path / "local", "d"), read_run(tmp_path / "spark", "d"))
    letters = {engine: read_run(tmp_path / f"{engine}-dead", "d").sort_values("user_id",
               ignore_index=True) for engine in ("local", "spark")}  # fmt: skip
    pd.testing.assert_frame_equal(letters["local"], letters["spark"], check_dtype=False)
    assert len(letters["spark"]) == 3


@pytest.mark.parametrize("on_error", ["skip", "dead-letter"])
def test_spark_logs_each_scored_row_as_the_local_engine_does(
    store: ModelStore, tmp_path: Path, on_error: str
) -> None:
    """Each task writes its own Parquet files into the log's folder: together, one record
    per scored row (the rejected rows have none), the same as the local engine's."""
    logs_as_the_local_engine("spark", tmp_path, on_error, ".parquet")


def logs_as_the_local_engine(engine: Engine, tmp_path: Path, on_error: str, kind: str) -> None:
    """`engine` and the local engine log the same records of the bad-rows file (497 of
    500 scored), the outputs those in the sink."""
    source = str(bad_rows_file(tmp_path))
    policy = on_error if on_error == "skip" else f"dead-letter:{tmp_path / 'dead'}"
    results, logged = {}, {}
    engines: tuple[Engine, Engine] = ("local", engine)
    for name in engines:
        log = tmp_path / f"{name}-log{kind}"
        results[name] = score("games", source, str(tmp_path / name), keys=["user_id"],
                              engine=name, on_error=policy, log_predictions=str(log),
                              run_id=name)  # fmt: skip
        frame = (
            pd.read_parquet(log)
            if kind == ".parquet"
            else pd.read_json(log, lines=True, dtype={"id": str})
        )
        logged[name] = frame.sort_values("id", ignore_index=True)
    assert results[engine].logged == results["local"].logged == 497
    assert logged[engine]["id"].astype(str).tolist() == logged["local"]["id"].astype(str).tolist()
    assert len(set(logged[engine]["id"])) == 497
    for name, records in logged.items():
        inputs = pd.DataFrame(list(records["inputs"]))
        assert inputs.notna().all().all() and set(inputs.columns) == {f"G{i}" for i in range(1, 11)}
        scored = read_run(tmp_path / name, name).sort_values("user_id", ignore_index=True)
        by_id = records.set_index(records["id"].astype(str))["output"]
        np.testing.assert_allclose(by_id[scored["user_id"].astype(str)], scored["prediction"],
                                   rtol=1e-12)  # fmt: skip
    pd.testing.assert_frame_equal(
        pd.DataFrame(list(logged[engine]["inputs"])), pd.DataFrame(list(logged["local"]["inputs"]))
    )


def test_spark_logs_rows_without_keys_by_run_partition_and_row(
    store: ModelStore, games_parquet: Path, tmp_path: Path
) -> None:
    log = tmp_path / "log.parquet"
    result = score("games", str(games_parquet), str(tmp_path / "out"), engine="spark",
                   run_id="nightly", log_predictions=str(log))  # fmt: skip
    ids = pd.read_parquet(log)["id"]
    assert result.logged == len(ids) == len(set(ids)) == 12_000
    assert ids.str.fullmatch(r"nightly:\d+:\d+").all()


def test_spark_logs_to_a_parquet_folder_only(store: ModelStore, tmp_path: Path) -> None:
    for log in (str(tmp_path / "log.jsonl"), "table:predlog"):
        with pytest.raises(DatasetError, match="a folder of Parquet files"):
            score("games", "dataset:games?rows=10", str(tmp_path / "out"), engine="spark",
                  log_predictions=log)  # fmt: skip
    assert not (tmp_path / "out").exists() and not (tmp_path / "log.jsonl").exists()


def test_spark_refuses_a_schema_mismatch_before_any_work(store: ModelStore, tmp_path: Path) -> None:
    source = tmp_path / "bad.parquet"
    games_rows(100).drop(columns=["G4"]).to_parquet(source)
    with pytest.raises(DatasetError, match="'G4'"):
        score("games", str(source), str(tmp_path / "out"), keys=["user_id"], engine="spark")
    assert not (tmp_path / "out").exists()


def test_a_spark_job_killed_at_any_moment_leaves_the_sink_as_it_was(
    store: ModelStore, tmp_path: Path
) -> None:
    """SIGKILL of `scalepipe batch score --engine spark` (its JVM and Python workers too)
    at random moments while it writes: a reader sees the earlier run every time. The
    moments are timed from the run's staging folder appearing to its move into place, not
    from the start of the process (most of which is the JVM starting) nor to its end (the
    JVM's shutdown after the commit), so that they fall inside the writing."""
    source = tmp_path / "in.parquet"
    pq.write_table(pq.read_table(bad_rows_file(tmp_path)).slice(40), source)
    out = tmp_path / "out"
    score("games", str(source), str(out), keys=["user_id"], run_id="nightly")
    command = [sys.executable, "-m", "scalepipe.cli", "batch", "score", "games:2", "-i",
               str(source), "-o", str(out), "--run-id", "nightly", "--engine", "spark"]  # fmt: skip

    def start_writing() -> tuple[subprocess.Popen[bytes], Path]:
        """The job, once it has begun writing its run, and its staging folder."""
        earlier = set(out.iterdir())
        job = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               start_new_session=True)  # fmt: skip
        deadline = time.monotonic() + 120
        while True:
            staging = [p for p in set(out.iterdir()) - earlier if p.name.startswith("_staging-")]
            if staging:
                return job, staging[0]
            assert job.poll() is None, "the job ended before it began writing"
            assert time.monotonic() < deadline, "the job never began writing"
            time.sleep(0.005)

    job, staging = start_writing()
    began = time.monotonic()
    while staging.exists():
        assert job.poll() is None, "the job ended before it moved its run into place"
        time.sleep(0.005)
    writing = time.monotonic() - began
    assert job.wait(timeout=300) == 0
    assert set(read_run(out, "nightly")["model_version"]) == {2}
    score("games", str(source), str(out), keys=["user_id"], run_id="nightly")
    before = folder_state(out)

    interrupted = 0
    for percent in random.Random(11).sample(range(0, 100), 5):
        job, _ = start_writing()
        time.sleep(writing * percent / 100)
        os.killpg(job.pid, signal.SIGKILL)  # the CLI, its JVM and its Python workers
        job.wait()
        if folder_state(out) == before:
            interrupted += 1
            continue
        run = read_run(out, "nightly")  # all or nothing
        assert set(run["model_version"]) == {2} and len(run) == 460, f"killed at {percent}%"
        score("games", str(source), str(out), keys=["user_id"], run_id="nightly")
        before = folder_state(out)
    assert interrupted >= 3, f"only {interrupted} of 5 kills landed before the commit"
