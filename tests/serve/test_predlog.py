"""The prediction log on its own: bad records, a full disk, whole lines only."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from scalepipe.predict import Predictor
from scalepipe.predict.predictor import LoadedVersion
from scalepipe.serve.predlog import PredictionLog
from scalepipe.store import ModelStore
from tests import models
from tests.conftest import small_disk

BOOK = models.BOOK_REQUEST


@pytest.fixture
def games(tmp_path: Path) -> LoadedVersion:
    store = ModelStore(str(tmp_path / "models"))
    store.publish(models.prepared("logistic"), "games", alias="champion")
    return Predictor.load("games", store=store).current


@pytest.mark.parametrize("suffix", [".jsonl", ".parquet"])
def test_a_record_that_cannot_be_described_becomes_an_error_record(
    games: LoadedVersion, tmp_path: Path, suffix: str
) -> None:
    path = tmp_path / f"log{suffix}"
    log = PredictionLog(path)
    nested: object = "x"
    for _ in range(50):
        nested = [nested]
    deeper: object = nested
    for _ in range(5_000):
        deeper = [deeper]
    batch = [BOOK, BOOK | {"G3": nested}, BOOK | {"note": deeper}]
    log.record(games, batch, [0.1, 0.2, 0.3], 0.001)
    log.record(games, BOOK, [0.4], 0.001)
    assert log.flush() == 4
    if suffix == ".parquet":
        import pandas as pd

        rows = pd.read_parquet(path).to_dict("records")
    else:
        rows = [json.loads(line) for line in path.read_text().splitlines()]
    assert [row["output"] for row in rows if not isinstance(row.get("error"), str)] == [
        0.1,
        0.3,
        0.4,
    ]
    errors = [row for row in rows if isinstance(row.get("error"), str)]
    assert len(errors) == 1 and "G3" in errors[0]["error"] and errors[0]["model"] == "games"


def test_a_full_disk_leaves_whole_lines_is_reported_once_and_recovers(
    games: LoadedVersion, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with small_disk(tmp_path / "disk", "size=64k") as disk:
        path = disk / "predictions.jsonl"
        log = PredictionLog(path)
        filler = disk / "filler"
        with caplog.at_level(logging.WARNING, logger="scalepipe.serve"):
            for _ in range(40):  # ~330 bytes a record: far more than 64 kB in all
                log.record(games, [BOOK] * 37, [0.5] * 37, 0.001)
                log.flush()
            failures = [r for r in caplog.records if r.levelno == logging.ERROR]
            assert len(failures) == 1 and "cannot write" in failures[0].getMessage()
            text = path.read_text()
            assert text.endswith("\n")
            kept = [json.loads(line) for line in text.splitlines()]
            assert 0 < len(kept) < 40 * 37
            filler.unlink(missing_ok=True)
            path.write_text("")  # space comes back
            log.record(games, [BOOK] * 3, [0.5] * 3, 0.001)
            assert log.flush() == 3
        assert any("writing again" in r.getMessage() for r in caplog.records)
        assert len(path.read_text().splitlines()) == 3


def test_a_request_whose_shape_cannot_be_read_is_one_error_record(
    games: LoadedVersion, tmp_path: Path
) -> None:
    log = PredictionLog(tmp_path / "log.jsonl")
    log.record(games, [BOOK, "not a record"], [0.1, 0.2], 0.001)
    log.record(games, BOOK, [0.4], 0.001)
    assert log.flush() == 3
    rows = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert [row.get("output") for row in rows] == [0.1, None, 0.4]
    assert "AttributeError" in rows[1]["error"]
