"""The Lambda handler with the event shapes AWS documents: direct, API Gateway v1 and v2.

The handler runs in-process (no Lambda runtime can run here); the model comes from a
local store or from the local S3 server.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from scalepipe.endpoints.http import Request
from scalepipe.functions import aws_lambda
from scalepipe.functions.runtime import FunctionRuntime
from scalepipe.predict import Predictor
from scalepipe.store import ModelStore
from tests import models

BOOK_EVENT = models.BOOK_REQUEST


@pytest.fixture
def store(tmp_path: Path) -> ModelStore:
    store = ModelStore(str(tmp_path / "models"))
    store.publish(models.prepared("logistic"), "games", alias="champion")
    return store


@pytest.fixture
def configure(monkeypatch: pytest.MonkeyPatch) -> Any:
    def set_up(**environ: str) -> FunctionRuntime:
        runtime = FunctionRuntime(environ)
        monkeypatch.setattr(aws_lambda, "runtime", runtime)
        return runtime

    return set_up


def _body(answer: dict[str, Any]) -> Any:
    return json.loads(answer["body"])


def _expected(store: ModelStore, uri: str = "games") -> str:
    return repr(Predictor.load(uri, store=store).predict_one(BOOK_EVENT))


def test_a_direct_invocation_answers_the_books_shape(store: ModelStore, configure: Any) -> None:
    configure(SCALEPIPE_MODEL=f"{store.url}/games")
    answer = aws_lambda.handler(BOOK_EVENT, None)
    assert answer["statusCode"] == 200
    assert _body(answer) == {"response": _expected(store), "success": True}
    assert answer["headers"]["x-model-version"] == "1"


def test_api_gateway_v1_with_a_json_body_and_with_query_parameters(
    store: ModelStore, configure: Any
) -> None:
    configure(SCALEPIPE_MODEL=f"{store.url}/games")
    posted = {
        "httpMethod": "POST",
        "path": "/prod/",
        "headers": {"Content-Type": "application/json"},
        "queryStringParameters": None,
        "body": json.dumps(BOOK_EVENT),
        "isBase64Encoded": False,
        "requestContext": {"stage": "prod"},
    }
    assert _body(aws_lambda.handler(posted, None)) == {
        "response": _expected(store),
        "success": True,
    }
    queried = {"httpMethod": "GET", "path": "/", "headers": {}, "queryStringParameters": BOOK_EVENT,
               "body": None, "isBase64Encoded": False, "requestContext": {}}  # fmt: skip
    assert _body(aws_lambda.handler(queried, None))["response"] == _expected(store)


def test_http_api_v2_with_a_base64_body_and_instances(store: ModelStore, configure: Any) -> None:
    configure(SCALEPIPE_MODEL=f"{store.url}/games")
    body = base64.b64encode(json.dumps({"instances": [BOOK_EVENT, BOOK_EVENT]}).encode()).decode()
    event = {"version": "2.0", "routeKey": "$default", "rawPath": "/v1/models/games/predict",
             "rawQueryString": "", "headers": {"content-type": "application/json"},
             "requestContext": {"http": {"method": "POST", "path": "/v1/models/games/predict"}},
             "body": body, "isBase64Encoded": True}  # fmt: skip
    answer = _body(aws_lambda.handler(event, None))
    assert answer["model"] == {"name": "games", "version": 1}
    assert answer["predictions"] == [float(_expected(store))] * 2


def test_missing_features_and_the_echo_handler(store: ModelStore, configure: Any) -> None:
    configure(SCALEPIPE_MODEL=f"{store.url}/games")
    refused = aws_lambda.handler({"G1": "1"}, None)
    assert refused["statusCode"] == 422 and _body(refused)["success"] is False
    assert "G2" in _body(refused)["error"]
    assert _body(aws_lambda.echo({"msg": "hello"}, None)) == {"response": "hello", "success": True}


def test_api_keys_guard_gateway_calls_but_not_direct_invocations(
    store: ModelStore, configure: Any
) -> None:
    configure(SCALEPIPE_MODEL=f"{store.url}/games", SCALEPIPE_API_KEYS="k1, k2")
    event = {"httpMethod": "POST", "path": "/", "headers": {}, "body": json.dumps(BOOK_EVENT),
             "requestContext": {}}  # fmt: skip
    assert aws_lambda.handler(event, None)["statusCode"] == 401
    event["headers"] = {"X-Api-Key": "k2"}
    assert aws_lambda.handler(event, None)["statusCode"] == 200
    assert aws_lambda.handler(BOOK_EVENT, None)["statusCode"] == 200


def _alb_event(**fields: Any) -> dict[str, Any]:
    """An Application Load Balancer's event, as AWS documents it (lambda-functions.html)."""
    arn = (
        "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/scalepipe/6d0ecf831eec9f09"
    )
    return {"requestContext": {"elb": {"targetGroupArn": arn}}, "httpMethod": "GET", "path": "/",
            "body": "", "isBase64Encoded": False} | fields  # fmt: skip


