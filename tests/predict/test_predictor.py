"""The Predictor: equal to the model's own predictions, strict about inputs, light to load."""

from __future__ import annotations

import math
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from scalepipe.predict import InvalidInput, Predictor
from scalepipe.predict.requests import csv_batch
from scalepipe.store import ModelStore
from tests import models

BOOK_REQUEST = models.BOOK_REQUEST


@pytest.fixture
def store(tmp_path: Path) -> ModelStore:
    return ModelStore(str(tmp_path / "models"))


def _own_scores(fitted: models.Fitted, rows: pd.DataFrame) -> np.ndarray:
    matrix = rows[list(fitted.signature.names)]
    if fitted.signature.output == "probability":
        return np.asarray(fitted.model.predict_proba(matrix))[:, 1]
    return np.asarray(fitted.model.predict(matrix))


@pytest.mark.parametrize(
    ("recipe", "dataset"), [("logistic", "games"), ("linear", "housing"), ("gbm", "games")]
)
def test_every_entry_point_equals_the_models_own_predictions(
    store: ModelStore, recipe: str, dataset: str
) -> None:
    fitted = models.fitted(recipe, dataset)
    store.publish(fitted.model, dataset, signature=fitted.signature, alias="champion")
    predictor = Predictor.load(dataset, store=store)
    rows = fitted.frame.head(200)
    expected = _own_scores(fitted, rows)
    features = rows[list(fitted.signature.names)]
    assert predictor.predict_frame(rows) == pytest.approx(expected, rel=1e-9)
    assert predictor.predict_array(features.to_numpy()) == pytest.approx(expected, rel=1e-9)
    records = features.to_dict("records")
    assert predictor.predict_records(records) == pytest.approx(expected, rel=1e-9)
    assert predictor.predict_one(records[7]) == pytest.approx(expected[7], rel=1e-9)


def test_a_scaled_logistic_pipeline_takes_the_fast_path_exactly(store: ModelStore) -> None:
    fitted = models.fitted("logistic")
    frame = fitted.frame
    x = frame[list(fitted.signature.names)].to_numpy() * np.linspace(1, 50, 10)
    pipeline = make_pipeline(StandardScaler(), LogisticRegression()).fit(x, frame["label"])
    store.publish(pipeline, "scaled", signature=fitted.signature)
    predictor = Predictor.load("scaled:1", store=store)
    assert predictor.card.fast_path == "logistic"
    assert predictor.predict_array(x) == pytest.approx(pipeline.predict_proba(x)[:, 1], rel=1e-9)


def test_the_keras_mlp_predicts_within_float32_precision(store: ModelStore) -> None:
    fitted = models.fitted("mlp")
    store.publish(fitted.model, "games", signature=fitted.signature)
    predictor = Predictor.load("games:1", store=store)
    assert predictor.card.artifact_format == "keras"
    rows = fitted.frame.head(50)
    features = rows[list(fitted.signature.names)].to_numpy().astype("float32")
    expected = np.asarray(fitted.model.predict(features, verbose=0)).ravel()
    assert predictor.predict_frame(rows) == pytest.approx(expected, rel=1e-5, abs=1e-6)
    assert predictor.predict_one(BOOK_REQUEST) == pytest.approx(
        float(
            fitted.model.predict(
                np.array([[float(v) for v in BOOK_REQUEST.values()]], "float32"), verbose=0
            )[0, 0]
        ),
        rel=1e-5,
    )


@pytest.fixture
def games_predictor(store: ModelStore) -> Predictor:
    store.publish(models.prepared("logistic"), "games", alias="champion")
    return Predictor.load("games", store=store)


def test_the_books_string_inputs_and_booleans_are_coerced(games_predictor: Predictor) -> None:
    as_numbers = {name: float(value) for name, value in BOOK_REQUEST.items()}
    as_booleans = {name: value == "1" for name, value in BOOK_REQUEST.items()}
    expected = games_predictor.predict_one(as_numbers)
    assert games_predictor.predict_one(BOOK_REQUEST) == expected
    assert games_predictor.predict_one(as_booleans) == expected
    assert 0.0 < expected < 1.0


