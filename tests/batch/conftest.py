"""Published models, input files and the machine's Redis for the batch scoring tests."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from scalepipe.config import Settings
from scalepipe.io import load
from scalepipe.store import ModelStore
from tests import models


@pytest.fixture
def store() -> ModelStore:
    """The settings' store (a fresh folder per test) with games:1 (logistic, champion) and
    games:2 (gradient boosting)."""
    published = ModelStore(Settings.load().store)
    published.publish(models.prepared("logistic"), "games", alias="champion")
    published.publish(models.prepared("gbm"), "games")
    return published


def games_rows(rows: int, seed: int = 1) -> pd.DataFrame:
    """Generated games with a unique `user_id` per player, shuffled so that ids are not
    in row order."""
    frame = load("games", rows=rows, seed=seed)
    ids = np.random.default_rng(seed).permutation(rows) * 7 + 1_000
    return pd.concat([pd.DataFrame({"user_id": ids}), frame], axis=1)


@pytest.fixture
def games_parquet(tmp_path: Path) -> Path:
    """A folder of three Parquet files of 4,000 players, several row groups each."""
    frame = games_rows(12_000)
    folder = tmp_path / "games-in"
    folder.mkdir()
    for part in range(3):
        chunk = frame.iloc[part * 4_000 : (part + 1) * 4_000]
        pq.write_table(
            pa.Table.from_pandas(chunk, preserve_index=False),
            folder / f"part-{part}.parquet",
            row_group_size=1_500,
        )
    return folder


def redis_answers() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=2):
            return True
    except OSError:
        return False


@pytest.fixture
def redis_url() -> Iterator[str]:
    """The machine's Redis, with a key prefix of this test's own, cleared afterwards."""
    if not redis_answers():
        if os.environ.get("CI"):
            pytest.fail("Redis does not answer on 127.0.0.1:6379; .ci/run should start it")
        pytest.skip("Redis does not answer on 127.0.0.1:6379")
    import redis

    prefix = f"test-{uuid.uuid4().hex[:10]}:"
    yield f"redis://127.0.0.1:6379/0?prefix={prefix}"
    client = redis.Redis(host="127.0.0.1", port=6379)
    for pattern in (f"{prefix}*", f"{prefix}_staging:*"):
        names = list(client.scan_iter(match=pattern, count=1_000))
        if names:
            client.unlink(*names)
