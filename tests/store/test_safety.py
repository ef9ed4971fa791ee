"""Attacks on the store by anyone who can write to it: crafted artifacts, rewritten
manifests, paths that leave the version folder. Each one must be refused before any
code from the artifact runs."""

from __future__ import annotations

import io
import json
import shutil
import zipfile
from pathlib import Path

import pytest

from scalepipe.predict import Predictor
from scalepipe.store import IntegrityError, ModelStore, StoreError, UnsafeModelError
from scalepipe.store.manifest import MANIFEST, build, sha256
from tests import models


def rewrite_version(store: ModelStore, name: str, version: int, changes: dict[str, bytes]) -> None:
    """What an attacker with write access does: change files, then re-hash the manifest."""
    folder = Path(store.url) / name / str(version)
    for path, data in changes.items():
        (folder / path).write_bytes(data)
    files = {
        path.relative_to(folder).as_posix(): path.read_bytes()
        for path in folder.rglob("*")
        if path.is_file() and path.name not in (MANIFEST, ".claim")
    }
    (folder / MANIFEST).write_bytes(build(files))


def crafted_skops(genuine: bytes, payload: str) -> bytes:
    """A skops file whose top node calls numpy.testing's runstring(payload, {}) on load."""
    import skops.io

    source = zipfile.ZipFile(io.BytesIO(genuine))
    schema = json.loads(source.read("schema.json"))
    call = zipfile.ZipFile(io.BytesIO(skops.io.dumps((payload, {}))))
    arguments = json.loads(call.read("schema.json"))
    schema |= {
        "__class__": "runstring",
        "__module__": "numpy.testing._private.utils",
        "__loader__": "ConstructorFromReduceNode",
        "content": arguments,
    }
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for item in source.namelist():
            data = json.dumps(schema).encode() if item == "schema.json" else source.read(item)
            archive.writestr(item, data)
    return out.getvalue()


@pytest.fixture
def store(tmp_path: Path) -> ModelStore:
    return ModelStore(str(tmp_path / "models"))


def test_a_crafted_skops_file_runs_nothing_on_load_or_verify(
    store: ModelStore, tmp_path: Path
) -> None:
    version = store.publish(models.prepared("gbm"), "games", alias="champion")
    marker = tmp_path / "owned"
    genuine = (Path(store.url) / "games" / str(version) / "model.skops").read_bytes()
    payload = f"open({str(marker)!r}, 'w').write('code ran')"
    rewrite_version(store, "games", version, {"model.skops": crafted_skops(genuine, payload)})

    with pytest.raises(UnsafeModelError, match=r"numpy\.testing\._private\.utils\.runstring"):
        Predictor.load("games", store=store)
    with pytest.raises(UnsafeModelError, match="runstring"):
        store.verify("games", version)
    from scalepipe.functions.package import build_lambda_zip

    with pytest.raises(UnsafeModelError, match="runstring"):
        build_lambda_zip(f"{store.url}/games", tmp_path / "fn.zip", bundle_model=True)
    assert not marker.exists() and not (tmp_path / "fn.zip").exists()


def test_the_recipes_models_load_under_the_allowlist(store: ModelStore) -> None:
    for recipe, dataset in [("gbm", "games"), ("gbm", "housing"), ("linear", "housing")]:
        store.publish(models.prepared(recipe, dataset), f"{dataset}-{recipe}")
        predictor = Predictor.load(f"{dataset}-{recipe}:1", store=store)
        fitted = models.fitted(recipe, dataset)
        rows = fitted.frame.head(5)
        assert len(predictor.predict_frame(rows)) == 5


def test_a_model_outside_the_allowlist_needs_pickle(store: ModelStore) -> None:
    from sklearn.ensemble import RandomForestClassifier

    fitted = models.fitted("logistic")
    frame = fitted.frame.head(200)
    x, y = frame[list(fitted.signature.names)].to_numpy(), frame["label"].to_numpy()
    forest = RandomForestClassifier(n_estimators=2, random_state=0).fit(x, y)
    with pytest.raises(UnsafeModelError, match="RandomForestClassifier"):
        store.publish(forest, "forest", signature=fitted.signature)
    with pytest.warns(UserWarning, match="pickle runs code"):
        store.publish(forest, "forest", signature=fitted.signature, allow_pickle=True)
    with pytest.raises(UnsafeModelError, match="stored with pickle"):
        Predictor.load("forest:1", store=store)
    with pytest.warns(UserWarning, match="pickle runs code"):
        opted_in = Predictor.load("forest:1", store=store, allow_pickle=True)
    assert len(opted_in.predict_frame(frame.head(3))) == 3


def test_a_keras_file_with_a_lambda_layer_is_refused(store: ModelStore, tmp_path: Path) -> None:
    from scalepipe.store.formats import _keras

    keras = _keras()
    marker = tmp_path / "owned"
    inputs = keras.Input(shape=(10,))
    touch = str(marker)
    hidden = keras.layers.Lambda(lambda x: (open(touch, "w").write("ran"), x)[1])(inputs)  # noqa: PTH123, SIM115
    model = keras.Model(inputs, keras.layers.Dense(1, activation="sigmoid")(hidden))
    signature = models.fitted("logistic").signature
    store.publish(model, "lambda", signature=signature)
    marker.unlink()  # building the model called the layer once, here, by its author
    with pytest.raises(UnsafeModelError, match="Lambda"):
        Predictor.load("lambda:1", store=store)
    assert not marker.exists()