def test_load_balancer_events_with_multi_value_headers_and_arguments(
    store: ModelStore, configure: Any
) -> None:
    configure(SCALEPIPE_MODEL=f"{store.url}/games", SCALEPIPE_API_KEYS="k1")
    event = _alb_event(
        multiValueQueryStringParameters={name: [value] for name, value in BOOK_EVENT.items()},
        multiValueHeaders={"x-api-key": ["k1"], "accept": ["*/*"], "x-forwarded-for": ["10.0.0.1"]},
    )
    answer = aws_lambda.handler(event, None)
    assert answer["statusCode"] == 200, answer["body"]
    assert answer["statusDescription"] == "200 OK" and answer["isBase64Encoded"] is False
    assert answer["multiValueHeaders"]["x-model-version"] == ["1"] and "headers" not in answer
    assert _body(answer) == {"response": _expected(store), "success": True}
    event["multiValueHeaders"]["x-api-key"] = ["wrong"]
    refused = aws_lambda.handler(event, None)
    assert refused["statusCode"] == 401 and refused["statusDescription"] == "401 Unauthorized"
    # Without multi-value headers, arguments arrive as the client encoded them.
    single = _alb_event(path="/echo", queryStringParameters={"msg": "hello%20load%20balancer"},
                        headers={"x-api-key": "k1"})  # fmt: skip
    echoed = aws_lambda.handler(single, None)
    assert _body(echoed) == {"response": "hello load balancer", "success": True}
    assert echoed["headers"]["content-type"] == "application/json"


def test_a_json_body_sent_with_get_and_the_protocol_routes(
    store: ModelStore, configure: Any
) -> None:
    configure(SCALEPIPE_MODEL=f"{store.url}/games")
    event = {"httpMethod": "GET", "path": "/prod/echo", "headers": {}, "requestContext": {},
             "body": json.dumps({"msg": "in the body"})}  # fmt: skip
    assert _body(aws_lambda.handler(event, None)) == {"response": "in the body", "success": True}
    tensors = {"inputs": [{"name": name, "shape": [1], "datatype": "INT64", "data": [int(value)]}
                          for name, value in BOOK_EVENT.items()]}  # fmt: skip
    infer = {"httpMethod": "POST", "path": "/prod/v2/models/games/infer", "headers": {},
             "requestContext": {}, "body": json.dumps(tensors)}  # fmt: skip
    outputs = _body(aws_lambda.handler(infer, None))["outputs"]
    assert outputs[0]["data"] == [float(_expected(store))]


@pytest.fixture(params=["local", "s3"])
def bucket(request: pytest.FixtureRequest, store: ModelStore) -> ModelStore:
    """The champion's store: a local folder, or a bucket on the local S3 server."""
    if request.param == "local":
        return store
    remote = ModelStore(request.getfixturevalue("s3_store"))
    remote.publish(models.prepared("logistic"), "games", alias="champion")
    return remote


def test_refresh_strategies_pinned_timed_and_triggered(
    bucket: ModelStore, configure: Any, caplog: pytest.LogCaptureFixture
) -> None:
    store = bucket
    timed = FunctionRuntime(
        {"SCALEPIPE_MODEL": f"{store.url}/games", "SCALEPIPE_REFRESH_SECONDS": "0.2"}
    )
    pinned = FunctionRuntime(
        {"SCALEPIPE_MODEL": f"{store.url}/games:1", "SCALEPIPE_REFRESH_SECONDS": "0.2"}
    )
    triggered = configure(SCALEPIPE_MODEL=f"{store.url}/games")
    for runtime in (timed, pinned, triggered):
        runtime.app()
    store.publish(models.prepared("gbm"), "games", alias="champion")
    time.sleep(0.3)

    def call() -> Request:
        return Request("POST", "/", body=json.dumps(BOOK_EVENT).encode(), trusted=True)

    assert dict(timed.respond(call())[2])[b"x-model-version"] == b"2"
    assert dict(pinned.respond(call())[2])[b"x-model-version"] == b"1"
    assert aws_lambda.handler(BOOK_EVENT, None)["headers"]["x-model-version"] == "1"
    with caplog.at_level(logging.INFO, logger="scalepipe.functions"):
        reloaded = _body(aws_lambda.handler({"action": "reload"}, None))
        assert reloaded["models"] == {"games": 2}
        assert aws_lambda.handler(BOOK_EVENT, None)["headers"]["x-model-version"] == "2"
    logged = [json.loads(r.getMessage()) for r in caplog.records if r.name == "scalepipe.functions"]
    # The same PredictionRecord as the server's prediction log.
    record = logged[-1]
    assert (record["model"], record["version"], record["extra_fields"]) == ("games", 2, 0)
    assert record["inputs"] == {name: float(value) for name, value in BOOK_EVENT.items()}
    expected = Predictor.load("games:2", store=store).predict_one(BOOK_EVENT)
    assert record["output"] == pytest.approx(expected, rel=1e-12)
    assert record["latency_ms"] > 0 and record["id"].endswith(":0")


