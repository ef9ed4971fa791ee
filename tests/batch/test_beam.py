"""Batch scoring on Apache Beam (the FnApiRunner, offline): the same rows as the local
engine, through RunInference with scalepipe's own model handler."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from scalepipe.batch import score
from scalepipe.errors import DatasetError, InvalidInput
from scalepipe.store import ModelStore
from tests.batch.conftest import games_rows
from tests.batch.test_local import bad_rows_file, expected, read_run
from tests.batch.test_spark import logs_as_the_local_engine, same_rows
from tests.test_cli import scalepipe


@pytest.mark.parametrize("model", ["games:1", "games:2"], ids=["logistic", "gradient boosting"])
def test_beam_gives_the_local_engines_rows(
    store: ModelStore, games_parquet: Path, tmp_path: Path, model: str
) -> None:
    score(model, str(games_parquet), str(tmp_path / "local"), keys=["user_id"], run_id="r")
    beam = score(model, str(games_parquet), str(tmp_path / "beam"), keys=["user_id"],
                 run_id="r", engine="beam")  # fmt: skip
    assert (beam.engine, beam.rows_in, beam.rows_out, beam.rejected) == ("beam", 12_000, 12_000, 0)
    same_rows(read_run(tmp_path / "local", "r"), read_run(tmp_path / "beam", "r"))
    assert [p.name for p in (tmp_path / "beam").iterdir()] == ["run=r"]


def test_beam_from_the_s3_server_into_redis(
    store: ModelStore, games_parquet: Path, s3_store: str, redis_url: str
) -> None:
    import fsspec

    bucket = s3_store.rsplit("/", 1)[0] + "/input"
    for path in sorted(games_parquet.iterdir()):
        with fsspec.open(f"{bucket}/{path.name}", "wb") as remote:
            remote.write(path.read_bytes())
    done = scalepipe("batch", "score", "games", "-i", bucket, "-o", redis_url, "--key",
                     "user_id", "--engine", "beam", "--run-id", "b")  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "scored 12,000 rows with games:1 on the beam engine" in done.stdout
    source = pd.read_parquet(games_parquet)
    truth = expected("games", source)
    for user in source["user_id"].iloc[[0, 4_321, 11_999]]:
        found = scalepipe("batch", "lookup", redis_url, str(user), "--json")
        assert found.returncode == 0, found.stderr
        prediction = float(json.loads(found.stdout)["prediction"])
        assert prediction == pytest.approx(truth[user], abs=1e-12)


def test_beam_follows_on_error_as_the_local_engine(store: ModelStore, tmp_path: Path) -> None:
    source = str(bad_rows_file(tmp_path))
    user = games_rows(500)["user_id"][5]  # rows are read in parts: named by their keys
    message = rf"^the row with user_id={user}: feature 'G2' must be a finite number, got null"
    with pytest.raises(InvalidInput, match=message):
        score("games", source, str(tmp_path / "failed"), keys=["user_id"], engine="beam")
    assert not list((tmp_path / "failed").glob("run=*"))

    for engine in ("local", "beam"):
        result = score("games", source, str(tmp_path / engine), keys=["user_id"], engine=engine,
                       on_error=f"dead-letter:{tmp_path / engine}-dead", run_id="d")  # fmt: skip
        assert (result.rows_in, result.rows_out, result.rejected) == (500, 497, 3)
    same_rows(read_run(tmp_path / "local", "d"), read_run(tmp_path / "beam", "d"))
    letters = {engine: read_run(tmp_path / f"{engine}-dead", "d").sort_values("user_id",
               ignore_index=True) for engine in ("local", "beam")}  # fmt: skip
    pd.testing.assert_frame_equal(letters["local"], letters["beam"], check_dtype=False)


@pytest.mark.parametrize("kind", [".jsonl", ".parquet"])
def test_beam_logs_each_scored_row_as_the_local_engine_does(
    store: ModelStore, tmp_path: Path, kind: str
) -> None:
    """The workers stage their records, the driver writes them into any kind of log."""
    logs_as_the_local_engine("beam", tmp_path, "skip", kind)


def test_beam_refuses_a_schema_mismatch_before_any_work(store: ModelStore, tmp_path: Path) -> None:
    source = tmp_path / "bad.parquet"
    games_rows(100).drop(columns=["G4"]).to_parquet(source)
    with pytest.raises(DatasetError, match="'G4'"):
        score("games", str(source), str(tmp_path / "out"), keys=["user_id"], engine="beam")
    assert not (tmp_path / "out").exists()


def test_an_unreadable_staged_log_is_the_error_raised_even_when_closing_fails_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The driver's publishing of staged records: a staged file that is not Arrow stops
    it with its own error; a failing close() after it is logged, not raised instead.
    (close() is made to fail by a patch: no real log fails on demand after opening.)"""
    import datetime as dt

    import fsspec
    import pyarrow as pa

    from scalepipe.batch import beam
    from scalepipe.batch.scoring import ScorePlan
    from scalepipe.io.predlog import PredictionLogWriter

    staged = tmp_path / "staged"
    staged.mkdir()
    (staged / "part-0.arrow").write_bytes(b"not an Arrow stream")
    plan = ScorePlan(features=("G1",), keys=None, model="games", version=1, run_id="r",
                     scored_at=dt.datetime.now(dt.UTC))  # fmt: skip

    def failing_close(self: PredictionLogWriter) -> int:
        raise OSError("disk gone")

    monkeypatch.setattr(PredictionLogWriter, "close", failing_close)
    filesystem = fsspec.filesystem("file")
    with pytest.raises(pa.ArrowInvalid):
        beam._publish_log(filesystem, str(staged), str(tmp_path / "log.jsonl"), plan)
    assert "closing after an error failed" in caplog.text
