"""The prediction log on its own: bad records, a full disk, whole lines only."""

from __future__ import annotations

import json
import logging
import random
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from scalepipe.predict import Predictor
from scalepipe.predict.predictor import LoadedVersion
from scalepipe.predict.records import MAX_RECORD_BYTES, prediction_records, record_time
from scalepipe.predict.requests import Columns, Records, Rows
from scalepipe.serve.predlog import PredictionLog, encode, encoded_times
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


def test_requests_of_every_shape_are_written_as_prediction_records_describes_them(
    games: LoadedVersion, tmp_path: Path
) -> None:
    """The server writes plain records a column at a time and the rest one by one; either
    way each line is the record prediction_records gives (numbers as the model scored
    them, NaN as null), with a fresh request id and the row's index. Records whose texts
    the log has written before arrive as their JSON texts (record() makes them): the same
    lines."""
    missing_allowed = replace(games, accepts_missing=True)
    names = games.names
    numbers = {name: float(value) for name, value in BOOK.items()}
    requests: list[tuple[LoadedVersion, Any]] = [
        (games, BOOK),
        (games, Records([BOOK | {"note": "not a feature"}])),
        (games, Records([BOOK, numbers, BOOK | {"G3": "0.25", "G4": 2, "G5": True}])),
        (games, [BOOK, numbers]),
        (games, Rows([[1] * 10, [0.5] * 10])),
        (games, Rows([[0] * 10], columns=list(names))),
        (games, Columns({name: [1, 0, 1] for name in names} | {"x": [7, 7, 7]})),
        (missing_allowed, Records([BOOK | {"G2": None}, BOOK])),
        (games, [BOOK, "not a record"]),
        (games, Records([{"G1": "1"}])),
        (games, Records([BOOK | {"G7": [[1]]}])),
        (missing_allowed, BOOK),
        (games, BOOK | {"G2": "1", "note": "not a feature"}),
    ]
    spread = random.Random(7)
    scored = [
        (1.7e9 + index + spread.random(), model, request,
         [spread.random() for _ in range(_rows(request))], spread.random() / 100)
        for index, (model, request) in enumerate(requests)
    ]  # fmt: skip
    expected = []
    for at, model, request, scores, seconds in scored:
        for record in prediction_records(model, request, scores, seconds, at):
            if "inputs" in record:
                record["inputs"] = {k: None if v != v else v for k, v in record["inputs"].items()}
            expected.append(without_id(record))
    assert len(expected) == 21

    def written(pending: list[Any]) -> list[dict[str, Any]]:
        data, count = encode(pending)
        lines = [json.loads(line) for line in data.splitlines()]
        assert count == len(lines)
        assert [without_id(line) for line in lines] == expected
        return lines

    lines = written([(*entry, None, 0) for entry in scored])
    log = PredictionLog(tmp_path / "log.jsonl")
    for _, model, request, scores, seconds in scored:
        log.record(model, request, scores, seconds)
    as_recorded = [(at, *entry[1:]) for (at, *_), entry in zip(scored, log._pending, strict=True)]
    assert sum(entry[5] is not None for entry in as_recorded) == 3  # texts written before
    written(as_recorded)
    books = [entry for entry in as_recorded if entry[5] is not None and entry[1] is games]
    assert len(books) == 2
    data, count = encode(books)  # one model, one record each: the flush most servers see
    assert count == 2
    assert [without_id(json.loads(line)) for line in data.splitlines()] == [
        expected[0],
        expected[-1],
    ]

    by_request: dict[str, list[str]] = {}
    for line in lines:
        by_request.setdefault(line["time"], []).append(line["id"])
    assert len(by_request) == len(requests)
    prefixes = set()
    for (_, _, request, _, _), time in zip(scored, sorted(by_request), strict=True):
        ids = sorted(by_request[time], key=lambda i: int(i.split(":")[1]))
        prefix = ids[0].split(":")[0]
        assert re.fullmatch("[0-9a-f]{16}", prefix) and prefix not in prefixes
        prefixes.add(prefix)
        assert ids == [f"{prefix}:{row}" for row in range(_rows(request))]


def test_a_line_over_the_record_bound_becomes_an_error_record(games: LoadedVersion) -> None:
    """A model of very long feature names: its lines would pass MAX_RECORD_BYTES, so each
    becomes an error record naming the request; the lines around it are whole."""
    signature = games.card.signature
    wide = [
        replace(feature, name=f"{feature.name}_{'x' * 7_000}") for feature in signature.features
    ]
    model = replace(
        games, card=replace(games.card, signature=replace(signature, features=tuple(wide)))
    )
    record = {feature.name: BOOK[name] for feature, name in zip(wide, games.names, strict=True)}
    pending = [(1.7e9, games, BOOK, [0.25], 0.001, None, 0),
               (1.7e9 + 1, model, record, [0.5], 0.001, None, 0),
               (1.7e9 + 2, games, BOOK, [0.75], 0.001, None, 0)]  # fmt: skip
    data, count = encode(pending)
    lines = [json.loads(line) for line in data.splitlines()]
    assert count == 3 and max(map(len, data.splitlines())) <= MAX_RECORD_BYTES
    assert [line.get("output") for line in lines] == [0.25, None, 0.75]
    assert lines[1]["model"] == "games" and re.fullmatch("[0-9a-f]{16}:0", lines[1]["id"])
    assert re.fullmatch(r"ValueError: the record is [\d,]+ bytes, over 65,536", lines[1]["error"])


def without_id(record: dict[str, Any]) -> str:
    return json.dumps({k: v for k, v in record.items() if k != "id"}, sort_keys=True)


def test_times_are_written_as_record_time_writes_them() -> None:
    """A millisecond's edges included: rounded to the microsecond first, as datetime."""
    spread = random.Random(3)
    times = [1.7e9 + spread.random() * 1e8 for _ in range(5_000)]
    times += [float(int(t)) + ms / 1000 + delta for t in times[:500]
              for ms in (0, 999, 1000) for delta in (-6e-7, -4e-7, 0.0, 4e-7)]  # fmt: skip
    seconds, millis = encoded_times(np.array(times))
    written = [(second + milli).decode() for second, milli in zip(seconds, millis, strict=True)]
    assert written == [record_time(at) for at in times]


def _rows(request: Any) -> int:
    return 1 if isinstance(request, dict) else len(request)
