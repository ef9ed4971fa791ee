"""The model server as the book's clients and today's see it: a real server, real HTTP."""

from __future__ import annotations

import base64
import json
import os
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
import requests

from scalepipe.predict import Predictor
from scalepipe.quickstart import HOUSE
from scalepipe.serve.metrics import FLUSH_SECONDS
from scalepipe.serve.predlog import FLUSH_SECONDS as LOG_FLUSH_SECONDS
from scalepipe.store import ModelStore
from tests import models
from tests.serve.conftest import API_KEY, Server, start_server

BOOK_PARAMS = models.BOOK_REQUEST


def test_the_books_get_and_post_clients_work_unchanged(server: Server) -> None:
    expected = Predictor.load("games", store=server.store).predict_one(BOOK_PARAMS)
    # The book's calls: requests.get(url, params=...) and requests.post(url, json=...).
    result = requests.get(server.url, params=BOOK_PARAMS, timeout=10).json()
    assert result == {"response": repr(expected), "success": True}
    posted = requests.post(server.url, json=BOOK_PARAMS, timeout=10).json()
    assert posted == result
    assert float(posted["response"]) == pytest.approx(expected)


def test_missing_features_answer_success_false_naming_them(server: Server) -> None:
    response = requests.get(server.url, params={"G1": "1"}, timeout=10)
    assert response.status_code == 422
    body = response.json()
    assert body["success"] is False
    assert body["error"] == "missing feature(s): G2, G3, G4, G5, G6, G7, G8, G9, G10"
    bad = requests.post(server.url, json=BOOK_PARAMS | {"G4": "four"}, timeout=10)
    assert bad.status_code == 422 and bad.json()["field"] == "G4"


def test_predictions_carry_the_model_name_and_version(server: Server) -> None:
    response = requests.get(server.url, params=BOOK_PARAMS, timeout=10)
    assert response.headers["x-model-name"] == "games"
    assert response.headers["x-model-version"] == "1"


def test_echo_returns_nested_messages_within_the_depth_limit(server: Server) -> None:
    nested: Any = "deep"
    for _ in range(63):
        nested = [nested]
    answer = requests.post(f"{server.url}/echo", json={"msg": nested}, timeout=10)
    assert answer.status_code == 200 and answer.json()["response"] == nested


def test_the_echo_service_returns_msg_and_a_base64_image(server: Server) -> None:
    assert requests.get(f"{server.url}/echo", params={"msg": "Hello"}, timeout=10).json() == {
        "response": "Hello",
        "success": True,
    }
    image = base64.b64encode(os.urandom(300_000)).decode()
    echoed = requests.post(f"{server.url}/echo", json={"msg": image}, timeout=10).json()
    assert echoed["response"] == image
    assert requests.get(f"{server.url}/echo", timeout=10).json() == {"success": False}


def test_bodies_over_the_limit_are_refused_with_413(serve_models: Callable[..., Server]) -> None:
    server = serve_models("games", "--body-limit", "10000")
    response = requests.post(f"{server.url}/echo", json={"msg": "x" * 20_000}, timeout=10)
    assert response.status_code == 413
    assert "10,000-byte limit" in response.json()["error"]


def test_v1_predict_takes_instances_and_mlflows_dataframe_split(server: Server) -> None:
    frame = models.fitted("logistic").frame.head(5).drop(columns="label")
    records: list[dict[str, Any]] = [
        {str(k): int(v) for k, v in r.items()} for r in frame.to_dict("records")
    ]
    expected = Predictor.load("games", store=server.store).predict_records(records)
    url = f"{server.url}/v1/models/games/predict"
    by_instances = requests.post(url, json={"instances": records}, timeout=10).json()
    assert by_instances == {"predictions": expected, "model": {"name": "games", "version": 1}}
    columns = list(records[0])
    split: dict[str, Any] = {
        "dataframe_split": {"columns": columns, "data": [[r[c] for c in columns] for r in records]}
    }
    assert requests.post(url, json=split, timeout=10).json() == by_instances
    house = requests.post(
        f"{server.url}/v1/models/housing/predict", json={"instances": [HOUSE]}, timeout=10
    )
    assert house.json()["model"] == {"name": "housing", "version": 1}
    assert 0 < house.json()["predictions"][0] < 60


