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
from scalepipe.serve.app import Header, Response

runtime = FunctionRuntime()


def handler(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    return _answer(_call(event, default_path="/"))


def echo(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    return _answer(_call(event, default_path="/echo", force_path="/echo"))


def _call(event: Any, default_path: str, force_path: str | None = None) -> Response:
    if not isinstance(event, dict):
        event = {}
    if "requestContext" in event or "httpMethod" in event or "rawPath" in event:
        method, path, query, headers, body = _gateway_request(event)
        return runtime.respond(
            method, force_path or _route_path(path, default_path), query, headers, body
        )
    # A direct invocation: the event is the request body (the book's console test event).
    path = force_path or default_path
    if force_path is None and ("instances" in event or "dataframe_split" in event):
        path = f"/v1/models/{runtime.app().first.name}/predict"
    return runtime.respond("POST", path, b"", [], json.dumps(event).encode(), trusted=True)


def _gateway_request(event: dict[str, Any]) -> tuple[str, str, bytes, list[Header], bytes]:
    http = event.get("requestContext", {}).get("http", {})
    method = str(http.get("method") or event.get("httpMethod") or "POST").upper()
    path = str(event.get("rawPath") or event.get("path") or "/")
    if "rawQueryString" in event:
        query = str(event["rawQueryString"]).encode()
    else:
        query = urlencode(event.get("queryStringParameters") or {}).encode()
    headers = [
        (str(k).lower().encode(), str(v).encode()) for k, v in (event.get("headers") or {}).items()
    ]
    raw = event.get("body") or ""
    body = base64.b64decode(raw) if event.get("isBase64Encoded") else str(raw).encode()
    return method, path, query, headers, body


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