@pytest.mark.parametrize(
    ("change", "message", "field"),
    [
        ({"G3": None}, "feature 'G3' must be a number, got null", "G3"),
        ({"G3": "abc"}, "feature 'G3' must be a number, got 'abc'", "G3"),
        ({"G4": [1]}, "feature 'G4' must be a number, got [1]", "G4"),
        ({"G5": "nan"}, "feature 'G5' must be a finite number, got 'nan'", "G5"),
        ({"G6": math.inf}, "feature 'G6' must be a finite number, got inf", "G6"),
        # float() reads these as numbers; no client means them as such.
        ({"G7": "٣"}, "feature 'G7' must be a number, got '٣'", "G7"),
        ({"G7": "１"}, "feature 'G7' must be a number, got '１'", "G7"),
        ({"G8": "1_0"}, "feature 'G8' must be a number, got '1_0'", "G8"),
        ({"G9": " 1"}, "feature 'G9' must be a number, got ' 1'", "G9"),
        ({"G10": 10**400}, "feature 'G10' must be a number, got 1000", "G10"),
    ],
)
def test_bad_values_are_refused_naming_the_field(
    games_predictor: Predictor, change: dict[str, object], message: str, field: str
) -> None:
    with pytest.raises(
        InvalidInput, match=message.replace("[", r"\[").replace("]", r"\]")
    ) as caught:
        games_predictor.predict_one(BOOK_REQUEST | change)
    assert caught.value.field == field


@pytest.mark.parametrize("value", ["٣", "1_0", " 1", "１"])
def test_batches_refuse_loose_numbers_as_single_records_do(
    games_predictor: Predictor, value: str
) -> None:
    records = [BOOK_REQUEST, BOOK_REQUEST | {"G2": value}]
    with pytest.raises(InvalidInput, match="record 1: feature 'G2' must be a number"):
        games_predictor.predict_records(records)
    names = list(BOOK_REQUEST)
    rows = [[record[name] for name in names] for record in records]
    with pytest.raises(InvalidInput, match="record 1: feature 'G2' must be a number"):
        games_predictor.predict_rows(names, rows)
    csv = ",".join(names) + "\n" + "\n".join(",".join(row) for row in rows) + "\n"
    with pytest.raises(InvalidInput, match="record 1: feature 'G2' must be a number"):
        games_predictor.predict_batch(csv_batch(csv.encode()))


def test_plain_decimal_strings_still_score(games_predictor: Predictor) -> None:
    plain = {name: value for name, value in zip(BOOK_REQUEST, ["1", "0.0", "+1", "-0", ".5",
             "1e0", "1.", "0", "1", "0"], strict=True)}  # fmt: skip
    numbers = {name: float(value) for name, value in plain.items()}
    assert games_predictor.predict_one(plain) == games_predictor.predict_one(numbers)
    reordered = list(reversed(plain))
    csv = ",".join(reordered) + "\n" + ",".join(plain[name] for name in reordered) + "\n"
    assert games_predictor.predict_batch(csv_batch(csv.encode())) == [
        games_predictor.predict_one(numbers)
    ]


@pytest.mark.parametrize(("value", "word"), [("nan", "finite"), ("", "number, got null")])
def test_csv_fields_that_are_no_finite_number_are_named(
    games_predictor: Predictor, value: str, word: str
) -> None:
    names = list(BOOK_REQUEST)
    fields = [BOOK_REQUEST[name] for name in names]
    fields[4] = value
    csv = ",".join(names) + "\n" + ",".join(BOOK_REQUEST.values()) + "\n" + ",".join(fields)
    with pytest.raises(InvalidInput, match=f"record 1: feature 'G5' must be a {word}"):
        games_predictor.predict_batch(csv_batch(csv.encode()))