def test_a_manifest_entry_outside_the_version_folder_is_refused_and_never_written(
    store: ModelStore, tmp_path: Path
) -> None:
    from scalepipe.functions.package import build_lambda_zip

    version = store.publish(models.prepared("logistic"), "games", alias="champion")
    outside = tmp_path / "site-packages" / "evil.pth"
    folder = Path(store.url) / "games" / str(version)
    # The store reads "games/1//abs/path" as a file below the version folder...
    planted = folder / str(outside).lstrip("/")
    planted.parent.mkdir(parents=True)
    planted.write_text("import os; os.system('echo owned')\n")
    listing = json.loads((folder / MANIFEST).read_bytes())["files"]
    listing[str(outside)] = sha256(planted.read_bytes())
    (folder / MANIFEST).write_text(json.dumps({"files": listing}))
    # ...and the packager would have written it at the absolute path.
    with pytest.raises(IntegrityError, match="not a plain relative name"):
        build_lambda_zip(f"{store.url}/games", tmp_path / "fn.zip", bundle_model=True)
    with pytest.raises(IntegrityError, match="not a plain relative name"):
        Predictor.load("games", store=store)
    assert not outside.exists()
    assert not (tmp_path / "fn.zip").exists()


@pytest.mark.parametrize("entry", ["../housing/1/card.json", "data/../../x", "./card.json", ".x"])
def test_manifest_entries_must_be_plain_names(entry: str) -> None:
    from scalepipe.store import manifest

    with pytest.raises(IntegrityError):
        manifest.parse(json.dumps({"files": {entry: "0" * 64}}).encode())


def test_a_version_folder_linked_or_copied_from_another_model_does_not_load(
    store: ModelStore,
) -> None:
    store.publish(models.prepared("logistic"), "games", alias="champion")
    store.publish(models.prepared("linear", "housing"), "housing", alias="champion")
    root = Path(store.url)
    (root / "games" / "2").symlink_to(root / "housing" / "1", target_is_directory=True)
    with pytest.raises(IntegrityError, match="symbolic link"):
        Predictor.load("games:2", store=store)
    (root / "games" / "2").unlink()
    shutil.copytree(root / "housing" / "1", root / "games" / "3")
    with pytest.raises(IntegrityError, match="describes housing:1"):
        Predictor.load("games:3", store=store)
    with pytest.raises(IntegrityError, match="describes housing:1"):
        store.verify("games", 3)
    (root / "games" / "1" / "linear.json").unlink()
    (root / "games" / "1" / "linear.json").symlink_to(root / "housing" / "1" / "linear.json")
    with pytest.raises(IntegrityError, match="symbolic link"):
        Predictor.load("games:1", store=store)


KEY = "k" * 32


def test_with_a_key_publish_signs_and_loads_refuse_what_the_key_did_not_sign(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = str(tmp_path / "models")
    unsigned = ModelStore(url, signing_key=None).publish(models.prepared("logistic"), "games")
    monkeypatch.setenv("SCALEPIPE_SIGNING_KEY", KEY)
    store = ModelStore(url)
    signed = store.publish(models.prepared("logistic"), "games", alias="champion")
    assert Predictor.load("games", store=url).version == signed
    assert store.verify("games", signed)

    with pytest.raises(IntegrityError, match="not signed"):
        Predictor.load(f"games:{unsigned}", store=url)
    store.sign("games", unsigned)
    assert Predictor.load(f"games:{unsigned}", store=url).version == unsigned

    # An attacker with write access changes a weight and re-hashes the manifest.
    folder = tmp_path / "models" / "games" / str(signed)
    form = json.loads((folder / "linear.json").read_bytes())
    form["bias"] += 10.0
    rewrite_version(store, "games", signed, {"linear.json": json.dumps(form).encode()})
    with pytest.raises(IntegrityError, match="signature does not match"):
        Predictor.load("games", store=url)
    with pytest.raises(IntegrityError, match="signature does not match"):
        store.verify("games", signed)

    # A signed version copied under another number is refused too.
    shutil.copytree(tmp_path / "models" / "games" / str(unsigned), folder.with_name("9"))
    with pytest.raises(IntegrityError, match="signature does not match"):
        Predictor.load("games:9", store=url)

    monkeypatch.setenv("SCALEPIPE_SIGNING_KEY", "another key of 32 bytes or so...")
    with pytest.raises(IntegrityError, match="signature does not match"):
        Predictor.load(f"games:{unsigned}", store=url)
    monkeypatch.setenv("SCALEPIPE_SIGNING_KEY", "short")
    with pytest.raises(StoreError, match="at least 16 bytes"):
        ModelStore(url)
