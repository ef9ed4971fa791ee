"""Google Cloud Functions handlers (functions-framework, a Flask request), answering
exactly as `scalepipe serve` does: JSON body or query arguments, the book's shape.

    gcloud functions deploy predict --entry-point predict --runtime python311 --trigger-http
"""

from __future__ import annotations

from typing import Any

from scalepipe.endpoints.http import Request, header_map
from scalepipe.endpoints.routes import function_path
from scalepipe.functions.runtime import FunctionRuntime

runtime = FunctionRuntime()


def predict(request: Any) -> tuple[bytes, int, dict[str, str]]:
    return _call(request, "/")


def echo(request: Any) -> tuple[bytes, int, dict[str, str]]:
    return _call(request, "/echo", force_path="/echo")


def _call(
    request: Any, default_path: str, force_path: str | None = None
) -> tuple[bytes, int, dict[str, str]]:
    headers = [(name.lower().encode(), value.encode()) for name, value in request.headers.items()]
    status, body, extra = runtime.respond(
        Request(
            request.method,
            force_path or function_path(request.path, default_path),
            request.query_string,
            headers,
            request.get_data(),
        )
    )
    return body, status, header_map(extra)
