"""The model as Spark and Beam ship it: read and checked once on the driver, loaded once
per worker process, never written outside its folder."""

from __future__ import annotations

import numpy as np
import pytest

from scalepipe.batch.workers import model_files, worker_model
from scalepipe.errors import DatasetError, IntegrityError
from scalepipe.predict import Predictor
from scalepipe.store import ModelStore


def test_a_shipped_version_loads_once_per_process_and_scores_as_at_home(
    store: ModelStore,
) -> None:
    home = Predictor.load("games:2", store=store)
    files = model_files(home)
    assert any(name.endswith("manifest.json") for name in files)
    loaded = worker_model(files)
    assert worker_model(dict(files)) is loaded  # the same bytes: the cached load
    assert (loaded.name, loaded.version) == ("games", 2)
    rows = np.random.default_rng(3).integers(0, 2, size=(50, 10)).astype(float)
    np.testing.assert_array_equal(
        loaded.scorer.score_matrix(rows), home.current.scorer.score_matrix(rows)
    )
    other = worker_model(model_files(Predictor.load("games:1", store=store)))
    assert other is not loaded and other.version == 1


def test_a_shipped_file_that_leaves_its_folder_is_refused(store: ModelStore) -> None:
    files = model_files(Predictor.load("games:1", store=store))
    files["../../escaped.txt"] = b"x"
    with pytest.raises(DatasetError, match="leaves its folder"):
        worker_model(files)


def test_a_shipped_file_altered_on_the_way_is_refused(store: ModelStore) -> None:
    files = model_files(Predictor.load("games:1", store=store))
    card = next(name for name in files if name.endswith("card.json"))
    files[card] = files[card].replace(b"games", b"gamez", 1)
    with pytest.raises(IntegrityError, match=r"card\.json does not match its sha256"):
        worker_model(files)
