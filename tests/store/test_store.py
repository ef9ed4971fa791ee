"""The model store on a local folder, memory://, a local S3 server and a GCS emulator."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from scalepipe.predict import Predictor
from scalepipe.store import IntegrityError, ModelStore, ModelURI, StoreError
from tests import models


@pytest.fixture(params=["local", "memory", "s3", "gcs"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> ModelStore:
    if request.param == "local":
        return ModelStore(str(tmp_path / "models"))
    if request.param == "memory":
        return ModelStore(f"memory://{tmp_path.name}/models")
    return ModelStore(request.getfixturevalue(f"{request.param}_store"))


def test_versions_count_up_and_aliases_resolve(store: ModelStore) -> None:
    first = store.publish(models.prepared("logistic"), "games", alias="champion")
    second = store.publish(models.prepared("gbm"), "games", alias="challenger")
    assert (first, second) == (1, 2)
    assert store.versions("games") == [1, 2]
    assert store.names() == ["games"]
    assert store.aliases("games") == {"champion": 1, "challenger": 2}
    assert store.resolve("games") == ("games", 1)
    assert store.resolve("games@challenger") == ("games", 2)
    assert store.resolve("games:2") == ("games", 2)
    card = store.card("games", 2)
    assert card.version == 2 and card.artifact_format == "skops" and card.fast_path is None
    assert store.card("games", 1).fast_path == "logistic"


def test_a_predictor_loads_through_a_uri_with_the_store_url(store: ModelStore) -> None:
    store.publish(models.prepared("logistic"), "games", alias="champion")
    predictor = Predictor.load(f"{store.url}/games@champion")
    fitted = models.fitted("logistic")
    rows = fitted.frame.head(20)
    expected = fitted.model.predict_proba(rows[list(fitted.signature.names)])[:, 1]
    assert predictor.predict_frame(rows) == pytest.approx(expected, rel=1e-9)
    assert (predictor.name, predictor.version) == ("games", 1)


def test_the_card_describes_the_version(tmp_path: Path) -> None:
    store = ModelStore(str(tmp_path))
    fitted = models.fitted("logistic")
    version = store.publish(
        fitted.model,
        "games",
        signature=fitted.signature,
        metrics=fitted.metrics,
        params={"C": 1.0},
        data_fingerprint="sha256:abc",
    )
    card = store.card("games", version)
    assert card.signature == fitted.signature
    assert card.metrics == fitted.metrics and card.params == {"C": 1.0}
    assert card.data_fingerprint == "sha256:abc"
    assert card.library_versions["scikit-learn"] and card.library_versions["python"]
    assert card.created.endswith("+00:00")
    on_disk = json.loads((tmp_path / "games" / "1" / "card.json").read_text())
    assert on_disk["signature"]["features"][0] == {"name": "G1", "type": "integer"}


def test_a_training_plot_is_kept_under_the_manifest_and_must_be_a_png(tmp_path: Path) -> None:
    store = ModelStore(str(tmp_path))
    fitted = models.fitted("logistic")
    png = b"\x89PNG\r\n\x1a\n" + b"\0" * 64
    version = store.publish(fitted.model, "games", signature=fitted.signature, plot=png)
    assert store.card("games", version).plot == "plot.png"
    assert store.read_version("games", version, only=("plot.png",)) == {"plot.png": png}
    with pytest.raises(StoreError, match="must be a PNG image"):
        store.publish(fitted.model, "games", signature=fitted.signature, plot=b"<svg>")
    assert store.versions("games") == [version]


def test_the_manifest_lists_every_file_and_verify_checks_them(tmp_path: Path) -> None:
    store = ModelStore(str(tmp_path))
    store.publish(models.prepared("logistic"), "games")
    listed = json.loads((tmp_path / "games/1/manifest.json").read_text())["files"]
    assert {"MLmodel", "model.skops", "card.json", "linear.json"} <= set(listed)
    assert store.verify("games") == [f"games:1 ({len(listed)} files)"]
    (tmp_path / "games/1/extra.py").write_text("print('hi')")
    with pytest.raises(IntegrityError, match=r"extra\.py not listed"):
        store.verify("games")


@pytest.mark.parametrize("victim", ["linear.json", "card.json", "model.skops"])
def test_one_changed_byte_stops_the_load(tmp_path: Path, victim: str) -> None:
    store = ModelStore(str(tmp_path))
    recipe = "gbm" if victim == "model.skops" else "logistic"
    store.publish(models.prepared(recipe), "games", alias="champion")
    path = tmp_path / "games" / "1" / victim
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(IntegrityError, match=f"{victim} does not match its sha256"):
        Predictor.load("games", store=store)
    with pytest.raises(IntegrityError):
        store.verify("games", 1)


def test_promote_moves_an_alias_and_records_who_when_from_to(store: ModelStore) -> None:
    store.publish(models.prepared("logistic"), "games", alias="champion")
    store.publish(models.prepared("gbm"), "games")
    store.promote("games", 2, "champion")
    assert store.resolve("games") == ("games", 2)
    moves = [event for event in store.audit("games") if event["action"] == "promote"]
    assert [(m["previous"], m["version"]) for m in moves] == [(None, 1), (1, 2)]
    assert all(m["who"] and m["time"] and m["alias"] == "champion" for m in moves)


def test_delete_refuses_an_alias_target_unless_forced_and_never_reuses_numbers(
    store: ModelStore,
) -> None:
    store.publish(models.prepared("logistic"), "games", alias="champion")
    store.publish(models.prepared("logistic"), "games")
    with pytest.raises(StoreError, match="games:1 is the target of champion"):
        store.delete("games", 1)
    store.delete("games", 2)
    assert store.versions("games") == [1]
    assert store.publish(models.prepared("logistic"), "games") == 3
    store.delete("games", 1, force=True)
    assert store.aliases("games") == {}
    assert store.versions("games") == [3]
    with pytest.raises(StoreError, match="no alias 'champion'"):
        store.resolve("games")


def test_missing_models_versions_and_aliases_say_what_exists(tmp_path: Path) -> None:
    store = ModelStore(str(tmp_path))
    store.publish(models.prepared("logistic"), "games", alias="champion")
    with pytest.raises(
        StoreError, match=r"games has no version 7 .*versions: 1; aliases: champion -> 1"
    ):
        store.resolve("games:7")
    with pytest.raises(StoreError, match=r"no alias 'staging'"):
        store.resolve("games@staging")
    with pytest.raises(StoreError, match=r"models here: games"):
        store.resolve("housing")
    with pytest.raises(StoreError, match="no version 9 to promote"):
        store.promote("games", 9, "champion")


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("games", ModelURI("games")),
        ("games@challenger", ModelURI("games", alias="challenger")),
        ("games:3", ModelURI("games", version=3)),
        (
            "s3://bucket/models/games@champion",
            ModelURI("games", "s3://bucket/models", alias="champion"),
        ),
        ("/srv/models/games:12", ModelURI("games", "/srv/models", version=12)),
        ("models/games", ModelURI("games", "models")),
    ],
)
def test_model_uris_parse(uri: str, expected: ModelURI) -> None:
    assert ModelURI.parse(uri) == expected


@pytest.mark.parametrize("uri", ["games:0", "games:x", "ga mes", "games@1", "games@", ""])
def test_bad_model_uris_are_refused(uri: str) -> None:
    with pytest.raises(StoreError):
        ModelURI.parse(uri)


def test_a_version_is_a_valid_mlflow_model_that_predicts_the_same(tmp_path: Path) -> None:
    import mlflow.pyfunc

    store = ModelStore(str(tmp_path))
    for recipe, dataset in [("logistic", "games"), ("gbm", "games"), ("linear", "housing")]:
        fitted = models.fitted(recipe, dataset)
        version = store.publish(fitted.model, dataset, signature=fitted.signature)
        folder = store.local_folder(dataset, version)
        assert folder is not None
        rows = fitted.frame.head(25)
        features = rows[list(fitted.signature.names)]
        ours = Predictor.load(f"{dataset}:{version}", store=store).predict_frame(rows)
        theirs = np.asarray(mlflow.pyfunc.load_model(str(folder)).predict(features))
        if fitted.signature.output == "probability":
            theirs = theirs[:, 1]
        assert ours == pytest.approx(theirs.reshape(-1), rel=1e-9), recipe
