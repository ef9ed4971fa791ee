"""The ASGI application that serves Predictors over HTTP.

A plain ASGI callable rather than a framework: the routes are few and fixed, and the
one-row prediction is the hot path, so every microsecond of routing and parsing shows
in requests per second (see docs/serving.md for the measurements behind this choice).

Routes: "/" (the book's GET/POST client), "/echo", "/v1/models[/{name}[/predict]]",
"/healthz", "/readyz", "/openapi.json", "/docs" and "POST /admin/reload".
"""

from __future__ import annotations

import itertools
import logging
import os
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_plus

from scalepipe.errors import ServeError
from scalepipe.predict import InvalidInput, Predictor
from scalepipe.predict.predictor import LoadedVersion
from scalepipe.serve import jsoncodec
from scalepipe.serve.auth import OPEN_PATHS, ApiKeys
from scalepipe.serve.metrics import Metrics
from scalepipe.serve.openapi import docs_page, openapi_document

log = logging.getLogger("scalepipe.serve")

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
PredictionHook = Callable[[LoadedVersion, Any, list[float], float], None]
DEFAULT_BODY_LIMIT = 1 << 20
# Deeper than any message a client means to echo, and within what orjson writes (254).
ECHO_DEPTH = 64
Header = tuple[bytes, bytes]
Response = tuple[int, bytes, list[Header]]
_JSON = (b"content-type", b"application/json")
_HTML = (b"content-type", b"text/html; charset=utf-8")


