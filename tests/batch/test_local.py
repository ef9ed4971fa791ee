"""Batch scoring on the local engine: real files, the real warehouse, the real Redis."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from scalepipe.batch import score
from scalepipe.batch.scoring import SCORED_AT
from scalepipe.errors import DatasetError, InvalidInput
from scalepipe.io import open_warehouse
from scalepipe.predict import Predictor
from scalepipe.store import ModelStore
from tests.batch.conftest import games_rows
from tests.test_cli import scalepipe

OUTPUT_COLUMNS = ["user_id", "prediction", "model", "model_version", "scored_at", "run_id"]


def read_run(folder: Path, run_id: str) -> pd.DataFrame:
    frame: pd.DataFrame = pq.read_table(folder / f"run={run_id}").to_pandas()
    return frame


def expected(model: str, frame: pd.DataFrame) -> pd.Series:
    """The Predictor's scores for the frame's rows, by user id."""
    scores = Predictor.load(model).predict_frame(frame)
    return pd.Series(scores, index=frame["user_id"].to_numpy())


def test_scores_a_parquet_folder_into_a_parquet_folder(
    store: ModelStore, games_parquet: Path, tmp_path: Path
) -> None:
    before = datetime.now(UTC).replace(microsecond=0)
    result = score(
        "games", str(games_parquet), str(tmp_path / "out"), keys=["user_id"], run_id="day1"
    )
    after = datetime.now(UTC)

    assert (result.model, result.version, result.run_id) == ("games", 1, "day1")
    assert (result.rows_in, result.rows_out, result.rejected) == (12_000, 12_000, 0)
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["run=day1"]
    written = read_run(tmp_path / "out", "day1")
    assert list(written.columns) == OUTPUT_COLUMNS
    types = pq.read_schema(next((tmp_path / "out" / "run=day1").iterdir())).types
    assert types == [pa.int64(), pa.float64(), pa.string(), pa.int64(), SCORED_AT, pa.string()]
    assert written["user_id"].is_unique
    source = pd.read_parquet(games_parquet)
    truth = expected("games", source)
    assert sorted(written["user_id"]) == sorted(truth.index)
    np.testing.assert_allclose(
        written["prediction"], truth.loc[written["user_id"]].to_numpy(), rtol=0, atol=1e-12
    )
    assert 0.05 < written["prediction"].mean() < 0.3  # the games label rate is about 0.13
    assert set(written["model"]) == {"games"} and set(written["model_version"]) == {1}
    assert set(written["run_id"]) == {"day1"}
    stamps = set(written["scored_at"])
    assert len(stamps) == 1 and before <= stamps.pop().to_pydatetime() <= after


def test_without_keys_every_input_column_is_kept(
    store: ModelStore, games_parquet: Path, tmp_path: Path
) -> None:
    score("games", str(games_parquet), str(tmp_path / "out"), run_id="all")
    written = read_run(tmp_path / "out", "all")
    source = pd.read_parquet(games_parquet)
    assert list(written.columns) == [*source.columns, *OUTPUT_COLUMNS[1:]]
    # Each scoring thread writes a part file of its own: the rows, in another order.
    in_order = written[source.columns].sort_values("user_id", ignore_index=True)
    pd.testing.assert_frame_equal(in_order, source.sort_values("user_id", ignore_index=True))


def test_rerunning_a_run_id_replaces_its_rows(
    store: ModelStore, games_parquet: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    score("games:1", str(games_parquet), str(out), keys=["user_id"], run_id="day1")
    score("games:2", str(games_parquet), str(out), keys=["user_id"], run_id="day1")
    score("games:1", str(games_parquet), str(out), keys=["user_id"], run_id="day2")

    assert sorted(p.name for p in out.iterdir()) == ["run=day1", "run=day2"]
    again = read_run(out, "day1")
    assert len(again) == 12_000 and set(again["model_version"]) == {2}
    truth = expected("games:2", pd.read_parquet(games_parquet))
    np.testing.assert_allclose(
        again["prediction"], truth.loc[again["user_id"]].to_numpy(), rtol=0, atol=1e-12
    )
    both = pq.read_table(out).to_pandas()
    assert len(both) == 24_000


@pytest.mark.parametrize(
    ("change", "named"),
    [
        (lambda frame: frame.drop(columns=["G3"]), "'G3'"),
        (lambda frame: frame.assign(G7=frame["G7"].map({0: "no", 1: "yes"})), "'G7'"),
        (lambda frame: frame.drop(columns=["user_id"]), "'user_id'"),
    ],
    ids=["missing feature", "text feature", "missing key"],
)
def test_a_schema_mismatch_fails_before_any_work(
    store: ModelStore, tmp_path: Path, change: object, named: str
) -> None:
    source = tmp_path / "bad.parquet"
    change_frame = change  # a callable from the parameters
    assert callable(change_frame)
    change_frame(games_rows(500)).to_parquet(source)
    with pytest.raises(DatasetError, match=named):
        score("games", str(source), str(tmp_path / "out"), keys=["user_id"])
    assert not (tmp_path / "out").exists()


def bad_rows_file(tmp_path: Path) -> Path:
    """500 players, three of whom cannot be scored by a logistic model: a null, a NaN
    and an infinity."""
    frame = games_rows(500).astype({"G2": "Int64", "G4": "float64", "G9": "float64"})
    frame.loc[5, "G2"] = pd.NA
    frame.loc[17, "G4"] = np.nan
    frame.loc[30, "G9"] = np.inf
    table = pa.Table.from_pandas(frame, preserve_index=False)
    for name in ("G4", "G9"):  # from_pandas would store NaN as null
        index = table.schema.get_field_index(name)
        table = table.set_column(index, name, pa.array(frame[name].to_numpy()))
    path = tmp_path / "bad-rows.parquet"
    pq.write_table(table, path)
    return path


def test_bad_rows_fail_the_job_naming_the_row(store: ModelStore, tmp_path: Path) -> None:
    user = games_rows(500)["user_id"][5]
    with pytest.raises(
        InvalidInput, match=rf"^row 5 \(user_id={user}\): feature 'G2' must be a finite number"
    ):
        score("games", str(bad_rows_file(tmp_path)), str(tmp_path / "out"), keys=["user_id"])
    assert not list((tmp_path / "out").glob("run=*"))


def test_bad_rows_are_skipped_and_counted(store: ModelStore, tmp_path: Path) -> None:
    source = bad_rows_file(tmp_path)
    result = score("games", str(source), str(tmp_path / "out"), keys=["user_id"],
                   on_error="skip", run_id="r")  # fmt: skip
    assert (result.rows_in, result.rows_out, result.rejected) == (500, 497, 3)
    bad_ids = pd.read_parquet(source)["user_id"].iloc[[5, 17, 30]]
    written = read_run(tmp_path / "out", "r")
    assert len(written) == 497 and not written["user_id"].isin(bad_ids).any()


def test_bad_rows_go_to_a_dead_letter_sink_with_the_reason(
    store: ModelStore, tmp_path: Path
) -> None:
    source = bad_rows_file(tmp_path)
    dead = tmp_path / "dead"
    result = score("games", str(source), str(tmp_path / "out"), keys=["user_id"],
                   on_error=f"dead-letter:{dead}", run_id="r")  # fmt: skip
    assert (result.rows_out, result.rejected) == (497, 3)
    letters = read_run(dead, "r")
    original = pd.read_parquet(source)
    assert list(letters["user_id"]) == list(original["user_id"].iloc[[5, 17, 30]])
    assert list(letters["error"]) == [
        "feature 'G2' must be a finite number, got null",
        "feature 'G4' must be a finite number, got nan",
        "feature 'G9' must be a finite number, got inf",
    ]
    assert letters["G1"].tolist() == original["G1"].iloc[[5, 17, 30]].tolist()


def test_a_model_that_takes_missing_values_scores_nulls(store: ModelStore, tmp_path: Path) -> None:
    result = score("games:2", str(bad_rows_file(tmp_path)), str(tmp_path / "out"),
                   keys=["user_id"], on_error="skip")  # fmt: skip
    assert (result.rows_out, result.rejected) == (499, 1)  # only the infinity


@pytest.mark.parametrize("backend", ["duckdb", "postgresql"])
def test_warehouse_table_sinks_replace_or_append_per_run(
    store: ModelStore,
    games_parquet: Path,
    tmp_path: Path,
    backend: str,
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if backend == "postgresql":
        monkeypatch.setenv("SCALEPIPE_WAREHOUSE", request.getfixturevalue("postgres_url"))
    from scalepipe.config import Settings

    warehouse = open_warehouse(Settings.load().warehouse)
    source = str(games_parquet)
    score("games", source, "table:predictions", keys=["user_id"], run_id="a")
    score("games:2", source, "table:predictions", keys=["user_id"], run_id="b")
    replaced = warehouse.query("SELECT run_id, count(*) AS n FROM predictions GROUP BY 1")
    assert replaced.to_dict("records") == [{"run_id": "b", "n": 12_000}]

    for run in ("a", "b", "a"):
        score("games", source, "table:history?mode=append", keys=["user_id"], run_id=run)
    history = warehouse.query(
        "SELECT run_id, count(*) AS n, count(DISTINCT user_id) AS ids FROM history "
        "GROUP BY 1 ORDER BY 1"
    )
    assert history.to_dict("records") == [
        {"run_id": "a", "n": 12_000, "ids": 12_000},
        {"run_id": "b", "n": 12_000, "ids": 12_000},
    ]
    truth = expected("games", pd.read_parquet(games_parquet))
    rows = warehouse.query("SELECT user_id, prediction FROM history WHERE run_id = 'a'")
    np.testing.assert_allclose(
        rows["prediction"], truth.loc[rows["user_id"]].to_numpy(), rtol=0, atol=1e-12
    )


def test_redis_lookup_store_and_the_lookup_command(
    store: ModelStore, games_parquet: Path, redis_url: str
) -> None:
    import redis

    refused = scalepipe("batch", "score", "games", "-i", str(games_parquet), "-o", redis_url)
    assert refused.returncode == 2 and "--key" in refused.stderr

    for _ in range(2):  # the same run twice: the same entries, none twice
        done = scalepipe("batch", "score", "games", "-i", str(games_parquet), "-o", redis_url,
                         "--key", "user_id", "--run-id", "nightly", "--json")  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)["rows_out"] == 12_000
    prefix = redis_url.split("prefix=")[1]
    client = redis.Redis(host="127.0.0.1", port=6379)
    assert sum(1 for _ in client.scan_iter(match=f"{prefix}*", count=1_000)) == 12_000
    assert client.ttl(f"{prefix}1000") == -1  # staged entries expire; committed ones do not

    source = pd.read_parquet(games_parquet)
    truth = expected("games", source)
    user = int(source["user_id"].iloc[123])
    found = scalepipe("batch", "lookup", redis_url, str(user), "--json")
    assert found.returncode == 0, found.stderr
    entry = json.loads(found.stdout)
    assert float(entry["prediction"]) == pytest.approx(truth[user], abs=1e-12)
    assert (entry["model"], entry["model_version"], entry["run_id"]) == ("games", "1", "nightly")

    missing = scalepipe("batch", "lookup", redis_url, "no-such-user")
    assert missing.returncode == 2 and "no entry 'no-such-user'" in missing.stderr


def test_the_command_prints_a_summary(
    store: ModelStore, games_parquet: Path, tmp_path: Path
) -> None:
    done = scalepipe("batch", "score", "games", "--input", str(games_parquet),
                     "--output", str(tmp_path / "out"), "--run-id", "x")  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "scored 12,000 rows with games:1 on the local engine" in done.stdout
    assert "wrote 12,000 rows to" in done.stdout and "as run x; rejected 0" in done.stdout
    assert "rows/s" in done.stderr  # the progress bar


def test_a_generated_source_and_an_input_that_is_empty(store: ModelStore, tmp_path: Path) -> None:
    result = score("games", "dataset:games?rows=70000&seed=3", str(tmp_path / "out"), run_id="g")
    assert result.rows_out == 70_000
    empty = tmp_path / "empty.parquet"
    pq.write_table(pa.Table.from_pandas(games_rows(10).iloc[:0], preserve_index=False), empty)
    nothing = score("games", str(empty), str(tmp_path / "out"), keys=["user_id"], run_id="e")
    assert (nothing.rows_in, nothing.rows_out) == (0, 0)
    assert pq.read_table(tmp_path / "out" / "run=e").num_rows == 0  # a file with the columns
    score("games", "dataset:games?rows=10", "table:scores")
    with pytest.raises(DatasetError, match="no rows"):  # an empty input never wipes a table
        score("games", str(empty), "table:scores", keys=["user_id"])
    warehouse = open_warehouse(str(tmp_path / "warehouse.duckdb"))
    assert len(warehouse.query("SELECT * FROM scores")) == 10


def folder_state(folder: Path) -> dict[str, bytes]:
    """What a reader sees: every file outside hidden `_`/`.` folders, with its bytes."""
    return {
        str(path.relative_to(folder)): path.read_bytes()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
        and not any(part.startswith(("_", ".")) for part in path.relative_to(folder).parts)
    }


def test_a_job_killed_at_any_moment_leaves_the_sink_as_it_was(
    store: ModelStore, tmp_path: Path
) -> None:
    """SIGKILL at random moments of a run that replaces an earlier run of the same id: a
    reader sees the earlier rows every time; the next run completes and cleans up."""
    import random
    import signal
    import subprocess
    import sys
    import time

    out = tmp_path / "out"
    rows = "dataset:games?rows=400000"
    command = [sys.executable, "-m", "scalepipe.cli", "batch", "score", "games:2",
               "-i", rows, "-o", str(out), "--run-id", "nightly"]  # fmt: skip
    started = time.monotonic()
    subprocess.run(command, check=True, capture_output=True, timeout=300)
    whole = time.monotonic() - started
    score("games", "dataset:games?rows=1000", str(out), run_id="nightly")
    before = folder_state(out)

    interrupted = 0
    for percent in random.Random(10).sample(range(1, 100), 8):
        job = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(whole * percent / 100)
        job.send_signal(signal.SIGKILL)
        job.wait()
        if folder_state(out) == before:
            interrupted += 1
            continue
        # All or nothing: a run killed after its commit shows all its rows, and only them.
        run = read_run(out, "nightly")
        assert len(run) == 400_000 and set(run["model_version"]) == {2}, f"killed at {percent}%"
        score("games", "dataset:games?rows=1000", str(out), run_id="nightly")
        before = folder_state(out)
    assert interrupted >= 4  # most moments fall inside the run
    subprocess.run(command, check=True, capture_output=True, timeout=300)
    assert [p.name for p in out.iterdir()] == ["run=nightly"]  # nothing hidden left over
    finished = read_run(out, "nightly")
    assert len(finished) == 400_000 and set(finished["model_version"]) == {2}


PEAK_MEMORY = """
import sys
from pathlib import Path
from scalepipe.batch import score
score("games", f"dataset:games?rows={sys.argv[1]}", sys.argv[2], run_id="m")
status = Path("/proc/self/status").read_text()
print(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM")))
"""


def test_memory_does_not_grow_with_the_rows(store: ModelStore, tmp_path: Path) -> None:
    """Peak RSS of the local engine for 3 M and 9 M rows: nearly the same (the allocator
    settles: 1 M rows 350 MB, 3 M 410, 6 M 440, 12 M 446 here), and under 500 MB.
    (VmHWM of the process itself: rusage would count the memory of the parent it forked
    from.)"""
    import subprocess
    import sys

    peaks = []
    for rows in (3_000_000, 9_000_000):
        run = subprocess.run(
            [sys.executable, "-c", PEAK_MEMORY, str(rows), str(tmp_path / f"out-{rows}")],
            capture_output=True, text=True, check=True, timeout=300,
        )  # fmt: skip
        peaks.append(int(run.stdout.split()[-1]) / 1024)
    small, large = peaks
    assert large < 500, f"peak RSS {large:.0f} MB for 9 M rows"
    assert large - small < 60, f"peak RSS grew from {small:.0f} to {large:.0f} MB with the rows"


def test_datastore_lookup_store_on_the_emulator(
    store: ModelStore,
    games_parquet: Path,
    datastore_emulator: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The book's chapter 7 lookup store: an entity per player, read back by key."""
    import uuid

    from scalepipe.io.keyvalue import DatastoreSink

    monkeypatch.setenv("DATASTORE_EMULATOR_HOST", datastore_emulator)
    kind = f"Scores{uuid.uuid4().hex[:8]}"
    sink = f"datastore://test/{kind}"
    with pytest.raises(DatasetError, match="--key"):
        score("games", str(games_parquet), sink)
    for _ in range(2):  # the same run twice: the same entities, none twice
        result = score("games", str(games_parquet), sink, keys=["user_id"], run_id="nightly")
        assert result.rows_out == 12_000
    client = DatastoreSink(sink, None).client()  # the emulator, without credentials
    query = client.query(kind=kind)
    query.keys_only()
    assert len(list(query.fetch())) == 12_000

    source = pd.read_parquet(games_parquet)
    truth = expected("games", source)
    user = int(source["user_id"].iloc[77])
    found = scalepipe("batch", "lookup", sink, str(user), "--json")
    assert found.returncode == 0, found.stderr
    entry = json.loads(found.stdout)
    assert float(entry["prediction"]) == pytest.approx(truth[user], abs=1e-12)
    assert (entry["model"], entry["model_version"], entry["run_id"]) == ("games", "1", "nightly")


@pytest.mark.parametrize("bucket", ["s3_store", "gcs_store"], ids=["s3", "gcs"])
def test_parquet_folders_in_a_bucket_in_and_out(
    store: ModelStore, games_parquet: Path, bucket: str, request: pytest.FixtureRequest
) -> None:
    """Input and output in a bucket on the local S3 server and the GCS emulator: one
    run folder, replaced by a rerun, with the rows scored from the bucket's files."""
    import fsspec

    root_url = request.getfixturevalue(bucket).rsplit("/", 1)[0]
    source, out = f"{root_url}/new-users", f"{root_url}/predictions"
    for path in sorted(games_parquet.iterdir()):
        with fsspec.open(f"{source}/{path.name}", "wb") as remote:
            remote.write(path.read_bytes())
    for model in ("games:1", "games:2"):
        score(model, source, out, keys=["user_id"], run_id="cloud")
    filesystem, root = fsspec.core.url_to_fs(out)
    assert [name.rstrip("/").rsplit("/", 1)[1] for name in filesystem.ls(root)] == ["run=cloud"]
    written = pq.read_table(f"{root}/run=cloud", filesystem=filesystem).to_pandas()
    truth = expected("games:2", pd.read_parquet(games_parquet))
    assert len(written) == 12_000 and set(written["model_version"]) == {2}
    np.testing.assert_allclose(
        written["prediction"], truth.loc[written["user_id"]].to_numpy(), rtol=0, atol=1e-12
    )
