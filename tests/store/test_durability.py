"""Publishing under fire: publishers killed with SIGKILL at random moments, and several
publishers at once, on a local folder and on the local S3 server (real processes)."""

from __future__ import annotations

import json
import multiprocessing
import os
import random
import signal
import time
from pathlib import Path

import pytest

from scalepipe.predict import Predictor
from scalepipe.store import ModelStore, PreparedModel
from tests import models

# fork: the children inherit the prepared model and the imported libraries, so each
# starts publishing at once instead of spending seconds importing scikit-learn and MLflow.
FORK = multiprocessing.get_context("fork")


def _publish_forever(url: str, prepared: PreparedModel) -> None:
    store = ModelStore(url)
    while True:
        store.publish(prepared, "games", alias="champion")


def _publish_some(
    url: str, prepared: PreparedModel, count: int, start_at: float, out: Path
) -> None:
    store = ModelStore(url)
    time.sleep(max(0.0, start_at - time.time()))
    versions = [store.publish(prepared, "games") for _ in range(count)]
    out.write_text(json.dumps(versions))


def _check_store(store: ModelStore, already_verified: set[int] | None = None) -> None:
    """What a reader sees is whole: every visible version verifies, every alias loads.

    Publishing never writes into an earlier version, so versions verified after an
    earlier kill may be skipped; the final check verifies them all again.
    """
    versions = store.versions("games")
    for version in versions:
        if already_verified is None or version not in already_verified:
            store.verify("games", version)
            if already_verified is not None:
                already_verified.add(version)
    aliases = store.aliases("games")
    assert set(aliases.values()) <= set(versions)
    if "champion" in aliases:
        assert Predictor.load("games", store=store).version == aliases["champion"]


@pytest.mark.parametrize(("backend", "kills"), [("local", 100), ("s3", 30)])
def test_a_publisher_killed_at_any_moment_leaves_no_half_version(
    backend: str, kills: int, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url = str(tmp_path / "models") if backend == "local" else request.getfixturevalue("s3_store")
    store = ModelStore(url)
    prepared = models.prepared("logistic")
    timing = random.Random(2024)
    verified: set[int] = set()
    for _ in range(kills):
        child = FORK.Process(target=_publish_forever, args=(url, prepared))
        child.start()
        time.sleep(timing.uniform(0.0, 0.08 if backend == "local" else 0.5))
        assert child.pid is not None
        os.kill(child.pid, signal.SIGKILL)
        child.join()
        _check_store(store, verified)
    _check_store(store)
    claimed = [n for n in store.files.children("games") if n.isdigit()]
    published = store.versions("games")
    # The kills landed mid-publish: some numbers were claimed but never became visible.
    assert len(claimed) > len(published) > 0


@pytest.mark.parametrize("backend", ["local", "s3"])
def test_concurrent_publishers_never_share_a_version(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url = str(tmp_path / "models") if backend == "local" else request.getfixturevalue("s3_store")
    prepared = models.prepared("logistic")
    start_at = time.time() + 0.5
    outputs = [tmp_path / f"publisher-{i}.json" for i in range(4)]
    publishers = [
        FORK.Process(target=_publish_some, args=(url, prepared, 5, start_at, out))
        for out in outputs
    ]
    for publisher in publishers:
        publisher.start()
    for publisher in publishers:
        publisher.join(timeout=120)
        assert publisher.exitcode == 0
    got = [version for out in outputs for version in json.loads(out.read_text())]
    assert len(got) == 20 and len(set(got)) == 20
    store = ModelStore(url)
    assert store.versions("games") == sorted(got)
    _check_store(store)
