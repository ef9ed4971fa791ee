"""The Beam streaming engine (the book's Dataflow pipeline) on Beam's local streaming
runner: Pub/Sub emulator in, Datastore emulator out, dead letters to a Pub/Sub topic."""

from __future__ import annotations

import uuid
from pathlib import Path

import numpy as np
import orjson
import pytest

from scalepipe.io import load
from scalepipe.predict import Predictor
from scalepipe.store import ModelStore
from scalepipe.stream import Limits, open_broker, produce, score
from tests.stream.conftest import drain

PROJECT = "scalepipe-test"  # Beam's Pub/Sub names need a project of 6 to 30 characters


def test_pubsub_to_datastore_on_beam_scores_every_message_once_per_id(
    store: ModelStore,
    pubsub_emulator: str,
    datastore_emulator: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    """...and logs a record per scored message (each bundle its own Parquet file)."""
    monkeypatch.setenv("PUBSUB_EMULATOR_HOST", pubsub_emulator)
    monkeypatch.setenv("DATASTORE_EMULATOR_HOST", datastore_emulator)
    tag = uuid.uuid4().hex[:8]
    source = f"pubsub://{PROJECT}/topics/births-{tag}"
    dead = f"pubsub://{PROJECT}/topics/dead-{tag}"
    open_broker(source).close()
    open_broker(source, group="beam").close()
    open_broker(dead).close()
    open_broker(dead, group="check").close()
    produce("dataset:games?rows=500", source)
    publisher = open_broker(source)
    publisher.publish([("bad", orjson.dumps({"id": "bad", "G1": "abc"}))])
    publisher.close()

    log = tmp_path / "log.parquet"
    stats = score("games", source, f"datastore://{PROJECT}/scores-{tag}", group="beam",
                  dead_letter_url=dead, engine="beam", limits=Limits(idle=3.0),
                  log_predictions=str(log))  # fmt: skip

    from google.cloud import datastore

    client = datastore.Client(project=PROJECT)
    entities = {entity.key.name: entity for entity in client.query(kind=f"scores-{tag}").fetch()}
    assert stats.scored == len(entities) == 500
    assert stats.dead_lettered == 1
    expected = Predictor.load("games").predict_frame(load("games", rows=500))
    np.testing.assert_allclose([entities[str(i)]["prediction"] for i in range(500)], expected,
                               rtol=1e-12)  # fmt: skip
    assert {(e["model"], e["version"]) for e in entities.values()} == {("games", 1)}
    letters = drain(dead, "check", 2.0)
    assert [(letter["id"], letter["field"]) for letter in letters] == [("bad", "G1")]
    import pandas as pd

    records = pd.read_parquet(log).set_index("id")
    assert stats.logged == len(records) == 500 and sorted(records.index, key=int) == [
        str(i) for i in range(500)
    ]
    np.testing.assert_allclose(records.loc[[str(i) for i in range(500)], "output"], expected,
                               rtol=1e-12)  # fmt: skip