class HttpError(Exception):
    def __init__(self, status: int, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.field = field


class ServingApp:
    def __init__(
        self,
        predictors: Sequence[Predictor],
        *,
        api_keys: ApiKeys | None = None,
        body_limit: int = DEFAULT_BODY_LIMIT,
        on_prediction: PredictionHook | None = None,
        on_reload: Callable[[], None] | None = None,
        metrics: Metrics | None = None,
        on_shutdown: Sequence[Callable[[], None]] = (),
    ) -> None:
        if not predictors:
            raise ServeError("serve at least one model")
        self.predictors = {predictor.name: predictor for predictor in predictors}
        self.first = predictors[0]
        self.api_keys = api_keys or ApiKeys()
        self.body_limit = body_limit
        self.on_prediction = on_prediction
        self.on_reload = on_reload
        self._request_ids = itertools.count(1)
        self._pid = os.getpid()
        self.metrics = metrics
        self.on_shutdown = list(on_shutdown)
        self._versions_seen: dict[str, int] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        method: str = scope["method"]
        headers: list[Header] = scope["headers"]
        try:
            body = b"" if method == "GET" else await self._read_body(receive, headers)
        except HttpError as error:
            response = error_response(error)
        else:
            response = self.respond(method, scope["path"], scope["query_string"], headers, body)
        status, content, extra = response
        await send({"type": "http.response.start", "status": status, "headers": extra})
        await send({"type": "http.response.body", "body": content})

    def respond(
        self,
        method: str,
        path: str,
        query: bytes,
        headers: Iterable[Header],
        body: bytes,
        *,
        authenticated: bool = False,
    ) -> Response:
        """One whole request in, one response out: the same for HTTP and any other transport.

        Checks the API key and the body limit, routes, and turns every error into its
        JSON answer (a 500 is logged with a request id and says nothing more).
        `authenticated` callers were already let in by the platform (a serverless
        function's direct invocation): no API key is asked of them.
        """
        started = time.perf_counter()
        try:
            if not authenticated and path not in OPEN_PATHS and not self.api_keys.allows(headers):
                raise HttpError(401, "missing or wrong API key: send Authorization: Bearer KEY")
            if len(body) > self.body_limit:
                raise HttpError(413, f"the body is over the {self.body_limit:,}-byte limit")
            response = self._route(method, path, query, body, authenticated)
        except HttpError as error:
            response = error_response(error)
        except Exception:
            request_id = f"{self._pid:x}-{next(self._request_ids):x}"
            log.exception("request %s %s %s failed", request_id, method, path)
            payload = {"success": False, "error": "internal error", "request_id": request_id}
            response = _json(500, payload, [(b"x-request-id", request_id.encode())])
        if self.metrics is not None:
            self.metrics.observe(_route_label(path), response[0], time.perf_counter() - started)
        return response

    def _route(
        self, method: str, path: str, query: bytes, body: bytes, authenticated: bool = False
    ) -> Response:
        if path == "/":
            params = _params(method, query, body)
            scores, model = self._predict(self.first, params)
            return _json(200, {"response": repr(scores[0]), "success": True}, _model_headers(model))
        if path == "/echo":
            params = _params(method, query, body)
            if not params:
                return _json(200, {"success": False})
            message = params.get("msg")
            if _deeper_than(message, ECHO_DEPTH):
                raise HttpError(400, f"'msg' is nested over {ECHO_DEPTH} levels deep", "msg")
            return _json(200, {"response": message, "success": True})
        if path.startswith("/v1/models"):
            return self._models_api(method, path, body)
        if path == "/healthz":
            return _json(200, {"status": "ok"})
        if path == "/readyz":
            versions = {name: p.version for name, p in self.predictors.items()}
            return _json(200, {"status": "ready", "models": versions})
        if path == "/metrics":
            if self.metrics is None:
                raise HttpError(404, "metrics are off in this server")
            self._note_versions()
            text, content_type = self.metrics.exposition()
            return (
                200,
                text,
                [
                    (b"content-type", content_type.encode()),
                    (b"content-length", str(len(text)).encode()),
                ],
            )
        if path == "/openapi.json":
            return _json(200, openapi_document(list(self.predictors.values())))
        if path == "/docs":
            page = docs_page(list(self.predictors.values())).encode()
            return 200, page, [_HTML, (b"content-length", str(len(page)).encode())]
        if path == "/admin/reload":
            _allow(method, "POST")
            if not self.api_keys.enabled and not authenticated:
                raise HttpError(
                    403, "/admin/reload needs API keys: start the server with --api-key-file"
                )
            changed = {name: p.refresh() for name, p in self.predictors.items()}
            if self.on_reload is not None:
                self.on_reload()
            versions = {name: p.version for name, p in self.predictors.items()}
            return _json(200, {"reloaded": changed, "models": versions})
        raise HttpError(404, f"no route {path}")

    def _models_api(self, method: str, path: str, body: bytes) -> Response:
        parts = path.rstrip("/").split("/")[3:]
        if not parts:
            _allow(method, "GET")
            return _json(200, {"models": [_describe(p) for p in self.predictors.values()]})
        predictor = self.predictors.get(parts[0])
        if predictor is None:
            raise HttpError(404, f"no model {parts[0]!r}; served: {', '.join(self.predictors)}")
        if len(parts) == 1:
            _allow(method, "GET")
            return _json(200, _describe(predictor))
        if parts[1:] != ["predict"]:
            raise HttpError(404, f"no route {path}")
        _allow(method, "POST")
        predictions, model = self._predict(predictor, _instances(_json_body(body)))
        described = {"name": model.name, "version": model.version}
        return _json(200, {"predictions": predictions, "model": described}, _model_headers(model))

    def _predict(
        self, predictor: Predictor, request: dict[str, Any] | list[dict[str, Any]] | _Split
    ) -> tuple[list[float], LoadedVersion]:
        """Score one record (the book's routes), a list, or a split; 422 names the bad field.

        Returns the scores with the version that made them: the one the caller reports.
        """
        started = time.perf_counter()
        model = predictor.current
        try:
            if isinstance(request, dict):
                scores = [model.predict_one(request)]
            elif isinstance(request, _Split):
                scores = model.predict_rows(request.columns, request.rows)
            else:
                scores = model.predict_records(request)
        except InvalidInput as error:
            raise HttpError(422, str(error), error.field) from None
        if self.on_prediction is not None:
            self.on_prediction(model, request, scores, time.perf_counter() - started)
        if self.metrics is not None:
            self.metrics.predicted(model.name, len(scores))
            if self._versions_seen.get(model.name) != model.version:
                self._note_versions()
        return scores, model

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        """Run the shutdown hooks (the prediction log's last flush) after requests drain."""
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                for hook in self.on_shutdown:
                    try:
                        hook()
                    except Exception:
                        log.exception("a shutdown step failed")
                await send({"type": "lifespan.shutdown.complete"})
                return

    def _note_versions(self) -> None:
        if self.metrics is None:
            return
        for name, predictor in self.predictors.items():
            self._versions_seen[name] = predictor.version
            self.metrics.loaded(name, predictor.version)

    async def _read_body(self, receive: Receive, headers: Iterable[Header]) -> bytes:
        for name, value in headers:
            if name == b"content-length" and value.isdigit() and int(value) > self.body_limit:
                raise HttpError(413, f"the body is over the {self.body_limit:,}-byte limit")
        chunks = []
        size = 0
        while True:
            message = await receive()
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.body_limit:
                raise HttpError(413, f"the body is over the {self.body_limit:,}-byte limit")
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)