@pytest.mark.parametrize("backend", ["s3", "gcs"])
def test_the_model_loads_from_a_bucket(
    backend: str, configure: Any, request: pytest.FixtureRequest
) -> None:
    url = request.getfixturevalue(f"{backend}_store")
    ModelStore(url).publish(models.prepared("logistic"), "games", alias="champion")
    configure(SCALEPIPE_MODEL=f"{url}/games@champion")
    answer = aws_lambda.handler(BOOK_EVENT, None)
    assert answer["statusCode"] == 200 and _body(answer)["success"] is True


def test_a_missing_model_setting_is_a_clear_error(configure: Any) -> None:
    configure()
    with pytest.raises(RuntimeError, match="set SCALEPIPE_MODEL"):
        aws_lambda.handler(BOOK_EVENT, None)


MALFORMED_EVENTS: list[tuple[str, Any]] = [
    ("null requestContext", {"requestContext": None, "httpMethod": "POST", "body": "{}"}),
    ("requestContext a string", {"requestContext": "x", "body": "{}"}),
    ("http a list", {"requestContext": {"http": []}, "rawPath": "/"}),
    ("bad base64", {"httpMethod": "POST", "isBase64Encoded": True, "body": "!!not base64"}),
    ("headers a list", {"httpMethod": "GET", "headers": [["x-api-key", "k"]]}),
    ("headers a string", {"httpMethod": "GET", "headers": "x-api-key: k"}),
    ("query a string", {"httpMethod": "GET", "queryStringParameters": "G1=1"}),
    ("query values lists", {"httpMethod": "GET", "queryStringParameters": {"G1": ["1"]}}),
    ("body an object", {"httpMethod": "POST", "body": {"G1": 1}}),
    ("1e400", {"httpMethod": "POST", "body": '{"G1": 1e400}'}),
    ("Infinity", {"httpMethod": "POST", "body": '{"G1": Infinity}'}),
    ("5,000 digits", {"httpMethod": "POST", "body": '{"G1": ' + "7" * 5000 + "}"}),
    ("400 digits", {"httpMethod": "POST", "body": '{"G1": ' + "7" * 400 + "}"}),
    ("deep nesting", {"httpMethod": "POST", "body": '{"G1": ' + "[" * 5000 + "]" * 5000 + "}"}),
    ("lone surrogate", {"httpMethod": "POST", "body": '{"G1": "\\ud800"}'}),
    ("method a number", {"httpMethod": 7, "body": "{}"}),
    ("direct, extreme", {f"G{i}": 1e308 * (-1) ** i for i in range(1, 11)}),
    ("direct, Arabic digit", BOOK_EVENT | {"G1": "٣"}),
]


def _statuses_without_orjson(model: str) -> dict[str, int]:
    """The same events through a handler whose process cannot import orjson (as in the
    standard-library-only Lambda zip)."""
    script = """
import json, sys
sys.modules["orjson"] = None
from scalepipe.functions import aws_lambda
events = json.load(sys.stdin)
print(json.dumps({name: aws_lambda.handler(event)["statusCode"] for name, event in events}))
"""
    result = subprocess.run(
        [sys.executable, "-c", script],
        input=json.dumps(MALFORMED_EVENTS),
        capture_output=True,
        text=True,
        env=os.environ | {"SCALEPIPE_MODEL": model},
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    statuses: dict[str, int] = json.loads(result.stdout)
    return statuses


def test_every_malformed_event_gets_a_4xx_with_and_without_orjson(
    store: ModelStore, configure: Any
) -> None:
    configure(SCALEPIPE_MODEL=f"{store.url}/games")
    statuses = {}
    for name, event in MALFORMED_EVENTS:
        answer = aws_lambda.handler(event, None)
        statuses[name] = answer["statusCode"]
        assert 400 <= answer["statusCode"] < 500, (name, answer)
        assert _body(answer)["success"] is False and _body(answer)["error"]
    assert _statuses_without_orjson(f"{store.url}/games") == statuses


@pytest.mark.parametrize(("setting", "lines"), [("log", 1), ("off", 0)])
def test_the_prediction_records_can_be_turned_off(
    store: ModelStore, configure: Any, caplog: pytest.LogCaptureFixture, setting: str, lines: int
) -> None:
    configure(SCALEPIPE_MODEL=f"{store.url}/games", SCALEPIPE_LOG_PREDICTIONS=setting)
    with caplog.at_level(logging.INFO, logger="scalepipe.functions"):
        assert aws_lambda.handler(BOOK_EVENT, None)["statusCode"] == 200
    said = [json.loads(r.getMessage()) for r in caplog.records if r.name == "scalepipe.functions"]
    assert len([line for line in said if "inputs" in line]) == lines


def test_a_wrong_log_setting_is_named(store: ModelStore, configure: Any) -> None:
    runtime = configure(SCALEPIPE_MODEL=f"{store.url}/games", SCALEPIPE_LOG_PREDICTIONS="s3")
    with pytest.raises(RuntimeError, match="SCALEPIPE_LOG_PREDICTIONS takes log or off"):
        runtime.app()
