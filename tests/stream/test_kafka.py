"""Stream jobs on a Kafka-protocol broker (Tansu, started once per run): results equal
the Predictor's, and SIGKILL under load loses and repeats no result."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from scalepipe.io import load
from scalepipe.predict import Predictor
from scalepipe.store import ModelStore
from scalepipe.stream import Limits, produce, score
from tests.stream.conftest import kafka_records
from tests.stream.test_redis import kill_again_and_again


@pytest.fixture
def topics(kafka_server: str, request: pytest.FixtureRequest) -> dict[str, str]:
    import uuid

    tag = uuid.uuid4().hex[:8]
    # A short session: a killed consumer's partitions go to the next one within 2 s.
    base = f"kafka://{kafka_server}?session_timeout=2&topic="
    return {"in": f"{base}in-{tag}", "out": f"{base}out-{tag}", "dead": f"{base}dead-{tag}",
            "out_name": f"out-{tag}", "in_name": f"in-{tag}", "group": f"group-{tag}"}  # fmt: skip


def test_kafka_to_kafka_scores_every_message_as_the_predictor_does(
    store: ModelStore, kafka_server: str, topics: dict[str, str]
) -> None:
    produced = produce("dataset:games?rows=3000", topics["in"])
    stats = score("games", topics["in"], topics["out"], group=topics["group"],
                  dead_letter_url=topics["dead"], limits=Limits(idle=1.0))  # fmt: skip
    results = kafka_records(kafka_server, topics["out_name"])
    assert produced.messages == stats.scored == len(results) == 3_000
    assert [r["id"] for r in results] == [str(i) for i in range(3_000)]
    expected = Predictor.load("games").predict_frame(load("games", rows=3_000))
    np.testing.assert_allclose([r["prediction"] for r in results], expected, rtol=1e-12)
    again = score("games", topics["in"], topics["out"], group=topics["group"],
                  dead_letter_url=topics["dead"], limits=Limits(idle=1.0))  # fmt: skip
    assert again.scored == 0


def test_sigkill_20_times_under_load_loses_and_repeats_no_message(
    store: ModelStore, kafka_server: str, topics: dict[str, str],
    redis_streams: dict[str, str],
) -> None:  # fmt: skip
    """Kafka in, Redis out: the results are written once per id (within the dedupe window)."""
    results = kill_again_and_again(redis_streams, topics["in"], redis_streams["out_name"])
    sent = [str(r["id"]) for r in kafka_records(kafka_server, topics["in_name"])]
    ids = [r["id"] for r in results]
    assert len(sent) > 20_000
    assert len(ids) == len(set(ids)) == len(sent)
    assert set(ids) == set(sent)


@pytest.mark.usefixtures("store")
def test_spark_structured_streaming_scores_kafka_and_goes_on_from_its_checkpoint(
    kafka_server: str, topics: dict[str, str], tmp_path: Path
) -> None:
    """The book's Kafka -> Spark -> Kafka pipeline; a second run with the same checkpoint
    reads only what came since."""
    checkpoint = str(tmp_path / "checkpoint")
    produce("dataset:games?rows=1000", topics["in"])
    first = score("games", topics["in"], topics["out"], engine="spark", checkpoint=checkpoint,
                  dead_letter_url=topics["dead"], limits=Limits(idle=3.0))  # fmt: skip
    produce("dataset:games?rows=500&seed=9", topics["in"])
    second = score("games", topics["in"], topics["out"], engine="spark", checkpoint=checkpoint,
                   dead_letter_url=topics["dead"], limits=Limits(idle=3.0))  # fmt: skip
    results = kafka_records(kafka_server, topics["out_name"])
    assert (first.scored, second.scored, len(results)) == (1_000, 500, 1_500)
    expected = Predictor.load("games").predict_frame(load("games", rows=1_000))
    np.testing.assert_allclose([r["prediction"] for r in results[:1_000]], expected, rtol=1e-12)


def test_spark_structured_streaming_logs_each_message_it_scored(
    store: ModelStore, kafka_server: str, topics: dict[str, str], tmp_path: Path
) -> None:
    """The executors send each scored message's features beside its result; the driver
    logs them once the results are written: a record per result, none for a dead letter."""
    import json

    from confluent_kafka import Producer

    produce("dataset:games?rows=600", topics["in"])
    producer = Producer({"bootstrap.servers": kafka_server})
    producer.produce(topics["in_name"], b'{"id": "bad", "G1": "x"}')
    producer.flush(10)
    log = tmp_path / "log.jsonl"
    stats = score("games", topics["in"], topics["out"], engine="spark",
                  checkpoint=str(tmp_path / "checkpoint"), dead_letter_url=topics["dead"],
                  limits=Limits(idle=3.0), log_predictions=str(log))  # fmt: skip
    assert (stats.scored, stats.dead_lettered, stats.logged) == (600, 1, 600)
    records = {record["id"]: record for record in map(json.loads, log.read_text().splitlines())}
    assert sorted(records, key=int) == [str(i) for i in range(600)]
    results = {r["id"]: r["prediction"] for r in kafka_records(kafka_server, topics["out_name"])}
    assert {id: record["output"] for id, record in records.items()} == results
    games = load("games", rows=600)
    names = [f"G{i}" for i in range(1, 11)]
    for index in (0, 299, 599):
        assert records[str(index)]["inputs"] == {n: float(games[n][index]) for n in names}
