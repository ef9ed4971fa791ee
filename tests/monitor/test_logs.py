"""--log-predictions on batch and stream jobs: a PredictionRecord per row scored, the
same the server writes, that `scalepipe monitor drift` reads."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.json as pj
import pytest
import redis

from scalepipe.batch import score as batch_score
from scalepipe.config import Settings
from scalepipe.errors import StreamError
from scalepipe.io import load
from scalepipe.io.warehouse import open_warehouse
from scalepipe.monitor import drift
from scalepipe.store import ModelStore
from scalepipe.stream import Limits, produce
from scalepipe.stream import score as stream_score
from tests.test_cli import scalepipe

FEATURES = [f"G{i}" for i in range(1, 11)]


def records(log: str) -> pd.DataFrame:
    if log.startswith("table:"):
        frame = open_warehouse(Settings.load().warehouse).query(f"SELECT * FROM {log[6:]}")
        frame["inputs"] = [json.loads(text) for text in frame["inputs"]]
        return frame
    if log.endswith(".parquet"):
        return pd.read_parquet(log)
    lines: pd.DataFrame = pj.read_json(log).to_pandas()
    return lines


@pytest.mark.parametrize("kind", [".jsonl", ".parquet", "table"])
def test_a_batch_job_logs_every_row_it_scored(
    trained: ModelStore, tmp_path: Path, kind: str
) -> None:
    log = "table:predlog" if kind == "table" else str(tmp_path / f"log{kind}")
    games = load("games", rows=3_000, seed=4)
    games.insert(0, "player", [f"p{i}" for i in range(len(games))])
    games.to_parquet(tmp_path / "games.parquet")
    result = batch_score("games", str(tmp_path / "games.parquet"), str(tmp_path / "out"),
                         keys=["player"], store=trained, log_predictions=log)  # fmt: skip
    assert result.logged == 3_000
    logged = records(log).sort_values("id", key=lambda ids: ids.str[1:].astype(int))
    assert logged["id"].tolist() == games["player"].tolist()
    assert set(logged["model"]) == {"games"} and set(logged["version"]) == {1}
    inputs = pd.DataFrame(list(logged["inputs"]))[FEATURES]
    np.testing.assert_array_equal(inputs.to_numpy(), games[FEATURES].to_numpy(dtype=float))
    scored = pd.read_parquet(tmp_path / "out").sort_values(
        "player", key=lambda p: p.str[1:].astype(int)
    )
    np.testing.assert_allclose(logged["output"], scored["prediction"], rtol=1e-12)
    report = drift("games", log, store=trained)
    assert report.rows == 3_000 and not report.drift


def test_the_command_line_logs_and_says_so(trained: ModelStore, tmp_path: Path) -> None:
    log = tmp_path / "log.jsonl"
    done = scalepipe("batch", "score", "games", "--store", trained.url,
                     "--input", "dataset:games?rows=500", "--output", str(tmp_path / "out"),
                     "--log-predictions", str(log))  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert f"logged 500 predictions to {log}" in done.stdout
    lines = log.read_text().splitlines()
    assert len(lines) == 500 and json.loads(lines[0])["id"].endswith(":0")


def test_a_beam_stream_logs_to_a_parquet_folder_only(trained: ModelStore, tmp_path: Path) -> None:
    with pytest.raises(StreamError, match="a folder of Parquet files"):
        stream_score("games", "pubsub://p/subscriptions/s", "pubsub://p/topics/t", engine="beam",
                     store=trained, log_predictions=str(tmp_path / "l.jsonl"))  # fmt: skip
    assert not (tmp_path / "l.jsonl").exists()


def test_a_stream_job_logs_each_message_it_scored_once_by_its_id(
    trained: ModelStore,
    redis_streams: dict[str, str],
    tmp_path: Path,
) -> None:
    produce("dataset:games?rows=800", redis_streams["in"])
    client: Any = redis.Redis(host="127.0.0.1", port=6379)
    client.xadd(redis_streams["in_name"], {b"data": b'{"id": "bad", "G1": "x"}'})
    log = tmp_path / "log.parquet"
    stats = stream_score("games", redis_streams["in"], redis_streams["out"], batch=300,
                         attempts=1, store=trained, log_predictions=str(log),
                         limits=Limits(idle=0.5))  # fmt: skip
    assert (stats.scored, stats.dead_lettered, stats.logged) == (800, 1, 800)
    logged = pd.read_parquet(log)
    assert sorted(logged["id"], key=int) == [str(i) for i in range(800)]
    games = load("games", rows=800)
    inputs = pd.DataFrame(list(logged.sort_values("id", key=lambda i: i.astype(int))["inputs"]))
    np.testing.assert_array_equal(
        inputs[FEATURES].to_numpy(), games[FEATURES].to_numpy(dtype=float)
    )
    assert not drift("games", str(log), store=trained).drift


def test_a_log_is_read_a_part_at_a_time_keeping_the_models_rows_in_the_window(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from datetime import UTC, datetime, timedelta

    from scalepipe.monitor import logs

    start = datetime(2026, 12, 1, tzinfo=UTC)
    lines = []
    for second in range(300):
        at = (start + timedelta(seconds=second)).isoformat(timespec="milliseconds")
        inputs = {name: (second + index) % 2 for index, name in enumerate(FEATURES)}
        lines.append({"time": at, "model": "games", "version": 1 + second // 200,
                      "id": f"r:{second}", "inputs": inputs, "output": second / 300})  # fmt: skip
        lines.append({"time": at, "model": "other", "id": f"o:{second}",
                      "inputs": {"x": second}, "output": 0.5})  # fmt: skip
        if second % 60 == 0:
            lines.append({"time": at, "model": "games", "id": f"e:{second}", "error": "bad"})
    log = tmp_path / "log.jsonl"
    log.write_bytes(b"".join(json.dumps(line).encode() + b"\n" for line in lines))
    monkeypatch.setattr(logs, "BATCH_ROWS", 7)  # a hundred parts
    everything = logs.read_log(str(log), "games", FEATURES)
    assert (everything.rows, everything.errors, everything.versions) == (300, 5, [1, 2])
    np.testing.assert_array_equal(everything.columns["output"], np.arange(300) / 300)
    np.testing.assert_array_equal(everything.columns["G2"], (np.arange(300) + 1) % 2)
    later = logs.read_log(str(log), "games", FEATURES, since=start + timedelta(seconds=100))
    assert later.rows == 200 and later.start == start + timedelta(seconds=100)
    last = logs.read_log(str(log), "games", FEATURES, window=timedelta(seconds=60))
    assert last.rows == 60 and last.end == start + timedelta(seconds=299)


def test_a_line_over_the_largest_a_record_can_be_is_refused_not_buffered(tmp_path: Path) -> None:
    from scalepipe.monitor import MonitorError, logs

    log = tmp_path / "log.jsonl"
    with log.open("w") as handle:
        handle.write('{"model": "games", "inputs": {"G1": 1}}\n' * 10)
        handle.write(
            '{"model": "games", "inputs": {"G1": "' + "x" * 3 * logs.MAX_LINE_BYTES + '"}}\n'
        )
    with pytest.raises(MonitorError, match="a line of over 16 MB"):
        logs.read_log(str(log), "games", FEATURES)


def test_values_that_are_not_numbers_count_as_missing(tmp_path: Path) -> None:
    from scalepipe.monitor import logs

    time = "2026-12-01T00:00:00.000+00:00"
    lines = [{"time": time, "model": "games", "inputs": inputs, "output": 0.5}
             for inputs in ({"G1": "x", "G2": 1}, {"G1": 2.5}, {"G1": [1]})]  # fmt: skip
    (tmp_path / "log.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    logged = logs.read_log(str(tmp_path / "log.jsonl"), "games", FEATURES)
    np.testing.assert_array_equal(logged.columns["G1"], [np.nan, 2.5, np.nan])
    np.testing.assert_array_equal(logged.columns["G2"], [1.0, np.nan, np.nan])
    assert np.isnan(logged.columns["G3"]).all()


def test_a_file_that_is_not_json_lines_is_refused(tmp_path: Path) -> None:
    from scalepipe.monitor import MonitorError, logs

    (tmp_path / "log.jsonl").write_text('{"model": "games", "inputs": {"G1": 1}}\nnot json\n')
    with pytest.raises(MonitorError, match=r"not a JSON Lines prediction log.*Malformed JSON"):
        logs.read_log(str(tmp_path / "log.jsonl"), "games", FEATURES)


@pytest.mark.parametrize("kind", ["log.jsonl", "log.parquet"])
def test_a_log_in_a_bucket_reads_as_the_same_log_on_disk(
    s3_store: str, tmp_path: Path, kind: str
) -> None:
    """JSON Lines through DuckDB given the bucket's filesystem, Parquet through Arrow's."""
    import fsspec

    from scalepipe.monitor import logs

    rows = [{"time": f"2026-12-01T00:00:{second:02d}.000+00:00", "model": "games", "version": 1,
             "id": f"r:{second}", "inputs": {name: (second * index) % 3 for index, name in
             enumerate(FEATURES)}, "output": second / 60} for second in range(60)]  # fmt: skip
    local = tmp_path / kind
    if kind.endswith(".jsonl"):
        local.write_text("".join(json.dumps(row) + "\n" for row in rows))
    else:
        local.mkdir()
        pd.DataFrame(rows).to_parquet(local / "part-0.parquet")
    remote = f"{s3_store}/{kind}"
    fsspec.core.url_to_fs(remote)[0].put(str(local), remote.removeprefix("s3://"), recursive=True)
    on_disk = logs.read_log(str(local), "games", FEATURES)
    in_bucket = logs.read_log(remote, "games", FEATURES)
    assert in_bucket.rows == on_disk.rows == 60 and in_bucket.end == on_disk.end
    for name in [*FEATURES, "output"]:
        np.testing.assert_array_equal(in_bucket.columns[name], on_disk.columns[name])


def test_the_function_handlers_records_are_read_from_the_platforms_log_exports(
    trained: ModelStore, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """CloudWatch's export to S3 (gzip; "TIME MESSAGE" lines, Lambda's "[INFO]\tTIME\t
    REQUEST\t" before the record) and a Cloud Logging sink (a LogEntry a line, the record
    as textPayload or jsonPayload), the platforms' own lines between them: the records the
    handler logged, every one."""
    import gzip
    import logging

    from scalepipe.functions.runtime import _log_prediction
    from scalepipe.monitor import logs
    from scalepipe.predict import Predictor

    model = Predictor.load("games", store=trained).current
    games = load("games", rows=400, seed=9)[FEATURES]
    scores = [model.predict_one(row) for row in games.to_dict("records")]
    with caplog.at_level(logging.INFO, logger="scalepipe.functions"):
        for row, score in zip(games.to_dict("records"), scores, strict=True):
            _log_prediction(model, row, [score], 0.001)
    said = [r.getMessage() for r in caplog.records if r.name == "scalepipe.functions"]
    assert len(said) == 400
    folder = tmp_path / "exports"
    folder.mkdir()
    with gzip.open(folder / "000000.gz", "wt") as cloudwatch:
        for index, message in enumerate(said[:200]):
            at = "2026-12-01T00:00:00.000Z"
            cloudwatch.write(f"{at} START RequestId: r{index} Version: $LATEST\n")
            cloudwatch.write(f"{at} [INFO]\t{at}\tr{index}\t{message}\n")
            cloudwatch.write(f"{at} REPORT RequestId: r{index}\tDuration: 1.00 ms\n")
    with (folder / "cloud-logging.json").open("w") as sink:
        for index, message in enumerate(said[200:]):
            payload = (
                {"textPayload": message} if index % 2 else {"jsonPayload": json.loads(message)}
            )
            sink.write(json.dumps(payload | {"severity": "INFO", "logName": "projects/p/logs/f"}))
            sink.write("\n" + json.dumps({"textPayload": "Function execution took 3 ms"}) + "\n")
    logged = logs.read_log(str(folder), "games", FEATURES)
    assert logged.rows == 400 and logged.versions == [1]
    order = np.argsort(logged.columns["output"], kind="stable")
    expected = np.argsort(scores, kind="stable")
    np.testing.assert_array_equal(logged.columns["output"][order], np.asarray(scores)[expected])
    for name in FEATURES:
        np.testing.assert_array_equal(
            np.sort(logged.columns[name]), np.sort(games[name].to_numpy(float))
        )
    assert not drift("games", str(folder), store=trained).drift
