"""The route table: the one list of what the model server and the function handlers answer.

It drives dispatch (endpoints/service.py), metric labels (the template, never the raw
path), the OpenAPI document, which paths need no API key, and the functions' path maps
(a platform's stage or function-name prefix is cut off until a route matches).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

from scalepipe.endpoints.http import ErrorStyle

Protocol = Literal["book", "scalepipe", "mlflow", "kserve-v1", "v2", "operations"]
_PARAMETER = re.compile(r"\{(\w+)\}")


@dataclass(frozen=True)
class Route:
    template: str
    methods: tuple[str, ...]
    action: str  # the Service method that answers it
    protocol: Protocol
    summary: str
    open: bool = False  # answered without an API key (health checks)
    pattern: re.Pattern[str] | None = field(default=None, compare=False)

    @property
    def error_style(self) -> ErrorStyle:
        if self.protocol == "mlflow":
            return "mlflow"
        return "v2" if self.protocol == "v2" else "scalepipe"

    @property
    def parameters(self) -> tuple[str, ...]:
        return tuple(_PARAMETER.findall(self.template))


def _route(
    template: str, methods: str, action: str, protocol: Protocol, summary: str, open: bool = False
) -> Route:
    pattern = None
    if "{" in template:
        regex = _PARAMETER.sub(
            lambda m: r"(?P<version>[0-9]+)" if m[1] == "version" else rf"(?P<{m[1]}>[^/:]+)",
            re.escape(template).replace(r"\{", "{").replace(r"\}", "}"),
        )
        pattern = re.compile(regex + r"\Z")
    return Route(template, tuple(methods.split()), action, protocol, summary, open, pattern)


ROUTES: tuple[Route, ...] = (
    _route("/", "GET POST", "book_predict", "book",
           "The book's client: the first model, features from the query or a JSON object"),
    _route("/echo", "GET POST", "echo", "book",
           "The book's echo service: msg from the query or a JSON object (also with GET)"),
    _route("/v1/models", "GET", "list_models", "scalepipe", "The served models"),
    _route("/v1/models/{name}", "GET", "describe", "kserve-v1",
           "A model: version, signature, metrics, and KServe V1's ready"),
    _route("/v1/models/{name}/predict", "POST", "predict", "scalepipe",
           "Predict: instances, inputs, dataframe_split or dataframe_records"),
    _route("/v1/models/{name}:predict", "POST", "predict", "kserve-v1",
           "KServe V1 predict: {\"instances\": [...]}"),
    _route("/invocations", "POST", "invocations", "mlflow",
           "MLflow's scoring protocol (JSON or CSV) for the first model"),
    _route("/endpoints/{name}/invocations", "POST", "endpoint_invocations", "mlflow",
           "MLflow's scoring protocol for a named model (mlflow.deployments' client)"),
    _route("/ping", "GET", "healthz", "mlflow", "MLflow's health check", open=True),
    _route("/health", "GET", "healthz", "mlflow", "MLflow's health check", open=True),
    _route("/version", "GET", "version", "mlflow", "The server's version, as text"),
    _route("/v2", "GET", "v2_server", "v2", "Open Inference Protocol: server metadata"),
    _route("/v2/health/live", "GET", "v2_live", "v2", "Open Inference Protocol: live",
           open=True),
    _route("/v2/health/ready", "GET", "v2_ready", "v2", "Open Inference Protocol: ready",
           open=True),
    _route("/v2/models/{name}", "GET", "v2_metadata", "v2", "Model metadata (tensors)"),
    _route("/v2/models/{name}/versions/{version}", "GET", "v2_metadata", "v2",
           "Model metadata of a version"),
    _route("/v2/models/{name}/ready", "GET", "v2_model_ready", "v2", "Model ready"),
    _route("/v2/models/{name}/versions/{version}/ready", "GET", "v2_model_ready", "v2",
           "Model version ready"),
    _route("/v2/models/{name}/infer", "POST", "v2_infer", "v2", "Inference with tensors"),
    _route("/v2/models/{name}/versions/{version}/infer", "POST", "v2_infer", "v2",
           "Inference with tensors on a version"),
    _route("/healthz", "GET", "healthz", "operations", "The process is up", open=True),
    _route("/readyz", "GET", "readyz", "operations", "The models are loaded", open=True),
    _route("/metrics", "GET", "prometheus", "operations", "Prometheus metrics, all workers"),
    _route("/openapi.json", "GET", "openapi", "operations", "This document"),
    _route("/docs", "GET", "docs", "operations", "A page describing the served models"),
    _route("/admin/reload", "POST", "reload", "operations",
           "Reload every model in every worker (needs API keys configured)"),
)  # fmt: skip

_FIXED = {route.template: route for route in ROUTES if route.pattern is None}
_TEMPLATED = tuple(route for route in ROUTES if route.pattern is not None)
OPEN_PATHS = frozenset(route.template for route in ROUTES if route.open)


def match(path: str) -> tuple[Route, dict[str, str]] | None:
    """The route a path names and its parameters; a trailing slash is forgiven."""
    route = _FIXED.get(path)
    if route is not None:
        return route, {}
    if len(path) > 1 and path.endswith("/"):
        return match(path.rstrip("/"))
    if path.startswith(("/v1/models/", "/v2/models/", "/endpoints/")):
        for route in _TEMPLATED:
            assert route.pattern is not None
            found = route.pattern.match(path)
            if found:
                return route, found.groupdict()
    return None


def function_path(path: str, default: str) -> str:
    """The route inside a function's path: API Gateway prefixes the stage or resource and
    Cloud Functions the function's name, so leading segments go until a route matches;
    the function's own root (no route) is `default`."""
    segments = path.split("/")
    for start in range(1, len(segments)):
        candidate = "/" + "/".join(segments[start:])
        if candidate != "/" and match(candidate) is not None:
            return candidate
    return default