def test_model_listing_health_readiness_openapi_and_docs(server: Server) -> None:
    listed = requests.get(f"{server.url}/v1/models", timeout=10).json()["models"]
    assert [(m["name"], m["version"], m["alias"]) for m in listed] == [
        ("games", 1, "champion"),
        ("housing", 1, "champion"),
    ]
    one = requests.get(f"{server.url}/v1/models/games", timeout=10).json()
    assert one["signature"]["output"] == "probability" and "roc_auc" in one["metrics"]
    assert requests.get(f"{server.url}/healthz", timeout=10).json() == {"status": "ok"}
    assert requests.get(f"{server.url}/readyz", timeout=10).json()["models"] == {
        "games": 1,
        "housing": 1,
    }
    spec = requests.get(f"{server.url}/openapi.json", timeout=10).json()
    assert spec["openapi"].startswith("3.")
    assert "/v1/models/housing/predict" in spec["paths"]
    docs = requests.get(f"{server.url}/docs", timeout=10)
    assert docs.headers["content-type"].startswith("text/html") and "housing version 1" in docs.text


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "message"),
    [
        ("POST", "/", b"{not json", 400, "malformed JSON"),
        ("POST", "/", b"[1, 2]", 400, "must be an object"),
        ("POST", "/v1/models/games/predict", b"{}", 400, 'exactly one of "dataframe_split"'),
        (
            "POST",
            "/v1/models/games/predict",
            b'{"instances": [1]}',
            400,
            "must hold objects or rows",
        ),
        ("GET", "/v1/models/games/predict", b"", 405, "use POST"),
        ("PUT", "/", b"", 405, "use GET or POST"),
        ("GET", "/v1/models/trees", b"", 404, "no model 'trees'; served: games, housing"),
        ("GET", "/nowhere", b"", 404, "no route /nowhere"),
        ("POST", "/echo", b'{"msg": ' + b"[" * 300 + b"]" * 300 + b"}", 400, "nested over 64"),
        ("POST", "/echo", b'{"msg": ' + b"[" * 2000 + b"]" * 2000 + b"}", 400, "malformed JSON"),
        ("POST", "/", b'{"G1": 1e400}', 400, "malformed JSON"),
        ("POST", "/", b'{"G1": ' + b"9" * 5000 + b"}", 400, "malformed JSON"),
        ("POST", "/", rb'{"G1": "\u0663"}', 422, "feature 'G1' must be a number"),
        (
            "POST",
            "/",
            orjson.dumps({f"G{i}": 1e308 * (-1) ** i for i in range(1, 11)}),
            422,
            "output is not a finite number",
        ),
    ],
)
def test_client_mistakes_get_4xx_with_a_reason(
    server: Server, method: str, path: str, body: bytes, status: int, message: str
) -> None:
    response = requests.request(method, f"{server.url}{path}", data=body, timeout=10)
    assert response.status_code == status
    assert message in response.json()["error"]


def test_api_keys_guard_every_route_but_health(
    serve_models: Callable[..., Server], key_file: Path
) -> None:
    server = serve_models("games", "--api-key-file", str(key_file))
    assert requests.get(server.url, params=BOOK_PARAMS, timeout=10).status_code == 401
    wrong = requests.get(server.url, params=BOOK_PARAMS, headers={"X-API-Key": "nope"}, timeout=10)
    assert wrong.status_code == 401
    bearer = {"Authorization": f"Bearer {API_KEY}"}
    assert requests.get(server.url, params=BOOK_PARAMS, headers=bearer, timeout=10).json()[
        "success"
    ]
    assert requests.get(
        f"{server.url}/v1/models", headers={"X-API-Key": "second-key"}, timeout=10
    ).ok
    assert requests.get(f"{server.url}/openapi.json", timeout=10).status_code == 401
    assert requests.get(f"{server.url}/healthz", timeout=10).ok
    assert requests.get(f"{server.url}/readyz", timeout=10).ok


def test_admin_reload_loads_a_promoted_version_in_every_worker(
    serve_models: Callable[..., Server], key_file: Path
) -> None:
    server = serve_models("games", "--api-key-file", str(key_file), "--workers", "2")
    headers = {"X-API-Key": API_KEY}
    server.store.publish(models.prepared("gbm"), "games", alias="champion")
    assert requests.post(f"{server.url}/admin/reload", timeout=10).status_code == 401
    reloaded = requests.post(f"{server.url}/admin/reload", headers=headers, timeout=10).json()
    assert reloaded["models"] == {"games": 2}
    _wait_for_version(server, "2", headers)


def _wait_for_version(server: Server, version: str, headers: dict[str, str] | None = None) -> None:
    """Until every worker answers with `version` (new connections reach both workers)."""
    deadline = time.monotonic() + 20
    versions: set[str] = set()
    while time.monotonic() < deadline:
        versions = {
            requests.get(
                server.url,
                params=BOOK_PARAMS,
                headers=(headers or {}) | {"Connection": "close"},
                timeout=10,
            ).headers["x-model-version"]
            for _ in range(10)
        }
        if versions == {version}:
            return
        time.sleep(0.1)
    raise AssertionError(f"still serving versions {versions}, not {version}")


def test_refresh_follows_a_promotion_without_a_request(serve_models: Callable[..., Server]) -> None:
    server = serve_models("games", "--refresh", "0.2")
    server.store.publish(models.prepared("gbm"), "games", alias="champion")
    _wait_for_version(server, "2")