_FIXED_ROUTES = frozenset(
    {
        "/",
        "/echo",
        "/healthz",
        "/readyz",
        "/metrics",
        "/openapi.json",
        "/docs",
        "/admin/reload",
        "/v1/models",
    }
)


def _route_label(path: str) -> str:
    """The route a path matched, for metric labels (a bounded set, never the raw path)."""
    if path in _FIXED_ROUTES:
        return path
    if path.startswith("/v1/models/"):
        return (
            "/v1/models/{name}/predict"
            if path.rstrip("/").endswith("/predict")
            else "/v1/models/{name}"
        )
    return "other"


def _params(method: str, query: bytes, body: bytes) -> dict[str, Any]:
    """Query arguments for GET, the JSON object for POST (the book's two clients)."""
    if method == "GET":
        return _query(query)
    _allow(method, "GET", "POST")
    parsed = _json_body(body)
    if not isinstance(parsed, dict):
        raise HttpError(400, "the JSON body must be an object of features")
    return parsed


def _json_body(raw: bytes) -> Any:
    if not raw:
        return {}
    try:
        return jsoncodec.loads(raw)
    except jsoncodec.JSONDecodeError as error:
        raise HttpError(400, f"malformed JSON: {error}") from None


def _deeper_than(value: Any, limit: int) -> bool:
    level = [value]
    for _ in range(limit):
        level = [
            child
            for item in level
            if isinstance(item, dict | list)
            for child in (item.values() if isinstance(item, dict) else item)
        ]
        if not level:
            return False
    return any(isinstance(item, dict | list) and item for item in level)


def error_response(error: HttpError) -> Response:
    payload = {"success": False, "error": str(error)}
    if error.field is not None:
        payload["field"] = error.field
    return _json(error.status, payload)


def _allow(method: str, *allowed: str) -> None:
    if method not in allowed:
        raise HttpError(405, f"method {method} not allowed here; use {' or '.join(allowed)}")


@dataclass(frozen=True)
class _Split:
    """MLflow's dataframe_split: rows of values under named columns."""

    columns: list[str]
    rows: list[Any]


def _instances(body: Any) -> list[dict[str, Any]] | _Split:
    """{"instances": [{...}]} or MLflow's {"dataframe_split": {"columns", "data"}}."""
    if isinstance(body, dict) and "instances" in body:
        instances = body["instances"]
        if not isinstance(instances, list):
            raise HttpError(400, "'instances' must be a list of objects")
        return instances
    if isinstance(body, dict) and "dataframe_split" in body:
        split = body["dataframe_split"]
        if (
            not isinstance(split, dict)
            or not isinstance(split.get("columns"), list)
            or not isinstance(split.get("data"), list)
        ):
            raise HttpError(400, "'dataframe_split' needs 'columns' and 'data' (a list of rows)")
        return _Split([str(c) for c in split["columns"]], split["data"])
    raise HttpError(
        400,
        'send {"instances": [{...}]} or {"dataframe_split": {"columns": [...], "data": [[...]]}}',
    )


def _query(raw: bytes) -> dict[str, str]:
    params: dict[str, str] = {}
    if not raw:
        return params
    text = raw.decode("latin-1")
    for pair in text.split("&"):
        if not pair:
            continue
        name, _, value = pair.partition("=")
        if "%" in pair or "+" in pair:
            name, value = unquote_plus(name), unquote_plus(value)
        params[name] = value
    return params


def _describe(predictor: Predictor) -> dict[str, Any]:
    card = predictor.card
    return {
        "name": predictor.name,
        "version": predictor.version,
        "uri": str(predictor.uri),
        "alias": predictor.uri.wanted_alias,
        "signature": card.signature.to_dict(),
        "metrics": card.metrics,
        "created": card.created,
    }


def _model_headers(model: LoadedVersion) -> list[Header]:
    return [
        (b"x-model-name", model.name.encode()),
        (b"x-model-version", str(model.version).encode()),
    ]


def _json(status: int, payload: Any, headers: Iterable[Header] = ()) -> Response:
    body = jsoncodec.dumps(payload)
    return status, body, [_JSON, (b"content-length", str(len(body)).encode()), *headers]
