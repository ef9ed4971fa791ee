"""The ASGI app called directly, for what a live server cannot be made to do on demand."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import orjson
import pytest

from scalepipe.endpoints.service import Service
from scalepipe.predict import Predictor
from scalepipe.serve import ServingApp
from scalepipe.store import ModelStore
from tests import models


def call(
    app: ServingApp, method: str, path: str, body: bytes = b""
) -> tuple[int, dict[bytes, bytes], Any]:
    sent: list[dict[str, Any]] = []
    messages = [{"type": "http.request", "body": body, "more_body": False}]

    async def receive() -> dict[str, Any]:
        return messages.pop()

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": method, "path": path, "query_string": b"", "headers": []}
    asyncio.run(app(scope, receive, send))
    return sent[0]["status"], dict(sent[0]["headers"]), orjson.loads(sent[1]["body"])


class _BrokenScorer:
    def score_row(self, row: list[float]) -> float:
        raise ZeroDivisionError("a bug in the model")


def test_a_model_bug_is_a_500_with_a_request_id_and_no_stack_trace(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = ModelStore(str(tmp_path))
    store.publish(models.prepared("logistic"), "games", alias="champion")
    predictor = Predictor.load("games", store=store)
    object.__setattr__(predictor.current, "scorer", _BrokenScorer())
    app = ServingApp(Service([predictor]))
    body = orjson.dumps({f"G{i}": 1 for i in range(1, 11)})
    with caplog.at_level(logging.ERROR, logger="scalepipe.serve"):
        status, headers, answer = call(app, "POST", "/", body)
    assert status == 500
    assert answer == {
        "success": False,
        "error": "internal error",
        "request_id": answer["request_id"],
    }
    assert headers[b"x-request-id"] == answer["request_id"].encode()
    assert "ZeroDivisionError" not in str(answer)
    logged = caplog.records[-1]
    assert answer["request_id"] in logged.getMessage() and logged.exc_info is not None
