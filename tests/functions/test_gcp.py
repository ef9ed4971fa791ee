"""The Cloud Functions handlers: on Flask's request objects in-process, and the packaged
folder served by the real functions-framework HTTP server on 127.0.0.1."""

from __future__ import annotations

import json
from pathlib import Path

import flask
import pytest
import requests

from scalepipe.functions import gcp
from scalepipe.functions.package import build_gcf_folder
from scalepipe.functions.runtime import FunctionRuntime
from scalepipe.predict import Predictor
from scalepipe.store import ModelStore
from tests import models
from tests.conftest import local_server

BOOK_REQUEST = models.BOOK_REQUEST


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ModelStore:
    store = ModelStore(str(tmp_path / "models"))
    store.publish(models.prepared("logistic"), "games", alias="champion")
    monkeypatch.setattr(gcp, "runtime", FunctionRuntime({"SCALEPIPE_MODEL": f"{store.url}/games"}))
    return store


def test_json_body_and_query_arguments_answer_the_books_shape(store: ModelStore) -> None:
    expected = repr(Predictor.load("games", store=store).predict_one(BOOK_REQUEST))
    app = flask.Flask(__name__)
    with app.test_request_context("/", method="POST", json=BOOK_REQUEST):
        body, status, headers = gcp.predict(flask.request)
    assert status == 200 and json.loads(body) == {"response": expected, "success": True}
    assert headers["x-model-name"] == "games"
    with app.test_request_context("/", method="GET", query_string=BOOK_REQUEST):
        body, status, _ = gcp.predict(flask.request)
    assert json.loads(body)["response"] == expected
    with app.test_request_context("/", method="GET", query_string={"msg": "hi"}):
        body, status, _ = gcp.echo(flask.request)
    assert json.loads(body) == {"response": "hi", "success": True}


def test_the_packaged_folder_runs_under_the_real_functions_framework_server(tmp_path: Path) -> None:
    store = ModelStore(str(tmp_path / "models"))
    store.publish(models.prepared("logistic"), "games", alias="champion")
    folder = build_gcf_folder(f"{store.url}/games", tmp_path / "gcf", bundle_model=True).path
    expected = repr(Predictor.load("games", store=store).predict_one(BOOK_REQUEST))
    with local_server(
        "functions-framework", "--target", "predict", "--source", str(folder / "main.py"),
        "--host", "127.0.0.1", "--port", "{port}",
    ) as url:  # fmt: skip
        # The book's client calls, unchanged.
        assert requests.get(url, params=BOOK_REQUEST, timeout=10).json() == {
            "response": expected,
            "success": True,
        }
        posted = requests.post(url, json=BOOK_REQUEST, timeout=10)
        assert posted.json()["response"] == expected and posted.headers["x-model-version"] == "1"
        refused = requests.post(url, json={"G1": "1"}, timeout=10)
        assert refused.status_code == 422 and "G2" in refused.json()["error"]
        # Chapter 2's client sends its JSON with GET: the body is the request.
        sent_with_get = requests.get(url, json=BOOK_REQUEST, timeout=10).json()
        assert sent_with_get == {"response": expected, "success": True}
        # The same routes as the server's, under the function's URL.
        mlflow = requests.post(f"{url}/invocations", json={"inputs": [BOOK_REQUEST]}, timeout=10)
        assert mlflow.json() == {"predictions": [float(expected)]}
        live = requests.get(f"{url}/v2/health/live", timeout=10)
        assert live.json() == {"live": True}
