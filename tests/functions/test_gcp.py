"""The Cloud Functions handlers on real Flask requests (what functions-framework passes).

Serving them through the functions-framework HTTP server is still to be tested
(issue 5); here the handler gets Flask's own request objects in-process.
"""

from __future__ import annotations

import json
from pathlib import Path

import flask
import pytest

from scalepipe.functions import gcp
from scalepipe.functions.runtime import FunctionRuntime
from scalepipe.predict import Predictor
from scalepipe.store import ModelStore
from tests import models

BOOK_REQUEST = {f"G{i}": str(i % 2) for i in range(1, 11)}


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