@pytest.mark.parametrize("recipe", ["logistic", "linear"])
def test_extreme_finite_inputs_are_refused_not_scored_as_nan(
    store: ModelStore, recipe: str
) -> None:
    dataset = "games" if recipe == "logistic" else "housing"
    store.publish(models.prepared(recipe, dataset), f"extreme-{recipe}")
    predictor = Predictor.load(f"extreme-{recipe}:1", store=store)
    extreme = dict.fromkeys(predictor.signature.names, 1e308)
    extreme[predictor.signature.names[1]] = -1e308
    with pytest.raises(InvalidInput, match="output is not a finite number"):
        predictor.predict_one(extreme)
    with pytest.raises(InvalidInput, match="record 1: the model's output is not a finite"):
        predictor.predict_records([dict.fromkeys(predictor.signature.names, 0), extreme])


def test_missing_and_unknown_fields(games_predictor: Predictor, store: ModelStore) -> None:
    partial = {k: v for k, v in BOOK_REQUEST.items() if k not in ("G2", "G9")}
    with pytest.raises(InvalidInput, match="missing feature\\(s\\): G2, G9"):
        games_predictor.predict_one(partial)
    with pytest.raises(InvalidInput, match="record 1: missing feature"):
        games_predictor.predict_records([BOOK_REQUEST, partial])
    extra = BOOK_REQUEST | {"user": "bob"}
    assert games_predictor.predict_one(extra) == games_predictor.predict_one(BOOK_REQUEST)
    strict = Predictor.load("games", store=store, strict=True)
    with pytest.raises(InvalidInput, match="unknown field\\(s\\): user"):
        strict.predict_one(extra)


def test_arrays_and_frames_are_checked_by_shape_and_value(games_predictor: Predictor) -> None:
    with pytest.raises(InvalidInput, match="must have 10 columns"):
        games_predictor.predict_array(np.zeros((3, 9)))
    bad = np.zeros((4, 10))
    bad[2, 4] = np.nan
    with pytest.raises(
        InvalidInput, match="feature 'G5' must be a finite number, got nan in row 2"
    ):
        games_predictor.predict_array(bad)
    frame = pd.DataFrame([BOOK_REQUEST] * 3).drop(columns=["G10"])
    with pytest.raises(InvalidInput, match="missing feature\\(s\\): G10"):
        games_predictor.predict_frame(frame)
    words = pd.DataFrame([BOOK_REQUEST] * 3)
    words.loc[1, "G1"] = "many"
    with pytest.raises(InvalidInput, match="feature 'G1' must be a number, got 'many'"):
        games_predictor.predict_frame(words)


def test_gradient_boosting_accepts_missing_values(store: ModelStore) -> None:
    store.publish(models.prepared("gbm"), "games")
    predictor = Predictor.load("games:1", store=store)
    with_gap = BOOK_REQUEST | {"G3": None}
    row = {k: [math.nan if v is None else float(v)] for k, v in with_gap.items()}
    expected = models.fitted("gbm").model.predict_proba(pd.DataFrame(row))[0, 1]
    assert predictor.predict_one(with_gap) == pytest.approx(expected, rel=1e-9)


