"""Fuzz every route in /openapi.json with schemathesis: a client's mistake is never a 5xx.

The cases run against a real server process (two uvicorn workers) over HTTP.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings

from scalepipe.store import ModelStore
from tests import models
from tests.serve.conftest import Server, start_server, wait_for_url


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    store = ModelStore(str(tmp_path_factory.mktemp("fuzz") / "models"))
    store.publish(models.prepared("logistic"), "games", alias="champion")
    store.publish(models.prepared("linear", "housing"), "housing", alias="champion")
    process = start_server("--store", store.url, "games", "housing")
    server = Server(wait_for_url(process), process, store)
    yield server
    server.stop()


def test_no_route_answers_5xx(live_server: Server) -> None:
    schema = schemathesis.openapi.from_url(f"{live_server.url}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]  # type: ignore[union-attr]
    assert len(operations) >= 8
    tried: list[str] = []
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=50, deadline=None, suppress_health_check=list(HealthCheck))
        def fuzz(case: schemathesis.Case[Any]) -> None:
            response = case.call(base_url=live_server.url, timeout=10)
            assert response.status_code < 500, (
                f"{case.method} {case.formatted_path}: {response.text}"
            )

        fuzz()
        tried.append(f"{operation.method.upper()} {operation.path}")
    assert "POST /v1/models/housing/predict" in tried
    metrics = requests.get(f"{live_server.url}/metrics", timeout=10).text
    answered = sum(
        float(line.rsplit(" ", 1)[1])
        for line in metrics.splitlines()
        if line.startswith("scalepipe_requests_total{")
    )
    assert answered >= 5 * len(operations)
