"""AWS Lambda handlers: the model behind API Gateway (REST v1 or HTTP API v2) or invoked
directly (the console's test event), answering exactly as `scalepipe serve` does.

    handler  {"G1": "1", ...} -> {"statusCode": 200, "headers": {...},
                                  "body": '{"response": "0.39", "success": true}'}
    echo     {"msg": "hi"}    -> the book's echo service

Direct invocations are authorised by IAM, so they need no API key; calls through API
Gateway do when SCALEPIPE_API_KEYS is set.
"""

from __future__ import annotations

import base64
import json
from typing import Any
from urllib.parse import urlencode

from scalepipe.functions.runtime import FunctionRuntime
from scalepipe.serve.app import Header, HttpError, Response, error_response

runtime = FunctionRuntime()


def handler(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    return _answer(_call(event, default_path="/"))


def echo(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    return _answer(_call(event, default_path="/echo", force_path="/echo"))


def _call(event: Any, default_path: str, force_path: str | None = None) -> Response:
    if not isinstance(event, dict):
        event = {}
    if "requestContext" in event or "httpMethod" in event or "rawPath" in event:
        try:
            method, path, query, headers, body = _gateway_request(event)
        except HttpError as error:
            return error_response(error)
        return runtime.respond(
            method, force_path or _route_path(path, default_path), query, headers, body
        )
    # A direct invocation: the event is the request body (the book's console test event).
    path = force_path or default_path
    if force_path is None and ("instances" in event or "dataframe_split" in event):
        path = f"/v1/models/{runtime.app().first.name}/predict"
    try:
        body = json.dumps(event).encode()
    except (ValueError, TypeError, RecursionError):
        return error_response(HttpError(400, "the event cannot be read as a JSON object"))
    return runtime.respond("POST", path, b"", [], body, trusted=True)


def _gateway_request(event: dict[str, Any]) -> tuple[str, str, bytes, list[Header], bytes]:
    """The HTTP request inside an API Gateway event; HttpError(400) for a malformed one."""
    http = _mapping(event, "requestContext").get("http") or {}
    if not isinstance(http, dict):
        raise HttpError(400, "the event's requestContext.http must be an object")
    method = _text(http.get("method") or event.get("httpMethod") or "POST", "method").upper()
    path = _text(event.get("rawPath") or event.get("path") or "/", "path")
    if event.get("rawQueryString") is not None:
        query = _text(event["rawQueryString"], "rawQueryString").encode()
    else:
        parameters = _mapping(event, "queryStringParameters")
        if not all(isinstance(v, str) for v in parameters.values()):
            raise HttpError(400, "the event's queryStringParameters must map names to strings")
        query = urlencode(parameters).encode()
    headers = [
        (str(k).lower().encode(), _text(v, f"header {k}").encode())
        for k, v in _mapping(event, "headers").items()
    ]
    raw = _text(event.get("body") or "", "body")
    if event.get("isBase64Encoded"):
        try:
            body = base64.b64decode(raw, validate=True)
        except ValueError:
            raise HttpError(400, "the event's body is not valid base64") from None
    else:
        body = raw.encode()
    return method, path, query, headers, body


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


def _route_path(path: str, default_path: str) -> str:
    """API Gateway prefixes paths with the stage or resource; the function's root is '/'."""
    for route in ("/echo", "/v1/models", "/healthz", "/readyz", "/openapi.json"):
        if route in path:
            return path[path.index(route) :]
    return default_path


def _answer(response: Response) -> dict[str, Any]:
    status, body, headers = response
    return {
        "statusCode": status,
        "headers": {
            name.decode(): value.decode() for name, value in headers if name != b"content-length"
        },
        "body": body.decode(),
    }
