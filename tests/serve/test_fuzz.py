"""Fuzz every route in /openapi.json with schemathesis against a live server with API keys.

All of schemathesis's phases run (the document's examples, the coverage phase's boundary
and invalid values, then random valid and invalid data), and every response is checked:
no 5xx, a status code, content type, headers and body that the OpenAPI document allows.
The cases run against a real server process (two uvicorn workers) over HTTP; the
server's own request counter proves how many were sent.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from scalepipe.store import ModelStore
from tests import models
from tests.serve.conftest import API_KEY, Server, start_server, wait_for_url

MIN_REQUESTS = 10_000
CHECKS = (
    "not_a_server_error,status_code_conformance,content_type_conformance,"
    "response_schema_conformance,response_headers_conformance"
)


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    folder = tmp_path_factory.mktemp("fuzz")
    store = ModelStore(str(folder / "models"))
    store.publish(models.prepared("logistic"), "games", alias="champion")
    store.publish(models.prepared("linear", "housing"), "housing", alias="champion")
    keys = folder / "keys.txt"
    keys.write_text(f"{API_KEY}\n")
    process = start_server("--store", store.url, "games", "housing", "--api-key-file", str(keys))
    server = Server(wait_for_url(process), process, store)
    yield server
    server.stop()


def _requests_answered(server: Server) -> float:
    metrics = requests.get(f"{server.url}/metrics", headers={"X-API-Key": API_KEY}, timeout=10).text
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in metrics.splitlines()
        if line.startswith("scalepipe_requests_total{")
    )


@pytest.mark.timeout(1800)
def test_every_route_conforms_to_the_document_and_none_answers_5xx(
    live_server: Server, tmp_path: Path
) -> None:
    document = requests.get(
        f"{live_server.url}/openapi.json", headers={"X-API-Key": API_KEY}, timeout=10
    ).json()
    routes = {
        f"{method.upper()} {path}" for path, ops in document["paths"].items() for method in ops
    }
    for route in ("GET /echo", "POST /echo", "POST /admin/reload", "GET /metrics", "GET /"):
        assert route in routes
    report = tmp_path / "report.json"
    run = subprocess.run(
        [
            str(Path(sys.executable).parent / "schemathesis"), "run",
            f"{live_server.url}/openapi.json",
            "--header", f"X-API-Key: {API_KEY}",
            "--phases", "examples,coverage,fuzzing",
            "--mode", "all",
            "--checks", CHECKS,
            "--max-examples", "250",
            "--seed", "20261128",
            "--workers", "2",
            "--continue-on-failure",
            "--request-timeout", "10",
            "--suppress-health-check", "all",
            "--report-json-path", str(report),
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,  # schemathesis keeps a cache folder in its working directory
        timeout=1700,
        check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout[-6000:]
    # Metrics are summed across workers once a second: wait for the last flush.
    answered = 0.0
    for _ in range(10):
        answered = _requests_answered(live_server)
        if answered >= MIN_REQUESTS:
            break
        time.sleep(0.5)
    assert answered >= MIN_REQUESTS, run.stdout[-3000:]
