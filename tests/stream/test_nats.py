"""Stream jobs on the machine's NATS server with JetStream: results equal the
Predictor's, a restarted group reads nothing twice, and a repeated result id is dropped."""

from __future__ import annotations

import contextlib
import os
import socket
import uuid
from collections.abc import Iterator

import numpy as np
import pytest

from scalepipe.io import load
from scalepipe.predict import Predictor
from scalepipe.store import ModelStore
from scalepipe.stream import Limits, open_broker, produce, score
from tests.stream.conftest import drain


@pytest.fixture
def nats_streams() -> Iterator[dict[str, str]]:
    try:
        with socket.create_connection(("127.0.0.1", 4222), timeout=2):
            pass
    except OSError:
        if os.environ.get("CI"):
            pytest.fail("NATS does not answer on 127.0.0.1:4222; .ci/run should start it")
        pytest.skip("NATS does not answer on 127.0.0.1:4222")
    tag = uuid.uuid4().hex[:8]
    yield {kind: f"nats://127.0.0.1:4222?stream=test-{tag}-{kind}" for kind in ("in", "out")}
    import asyncio

    import nats

    async def delete() -> None:
        client = await nats.connect("nats://127.0.0.1:4222")
        for name in ("in", "out", "in-dead-letter"):
            with contextlib.suppress(Exception):  # a stream the test did not create
                await client.jetstream().delete_stream(f"test-{tag}-{name}")
        await client.close()

    asyncio.run(delete())


def test_nats_to_nats_scores_every_message_once_as_the_predictor_does(
    store: ModelStore, nats_streams: dict[str, str]
) -> None:
    produce("dataset:games?rows=3000", nats_streams["in"])
    stats = score("games", nats_streams["in"], nats_streams["out"], limits=Limits(idle=0.5))
    again = score("games", nats_streams["in"], nats_streams["out"], limits=Limits(idle=0.5))
    found = drain(nats_streams["out"], "check")
    assert stats.scored == len(found) == 3_000 and again.scored == 0
    assert [r["id"] for r in found] == [str(i) for i in range(3_000)]
    expected = Predictor.load("games").predict_frame(load("games", rows=3_000))
    np.testing.assert_allclose([r["prediction"] for r in found], expected, rtol=1e-12)


def test_jetstream_drops_a_result_written_twice_under_one_id(
    nats_streams: dict[str, str],
) -> None:
    writer = open_broker(nats_streams["out"])
    writer.publish([("a", b'{"id": "a"}'), ("b", b'{"id": "b"}')])
    writer.publish([("a", b'{"id": "a"}')])
    writer.close()
    assert [r["id"] for r in drain(nats_streams["out"], "check")] == ["a", "b"]
