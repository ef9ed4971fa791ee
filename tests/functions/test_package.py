"""The Lambda zip is self-contained: unpacked into an empty folder and run by a fresh
`python -I -S` (no site-packages at all), it answers like the server."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from scalepipe.functions import package
from scalepipe.functions.package import PackageError, build_lambda_zip, serving_requirements
from scalepipe.predict import Predictor
from scalepipe.store import ModelStore
from tests import models

BOOK_EVENT = models.BOOK_REQUEST


def test_a_bundled_logistic_zip_runs_with_the_standard_library_alone(tmp_path: Path) -> None:
    store = ModelStore(str(tmp_path / "models"))
    store.publish(models.prepared("logistic"), "games", alias="champion")
    built = build_lambda_zip(
        f"{store.url}/games", tmp_path / "dist" / "lambda.zip", bundle_model=True
    )
    assert built.requirements == ()
    assert built.zipped_bytes == built.path.stat().st_size < 15 * 1024 * 1024
    unpacked = tmp_path / "unpacked"
    with zipfile.ZipFile(built.path) as archive:
        archive.extractall(unpacked)
    code = (
        f"import json, sys; sys.path.insert(0, {str(unpacked)!r}); import lambda_function; "
        f"print(json.dumps(lambda_function.handler({BOOK_EVENT!r}, None))); "
        f"print(json.dumps(lambda_function.handler({{'instances': [{BOOK_EVENT!r}] * 2}}, None))); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('numpy', 'orjson', 'sklearn')))"
    )
    result = subprocess.run(
        [sys.executable, "-I", "-S", "-c", code],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=True,
    )
    one, batch, imported = result.stdout.strip().splitlines()
    expected = Predictor.load("games", store=store).predict_one(BOOK_EVENT)
    assert json.loads(json.loads(one)["body"]) == {"response": repr(expected), "success": True}
    assert json.loads(json.loads(batch)["body"])["predictions"] == [expected, expected]
    assert imported == "[]"


def test_other_models_and_remote_stores_bring_their_libraries(tmp_path: Path) -> None:
    store = ModelStore(str(tmp_path / "models"))
    store.publish(models.prepared("gbm"), "games", alias="champion")
    assert serving_requirements(f"{store.url}/games", bundle_model=True) == (
        "numpy", "scikit-learn", "skops",
    )  # fmt: skip
    remote = serving_requirements("s3://bucket/models/games", bundle_model=False, store=store.url)
    assert remote[-2:] == ("fsspec", "s3fs")


def test_a_package_over_the_limits_is_refused_and_not_left_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = ModelStore(str(tmp_path / "models"))
    store.publish(models.prepared("logistic"), "games", alias="champion")
    # The real limits need a model of hundreds of MB to cross; lower them instead.
    monkeypatch.setattr(package, "LAMBDA_ZIPPED_LIMIT", 10_000)
    out = tmp_path / "dist" / "lambda.zip"
    with pytest.raises(PackageError, match=r"Lambda takes at most 0 MB zipped .* container image"):
        build_lambda_zip(f"{store.url}/games", out, bundle_model=True)
    assert not out.exists() and not list(out.parent.iterdir())
