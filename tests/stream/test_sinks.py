"""Stream results to lookup stores and tables (a Redis hash per id, Datastore entities on
the emulator, a DuckDB or PostgreSQL table, Parquet files): every message's prediction
equals the Predictor's, and a message delivered twice leaves one result where the sink
is keyed by id."""

from __future__ import annotations

import subprocess
import sys
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pyarrow.dataset as ds
import pytest
import redis

from scalepipe.batch.lookup import lookup
from scalepipe.config import Settings
from scalepipe.errors import StreamError
from scalepipe.io import load
from scalepipe.io.warehouse import open_warehouse
from scalepipe.predict import Predictor
from scalepipe.store import ModelStore
from scalepipe.stream import Limits, produce, score
from scalepipe.stream.redis import RedisStream

ROWS = 600


def expected_predictions(rows: int = ROWS) -> dict[str, float]:
    frame = load("games", rows=rows)
    scores = Predictor.load("games").predict_frame(frame)
    return {str(i): float(value) for i, value in enumerate(scores)}


def produce_twice(streams: dict[str, str]) -> None:
    """The messages of the first third are sent again, as a producer that retries does."""
    produce(f"dataset:games?rows={ROWS}", streams["in"])
    client: Any = redis.Redis(host="127.0.0.1", port=6379)
    for _, fields in client.xrange(streams["in_name"], count=ROWS // 3):
        client.xadd(streams["in_name"], fields)


@pytest.mark.parametrize("warehouse", ["duckdb", "postgres"])
def test_a_table_holds_one_row_per_id(
    store: ModelStore,
    redis_streams: dict[str, str],
    request: pytest.FixtureRequest,
    warehouse: str,
) -> None:
    settings = Settings.load()
    if warehouse == "postgres":
        settings = replace(settings, warehouse=request.getfixturevalue("postgres_url"))
    produce_twice(redis_streams)
    stats = score("games", redis_streams["in"], "table:predictions", batch=250,
                  settings=settings, limits=Limits(idle=0.5))  # fmt: skip
    assert stats.scored == ROWS + ROWS // 3
    table = open_warehouse(settings.warehouse).query("SELECT * FROM predictions")
    assert sorted(table["id"], key=int) == [str(i) for i in range(ROWS)]
    expected = expected_predictions()
    np.testing.assert_allclose(
        table["prediction"].to_numpy(), [expected[id] for id in table["id"]], rtol=1e-12
    )
    assert set(table["model"]) == {"games"}
    assert table["time"].notna().all()


def test_a_batch_written_again_after_a_failed_acknowledgement_gives_no_second_row(
    store: ModelStore, redis_streams: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The acknowledgement of the first batch fails after its rows are written (injected
    into our Redis reader: the broker cannot be made to fail on demand); the batch is
    written again, then acknowledged."""
    real_ack = RedisStream.ack
    failures = {"left": 1}

    def failing_ack(self: RedisStream, messages: Any) -> None:
        if failures["left"]:
            failures["left"] -= 1
            raise ConnectionError("the connection dropped before the acknowledgement")
        real_ack(self, messages)

    monkeypatch.setattr(RedisStream, "ack", failing_ack)
    produce(f"dataset:games?rows={ROWS}", redis_streams["in"])
    stats = score("games", redis_streams["in"], "table:predictions", batch=ROWS,
                  limits=Limits(idle=0.5))  # fmt: skip
    assert stats.model_errors == 1
    counted = open_warehouse(Settings.load().warehouse).query(
        "SELECT count(*) AS n, count(DISTINCT id) AS ids FROM predictions"
    )
    assert counted.to_dict("records") == [{"n": ROWS, "ids": ROWS}]


def test_a_redis_hash_per_id_reads_back_with_lookup(
    store: ModelStore, redis_streams: dict[str, str]
) -> None:
    prefix = f"{redis_streams['out_name']}:"
    sink = f"redis://127.0.0.1:6379/0?prefix={prefix}"
    produce_twice(redis_streams)
    score("games", redis_streams["in"], sink, limits=Limits(idle=0.5))
    client: Any = redis.Redis(host="127.0.0.1", port=6379)
    assert len(list(client.scan_iter(match=f"{prefix}*", count=1_000))) == ROWS
    expected = expected_predictions()
    for id in ("0", "17", str(ROWS - 1)):
        entry = lookup(sink, id)
        assert float(entry["prediction"]) == pytest.approx(expected[id], rel=1e-12)
        assert (entry["model"], entry["version"]) == ("games", "1")


def test_datastore_entities_named_by_id_on_the_emulator(
    store: ModelStore,
    redis_streams: dict[str, str],
    datastore_emulator: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DATASTORE_EMULATOR_HOST", datastore_emulator)
    from google.cloud import datastore

    kind = f"Predictions{uuid.uuid4().hex[:8]}"
    produce_twice(redis_streams)
    score("games", redis_streams["in"], f"datastore://test/{kind}", limits=Limits(idle=0.5))
    Client: Any = datastore.Client
    client = Client(project="test")
    entities = list(client.query(kind=kind).fetch())
    assert sorted((entity.key.name for entity in entities), key=int) == [
        str(i) for i in range(ROWS)
    ]
    expected = expected_predictions()
    np.testing.assert_allclose(
        [entity["prediction"] for entity in entities],
        [expected[entity.key.name] for entity in entities],
        rtol=1e-12,
    )


def test_parquet_files_by_day_hold_every_prediction(
    store: ModelStore, redis_streams: dict[str, str], tmp_path: Path
) -> None:
    folder = tmp_path / "predictions"
    produce(f"dataset:games?rows={ROWS}", redis_streams["in"])
    score("games", redis_streams["in"], str(folder), batch=200, limits=Limits(idle=0.5))
    days = [path.name for path in folder.iterdir() if not path.name.startswith("_")]
    assert len(days) == 1 and days[0].startswith("date=")
    assert len(list((folder / days[0]).iterdir())) == 3
    assert list((folder / "_staging").iterdir()) == []
    table = ds.dataset(folder, partitioning="hive", format="parquet").to_table()
    assert sorted(table.column("id").to_pylist(), key=int) == [str(i) for i in range(ROWS)]
    expected = expected_predictions()
    np.testing.assert_allclose(
        table.column("prediction").to_numpy(),
        [expected[id] for id in table.column("id").to_pylist()],
        rtol=1e-12,
    )


def test_dead_letters_to_a_table_name_the_field(
    store: ModelStore, redis_streams: dict[str, str]
) -> None:
    client: Any = redis.Redis(host="127.0.0.1", port=6379)
    good = {f"G{i}": i % 2 for i in range(1, 11)}
    for body in (
        orjson.dumps({"id": "a", **good}),
        orjson.dumps({"id": "b", **good, "G3": "abc"}),
        b"{not json",
    ):
        client.xadd(redis_streams["in_name"], {b"data": body})
    stats = score("games", redis_streams["in"], "table:predictions", attempts=1,
                  dead_letter_url="table:refused", limits=Limits(idle=0.5))  # fmt: skip
    assert (stats.scored, stats.dead_lettered) == (1, 2)
    refused = open_warehouse(Settings.load().warehouse).query(
        "SELECT id, field, error, message FROM refused ORDER BY id NULLS LAST"
    )
    assert refused["id"].tolist()[0] == "b" and refused["field"].tolist()[0] == "G3"
    assert refused["message"].tolist()[1] == "{not json"
    assert "JSON" in refused["error"].tolist()[1] or "json" in refused["error"].tolist()[1]


@pytest.mark.parametrize(
    ("sink", "complaint"),
    [
        ("table:predictions?mode=append", "without options"),
        ("table:bad name", "letters, digits"),
        ("ftp2://host/folder", "unknown sink"),
        ("redis://127.0.0.1:6379/0", "stream"),
        ("datastore://project", "datastore://PROJECT/KIND"),
    ],
)
def test_a_bad_sink_is_named_before_anything_is_read(
    store: ModelStore, redis_streams: dict[str, str], sink: str, complaint: str
) -> None:
    produce("dataset:games?rows=10", redis_streams["in"])
    with pytest.raises(StreamError, match=complaint):
        score("games", redis_streams["in"], sink, limits=Limits(idle=0.5))
    client: Any = redis.Redis(host="127.0.0.1", port=6379)
    assert client.xlen(redis_streams["in_name"]) == 10
    assert not client.exists(redis_streams["out_name"])


def test_the_command_names_the_table_it_wrote(
    store: ModelStore, redis_streams: dict[str, str]
) -> None:
    produce("dataset:games?rows=50", redis_streams["in"])
    done = subprocess.run(
        [sys.executable, "-m", "scalepipe.cli", "stream", "score", "games",
         "--source", redis_streams["in"], "--sink", "table:predictions", "--until-idle", "0.5"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "scored 50 messages with games:1" in done.stdout
    assert "to table:predictions;" in done.stdout