def test_sigterm_drains_and_exits_cleanly(server: Server) -> None:
    failures: list[str] = []
    answered = 0
    stop = threading.Event()

    def client() -> None:
        nonlocal answered
        with requests.Session() as session:
            while not stop.is_set():
                try:
                    response = session.get(server.url, params=BOOK_PARAMS, timeout=10)
                except requests.ConnectionError:
                    return  # the server has stopped accepting: expected after SIGTERM
                if response.status_code != 200:
                    failures.append(f"{response.status_code} {response.text}")
                answered += 1

    clients = [threading.Thread(target=client) for _ in range(4)]
    for thread in clients:
        thread.start()
    time.sleep(1.0)
    server.process.send_signal(signal.SIGTERM)
    assert server.process.wait(timeout=60) == 0
    stop.set()
    for thread in clients:
        thread.join()
    assert answered > 50 and failures == []


def test_a_model_uri_that_does_not_resolve_fails_at_start(tmp_path: Path) -> None:
    process = start_server("--store", str(tmp_path / "empty"), "games@champion")
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 2
    assert "games has no alias 'champion'" in " ".join(stderr.split())


def _metric(text: str, name: str, **labels: str) -> float:
    wanted = ",".join(f'{k}="{v}"' for k, v in labels.items())
    for line in text.splitlines():
        if line.startswith(f"{name}{{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
        if not labels and line.startswith(f"{name} "):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{name}{{{wanted}}} not in /metrics")


def test_metrics_add_up_across_workers(serve_models: Callable[..., Server]) -> None:
    server = serve_models("games", "--workers", "2")
    for _ in range(30):
        # New connections, so that both workers serve some of them.
        requests.get(server.url, params=BOOK_PARAMS, headers={"Connection": "close"}, timeout=10)
        requests.get(server.url, params={"G1": "1"}, headers={"Connection": "close"}, timeout=10)
    records = [dict(BOOK_PARAMS)] * 7
    requests.post(f"{server.url}/v1/models/games/predict", json={"instances": records}, timeout=10)
    time.sleep(3 * FLUSH_SECONDS)  # the other worker adds its counts within a flush interval
    text = requests.get(f"{server.url}/metrics", timeout=10).text
    assert _metric(text, "scalepipe_requests_total", route="/", status="200") == 30
    assert _metric(text, "scalepipe_requests_total", route="/", status="422") == 30
    assert _metric(text, "scalepipe_predictions_total", model="games") == 37
    assert _metric(text, "scalepipe_request_duration_seconds_count", route="/") == 60
    assert _metric(text, "scalepipe_model_version", model="games") == 1


@pytest.mark.parametrize("suffix", [".jsonl", ".parquet"])
def test_every_prediction_is_logged_and_none_lost_on_sigterm(
    serve_models: Callable[..., Server], tmp_path: Path, suffix: str
) -> None:
    log_path = tmp_path / f"predictions{suffix}"
    server = serve_models("games", "housing", "--log-predictions", str(log_path))
    serving = time.monotonic()
    for _ in range(25):
        requests.get(server.url, params=BOOK_PARAMS, headers={"Connection": "close"}, timeout=10)
    columns = list(HOUSE)
    split: dict[str, Any] = {
        "dataframe_split": {"columns": columns, "data": [[HOUSE[c] for c in columns]] * 4}
    }
    requests.post(f"{server.url}/v1/models/housing/predict", json=split, timeout=10)
    requests.get(server.url, params={"G1": "1"}, timeout=10)  # refused: not a prediction
    time.sleep(2.5 * LOG_FLUSH_SECONDS)  # each worker's log writes within a second
    text = requests.get(f"{server.url}/metrics", timeout=10).text
    assert _metric(text, "scalepipe_prediction_log_records_total") == 29
    assert _metric(text, "scalepipe_prediction_log_lost_total") == 0
    # One writer thread per worker (2): at most their time up, and the first flush's
    # imports (pyarrow's for Parquet) make it more than nothing.
    cpu = _metric(text, "scalepipe_prediction_log_cpu_seconds_total")
    assert 0 < cpu < 2 * (time.monotonic() - serving)
    assert server.stop() == 0
    if suffix == ".parquet":
        import pandas as pd

        rows = pd.read_parquet(log_path).to_dict("records")
        for row in rows:
            row["inputs"] = json.loads(row["inputs"])
    else:
        rows = [json.loads(line) for line in log_path.read_text().splitlines()]
    assert len(rows) == 29
    games = [row for row in rows if row["model"] == "games"]
    as_scored = {name: float(value) for name, value in BOOK_PARAMS.items()}
    assert len(games) == 25 and all(row["inputs"] == as_scored for row in games)
    assert len({row["id"] for row in rows}) == 29
    assert all(row["version"] == 1 and row["latency_ms"] > 0 for row in rows)
    houses = [row for row in rows if row["model"] == "housing"]
    assert len(houses) == 4 and houses[0]["inputs"]["rm"] == 6.2 and 0 < houses[0]["output"] < 60


def test_the_prediction_log_grows_with_rows_not_with_what_clients_send(
    serve_models: Callable[..., Server], tmp_path: Path
) -> None:
    log_path = tmp_path / "predictions.jsonl"
    server = serve_models("housing", "--log-predictions", str(log_path), "--workers", "1")
    columns = [*HOUSE, "x" * 20_000]
    rows = [[*HOUSE.values(), "padding"] for _ in range(2_000)]
    body = orjson.dumps({"dataframe_split": {"columns": columns, "data": rows}})
    answer = requests.post(f"{server.url}/v1/models/housing/predict", data=body, timeout=30)
    assert answer.status_code == 200 and len(answer.json()["predictions"]) == 2_000
    assert server.stop() == 0
    logged = [json.loads(line) for line in log_path.read_text().splitlines()]
    assert len(logged) == 2_000
    assert all(row["extra_fields"] == 1 and set(row["inputs"]) == set(HOUSE) for row in logged)
    # The extra column's 20 kB name is counted, not copied into each of 2,000 records
    # (which made a 40 MB log of a 122 kB request): a record stays under 1 kB.
    assert log_path.stat().st_size < 1024 * len(logged)


def test_the_keras_mlp_is_served_through_the_same_routes(
    published: ModelStore, serve_models: Callable[..., Server]
) -> None:
    published.publish(models.prepared("mlp"), "mlp", alias="champion")
    server = serve_models("mlp")
    expected = Predictor.load("mlp", store=published).predict_one(BOOK_PARAMS)
    book = requests.get(server.url, params=BOOK_PARAMS, timeout=30).json()
    assert book["success"] and float(book["response"]) == pytest.approx(expected, rel=1e-6)
    v1 = requests.post(
        f"{server.url}/v1/models/mlp/predict", json={"instances": [BOOK_PARAMS] * 3}, timeout=30
    )
    assert v1.json()["predictions"] == pytest.approx([expected] * 3, rel=1e-5)


def test_promoting_under_load_fails_no_request_and_mixes_no_versions(
    serve_models: Callable[..., Server],
) -> None:
    server = serve_models("games", "--refresh", "0.1", "--workers", "2")
    answers = {
        version: Predictor.load(f"games:{version}", store=server.store).predict_one(BOOK_PARAMS)
        for version in (1,)
    }
    server.store.publish(models.prepared("gbm"), "games")
    answers[2] = Predictor.load("games:2", store=server.store).predict_one(BOOK_PARAMS)
    # Serve each version once first: the first gradient-boosting load imports scikit-learn.
    for version in (2, 1):
        server.store.promote("games", version, "champion")
        _wait_for_version(server, str(version))
    seen: list[tuple[int, str, str]] = []
    stop = threading.Event()

    def client() -> None:
        with requests.Session() as session:
            while not stop.is_set():
                response = session.get(server.url, params=BOOK_PARAMS, timeout=10)
                seen.append(
                    (
                        response.status_code,
                        response.headers.get("x-model-version", ""),
                        response.text,
                    )
                )

    clients = [threading.Thread(target=client) for _ in range(4)]
    for thread in clients:
        thread.start()
    for version in (2, 1, 2, 1, 2):
        time.sleep(0.4)
        server.store.promote("games", version, "champion")
    time.sleep(0.6)
    stop.set()
    for thread in clients:
        thread.join()
    assert len(seen) > 200
    assert {status for status, _, _ in seen} == {200}
    for _, header, text in seen:
        assert json.loads(text)["response"] == repr(answers[int(header)])
    assert {header for _, header, _ in seen} == {"1", "2"}


def test_after_sigterm_the_drain_delay_keeps_serving_while_readyz_says_draining(
    serve_models: Callable[..., Server],
) -> None:
    server = serve_models("games", "--workers", "1", "--drain-delay", "1.5")
    session = requests.Session()  # a kept-alive connection, as a load balancer's
    assert session.get(f"{server.url}/readyz", timeout=10).status_code == 200
    server.process.send_signal(signal.SIGTERM)
    time.sleep(0.3)
    ready = session.get(f"{server.url}/readyz", timeout=10)
    assert ready.status_code == 503 and ready.json()["status"] == "draining"
    answer = session.get(server.url, params=BOOK_PARAMS, timeout=10)
    assert answer.status_code == 200 and answer.json()["success"]
    assert server.process.poll() is None  # still up within the delay
    assert server.process.wait(timeout=30) == 0
