"""AWS Lambda handlers: the model behind API Gateway (REST v1 or HTTP API v2) or invoked
directly (the console's test event), answering exactly as `scalepipe serve` does.

    handler  {"G1": "1", ...} -> {"statusCode": 200, "headers": {...},
                                  "body": '{"response": "0.39", "success": true}'}
    echo     {"msg": "hi"}    -> the book's echo service

Events from API Gateway (REST and HTTP APIs) and from an Application Load Balancer
(with or without multi-value headers) are HTTP requests to the same routes as the
server's (endpoints/routes.py). Direct invocations are authorised by IAM, so they need
no API key; HTTP-shaped events do when SCALEPIPE_API_KEYS is set.
"""

from __future__ import annotations

import base64
import json
from http import HTTPStatus
from typing import Any
from urllib.parse import quote_plus, urlencode

from scalepipe.endpoints.http import HttpError, Request, error_response, header_map
from scalepipe.endpoints.routes import function_path
from scalepipe.functions.runtime import FunctionRuntime
from scalepipe.predict.requests import MLFLOW_KEYS
from scalepipe.types import Header, Response

runtime = FunctionRuntime()


def handler(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    return _call(event, default_path="/")


def echo(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    return _call(event, default_path="/echo", force_path="/echo")


def _call(event: Any, default_path: str, force_path: str | None = None) -> dict[str, Any]:
    if not isinstance(event, dict):
        event = {}
    if "requestContext" in event or "httpMethod" in event or "rawPath" in event:
        alb = isinstance(event.get("requestContext"), dict) and "elb" in event["requestContext"]
        multi = isinstance(event.get("multiValueHeaders"), dict)
        try:
            request = _http_request(event, alb)
        except HttpError as error:
            return _answer(error_response(error), alb, multi)
        request.path = force_path or function_path(request.path, default_path)
        return _answer(runtime.respond(request), alb, multi)
    # A direct invocation: the event is the request body (the book's console test event).
    path = force_path or default_path
    if force_path is None and any(key in event for key in MLFLOW_KEYS):
        path = f"/v1/models/{runtime.app().first.name}/predict"
    try:
        body = json.dumps(event).encode()
    except (ValueError, TypeError, RecursionError):
        return _answer(error_response(HttpError(400, "the event cannot be read as a JSON object")))
    return _answer(runtime.respond(Request("POST", path, b"", (), body, trusted=True)))


def _http_request(event: dict[str, Any], alb: bool) -> Request:
    """The HTTP request inside an API Gateway (REST or HTTP API) or load balancer event;
    HttpError(400) for a malformed one."""
    http = _mapping(event, "requestContext").get("http") or {}
    if not isinstance(http, dict):
        raise HttpError(400, "the event's requestContext.http must be an object")
    method = _text(http.get("method") or event.get("httpMethod") or "POST", "method").upper()
    path = _text(event.get("rawPath") or event.get("path") or "/", "path")
    return Request(method, path, _query(event, alb), _headers(event), _body(event))


def _query(event: dict[str, Any], alb: bool) -> bytes:
    if event.get("rawQueryString") is not None:
        return _text(event["rawQueryString"], "rawQueryString").encode()
    pairs: list[tuple[str, str]] = []
    multi = _mapping(event, "multiValueQueryStringParameters")
    if multi:
        for name, values in multi.items():
            if not isinstance(values, list):
                raise HttpError(400, "multiValueQueryStringParameters must map names to lists")
            pairs += [(name, _text(value, f"query argument {name}")) for value in values]
    else:
        for name, value in _mapping(event, "queryStringParameters").items():
            pairs.append((name, _text(value, f"query argument {name}")))
    if alb:  # a load balancer passes the arguments as the client encoded them
        return "&".join(f"{name}={value}" for name, value in pairs).encode()
    return urlencode(pairs, quote_via=quote_plus).encode()


def _headers(event: dict[str, Any]) -> list[Header]:
    multi = _mapping(event, "multiValueHeaders")
    if multi:
        headers = []
        for name, values in multi.items():
            if not isinstance(values, list):
                raise HttpError(400, "multiValueHeaders must map names to lists")
            headers += [
                (str(name).lower().encode(), _text(v, f"header {name}").encode()) for v in values
            ]
        return headers
    return [
        (str(name).lower().encode(), _text(value, f"header {name}").encode())
        for name, value in _mapping(event, "headers").items()
    ]


def _body(event: dict[str, Any]) -> bytes:
    raw = _text(event.get("body") or "", "body")
    if not event.get("isBase64Encoded"):
        return raw.encode()
    try:
        return base64.b64decode(raw, validate=True)
    except ValueError:
        raise HttpError(400, "the event's body is not valid base64") from None


def _mapping(event: dict[str, Any], key: str) -> dict[str, Any]:
    value = event.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise HttpError(400, f"the event's {key} must be an object, got {type(value).__name__}")
    return value


def _text(value: Any, what: str) -> str:
    if not isinstance(value, str):
        raise HttpError(400, f"the event's {what} must be a string, got {type(value).__name__}")
    try:
        value.encode()
    except UnicodeEncodeError:
        raise HttpError(400, f"the event's {what} is not valid text") from None
    return value


def _answer(response: Response, alb: bool = False, multi: bool = False) -> dict[str, Any]:
    """The answer as API Gateway and the load balancer take it: a body that is not text
    (a binary tensor) goes base64; the balancer also wants statusDescription, and
    multiValueHeaders when the event had them."""
    status, body, headers = response
    try:
        text, encoded = body.decode(), False
    except UnicodeDecodeError:
        text, encoded = base64.b64encode(body).decode(), True
    answer: dict[str, Any] = {"statusCode": status, "body": text, "isBase64Encoded": encoded}
    mapped = header_map(headers)
    if multi:
        answer["multiValueHeaders"] = {name: [value] for name, value in mapped.items()}
    else:
        answer["headers"] = mapped
    if alb:
        try:
            phrase = HTTPStatus(status).phrase
        except ValueError:
            phrase = ""
        answer["statusDescription"] = f"{status} {phrase}".strip()
    return answer