def test_loading_a_linear_model_imports_neither_sklearn_nor_pandas(
    games_predictor: Predictor,
) -> None:
    code = (
        "import sys; from scalepipe.predict import Predictor; "
        f"p = Predictor.load({str(games_predictor.store.url)!r} + '/games'); "
        f"print(p.predict_one({BOOK_REQUEST!r})); "
        "heavy = ('sklearn', 'skops', 'pandas', 'mlflow', 'fsspec'); "
        "print(sorted(m for m in heavy if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    score, imported = result.stdout.strip().splitlines()
    assert float(score) == pytest.approx(games_predictor.predict_one(BOOK_REQUEST), rel=1e-12)
    assert imported == "[]"


def test_refresh_follows_the_alias_and_pins_never_move(store: ModelStore) -> None:
    store.publish(models.prepared("logistic"), "games", alias="champion")
    following = Predictor.load("games@champion", store=store)
    pinned = Predictor.load("games:1", store=store)
    assert following.refresh() is False
    store.publish(models.prepared("gbm"), "games", alias="champion")
    assert following.refresh() is True and following.version == 2
    assert pinned.refresh() is False and pinned.version == 1


def test_background_refresh_picks_up_a_promotion(store: ModelStore) -> None:
    store.publish(models.prepared("logistic"), "games", alias="champion")
    store.publish(models.prepared("gbm"), "games")
    with Predictor.load("games", store=store, refresh_every=0.1) as predictor:
        store.promote("games", 2, "champion")
        deadline = time.monotonic() + 10
        while predictor.version != 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert predictor.version == 2


def test_each_call_sees_one_consistent_model_while_versions_swap(store: ModelStore) -> None:
    store.publish(models.prepared("logistic"), "games", alias="champion")
    store.publish(models.prepared("gbm"), "games")
    predictor = Predictor.load("games", store=store)
    records = models.fitted("logistic").frame.head(100).to_dict("records")
    answers = {
        version: Predictor.load(f"games:{version}", store=store).predict_records(records)
        for version in (1, 2)
    }
    seen: list[list[float]] = []
    stop = threading.Event()

    def predict() -> None:
        while not stop.is_set():
            seen.append(predictor.predict_records(records))

    workers = [threading.Thread(target=predict) for _ in range(3)]
    for worker in workers:
        worker.start()
    for version in (2, 1, 2, 1, 2):
        store.promote("games", version, "champion")
        predictor.refresh()
        time.sleep(0.02)
    stop.set()
    for worker in workers:
        worker.join()
    assert seen and all(answer in (answers[1], answers[2]) for answer in seen)
    assert any(answer == answers[1] for answer in seen) and any(
        answer == answers[2] for answer in seen
    )


def test_batches_coerce_like_single_records_and_name_the_bad_record(
    games_predictor: Predictor,
) -> None:
    records = [{k: int(v) for k, v in r.items()} for r in [BOOK_REQUEST] * 3]
    as_text = [{k: str(v) for k, v in r.items()} for r in records]
    as_flags = [{k: bool(v) for k, v in r.items()} for r in records]
    expected = games_predictor.predict_records(records)
    assert games_predictor.predict_records(as_text) == expected
    assert games_predictor.predict_records(as_flags) == expected
    assert expected == [games_predictor.predict_one(records[0])] * 3
    broken = [*as_text, BOOK_REQUEST | {"G5": "nan"}]
    with pytest.raises(
        InvalidInput, match="record 3: feature 'G5' must be a finite number, got 'nan'"
    ):
        games_predictor.predict_records(broken)


def test_rows_under_named_columns_in_any_order(games_predictor: Predictor) -> None:
    names = list(games_predictor.signature.names)
    records = [{k: int(v) for k, v in BOOK_REQUEST.items()}, dict.fromkeys(names, 0)]
    columns = [*reversed(names), "user"]
    rows = [[r[c] for c in reversed(names)] + ["bob"] for r in records]
    assert games_predictor.predict_rows(columns, rows) == games_predictor.predict_records(records)
    rows[1][0] = "many"
    with pytest.raises(InvalidInput, match="record 1: feature 'G10' must be a number, got 'many'"):
        games_predictor.predict_rows(columns, rows)
    with pytest.raises(InvalidInput, match="row 0 must be a list of 11 values"):
        games_predictor.predict_rows(columns, [[1, 2]])
    with pytest.raises(InvalidInput, match="missing feature\\(s\\): G1"):
        games_predictor.predict_rows(names[1:], [[0] * 9])
