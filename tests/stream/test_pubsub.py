"""Stream jobs on gcloud's Pub/Sub emulator (started once per run): topic in, topic out,
every message scored as the Predictor scores it."""

from __future__ import annotations

import uuid

import numpy as np
import pytest

from scalepipe.io import load
from scalepipe.predict import Predictor
from scalepipe.store import ModelStore
from scalepipe.stream import Limits, open_broker, produce, score
from tests.stream.conftest import drain


def test_pubsub_topics_in_and_out_score_every_message(
    store: ModelStore, pubsub_emulator: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PUBSUB_EMULATOR_HOST", pubsub_emulator)
    tag = uuid.uuid4().hex[:8]
    source, sink = f"pubsub://test/topics/in-{tag}", f"pubsub://test/topics/out-{tag}"
    for url in (source, sink):  # the topics, then the subscriptions, before any message
        open_broker(url).close()
    open_broker(source, group="scalepipe").close()
    open_broker(sink, group="check").close()
    produce("dataset:games?rows=2000", source)
    stats = score("games", source, sink, limits=Limits(idle=2.0))
    found = drain(sink, "check", 2.0)
    assert stats.scored == len(found) == 2_000
    by_id = {r["id"]: r["prediction"] for r in found}
    assert sorted(by_id, key=int) == [str(i) for i in range(2_000)]
    expected = Predictor.load("games").predict_frame(load("games", rows=2_000))
    np.testing.assert_allclose([by_id[str(i)] for i in range(2_000)], expected, rtol=1e-12)
    again = drain(source, "scalepipe", 2.0)
    assert again == []
