"""Google Cloud Functions handlers (functions-framework, a Flask request), answering
exactly as `scalepipe serve` does: JSON body or query arguments, the book's shape.

    gcloud functions deploy predict --entry-point predict --runtime python311 --trigger-http
"""

from __future__ import annotations

from typing import Any

from scalepipe.functions.runtime import FunctionRuntime

runtime = FunctionRuntime()


def predict(request: Any) -> tuple[bytes, int, dict[str, str]]:
    return _call(request, "/")


def echo(request: Any) -> tuple[bytes, int, dict[str, str]]:
    return _call(request, "/echo")


def _call(request: Any, default_path: str) -> tuple[bytes, int, dict[str, str]]:
    path = (
        request.path
        if request.path.startswith(("/v1/models", "/healthz", "/readyz"))
        else default_path
    )
    headers = [(name.lower().encode(), value.encode()) for name, value in request.headers.items()]
    status, body, extra = runtime.respond(
        request.method, path, request.query_string, headers, request.get_data()
    )
    return (
        body,
        status,
        {name.decode(): value.decode() for name, value in extra if name != b"content-length"},
    )
