"""A games model trained here (its card holds the training profile), headless Chromium
for the report, and fresh Redis streams."""

from __future__ import annotations

import pytest

from scalepipe.store import ModelStore
from scalepipe.train import train
from tests.app.conftest import browser, page  # noqa: F401 (headless Chromium)
from tests.stream.conftest import redis_streams  # noqa: F401 (fresh Redis streams)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> ModelStore:
    """games:1, trained here: its card holds the training profile and the output's."""
    store = ModelStore(str(tmp_path_factory.mktemp("monitor") / "models"))
    train("games", "logistic", plot=False).publish(store, name="games", alias="champion")
    return store
