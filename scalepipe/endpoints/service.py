"""The request layer: one Request in, one Response out, for every transport.

The ASGI app (serve/), the Lambda handler and the Cloud Functions handler (functions/)
each turn what they receive into a Request and send back what `Service.respond` returns:
the same routes, checks and answers everywhere. Routes are in endpoints/routes.py; the
protocols' request shapes in predict/requests.py and predict/v2.py.
"""

from __future__ import annotations

import functools
import itertools
import logging
import os
import time
from collections.abc import Callable, Sequence
from typing import Any

from scalepipe.endpoints.auth import ApiKeys
from scalepipe.endpoints.http import (
    HTML_TYPE,
    TEXT_TYPE,
    HttpError,
    Request,
    body_response,
    error_response,
    json_response,
)
from scalepipe.endpoints.openapi import docs_page, openapi_document
from scalepipe.endpoints.routes import ROUTES, Route, match
from scalepipe.errors import InvalidInput, MalformedRequest, ServeError
from scalepipe.predict import Predictor
from scalepipe.predict import v2 as inference
from scalepipe.predict.predictor import LoadedVersion
from scalepipe.predict.requests import Batch, Children, Rows, csv_batch, mlflow_batch
from scalepipe.types import Header, RequestObserver, Response
from scalepipe.version import __version__

log = logging.getLogger("scalepipe.serve")

PredictionHook = Callable[[LoadedVersion, Any, list[float], float], None]
DEFAULT_BODY_LIMIT = 1 << 20
# Deeper than any message a client means to echo, and within what orjson writes (254).
ECHO_DEPTH = 64
_OCTETS = (b"content-type", b"application/octet-stream")


class Service:
    """The served models and everything that answers requests for them."""

    def __init__(
        self,
        predictors: Sequence[Predictor],
        *,
        api_keys: ApiKeys | None = None,
        body_limit: int = DEFAULT_BODY_LIMIT,
        on_prediction: PredictionHook | None = None,
        on_reload: Callable[[], None] | None = None,
        metrics: RequestObserver | None = None,
    ) -> None:
        if not predictors:
            raise ServeError("serve at least one model")
        self.predictors = {predictor.name: predictor for predictor in predictors}
        self.first = predictors[0]
        self.api_keys = api_keys or ApiKeys()
        self.body_limit = body_limit
        self.on_prediction = on_prediction
        self.draining = False  # told to stop: /readyz says so while requests are still served
        self.on_reload = on_reload
        self.metrics = metrics
        self._request_ids = itertools.count(1)
        self._pid = os.getpid()
        self._versions_seen: dict[str, int] = {}
        self._actions: dict[str, Callable[[Request], Response]] = {
            route.action: getattr(self, route.action) for route in ROUTES
        }

    def respond(self, request: Request) -> Response:
        """Checks the API key and the body limit, routes, and turns every error into the
        route's protocol's error answer (a 500 is logged with a request id, and says no more)."""
        started = time.perf_counter()
        found = match(request.path)
        route = found[0] if found is not None else None
        try:
            if route is None:
                if not self._allowed(request, None):
                    raise HttpError(401, "missing or wrong API key: send Authorization: Bearer KEY")
                raise HttpError(404, f"no route {request.path}")
            request.params = found[1] if found is not None else {}
            response = self._answer(route, request)
        except HttpError as error:
            response = error_response(error, route.error_style if route else "scalepipe")
        except Exception:
            request_id = f"{self._pid:x}-{next(self._request_ids):x}"
            log.exception("request %s %s %s failed", request_id, request.method, request.path)
            payload = {"success": False, "error": "internal error", "request_id": request_id}
            response = json_response(500, payload, [(b"x-request-id", request_id.encode())])
        if self.metrics is not None:
            label = route.template if route is not None else "other"
            self.metrics.observe(label, response[0], time.perf_counter() - started)
        return response

    def _answer(self, route: Route, request: Request) -> Response:
        if not self._allowed(request, route):
            raise HttpError(401, "missing or wrong API key: send Authorization: Bearer KEY")
        if len(request.body) > self.body_limit:
            raise HttpError(413, f"the body is over the {self.body_limit:,}-byte limit")
        if request.method not in route.methods:
            allowed = " or ".join(route.methods)
            raise HttpError(405, f"method {request.method} not allowed here; use {allowed}")
        try:
            answer: Response = self._actions[route.action](request)
        except InvalidInput as error:
            raise HttpError(422, str(error), error.field) from None
        except MalformedRequest as error:
            raise HttpError(400, str(error)) from None
        return answer

    def _allowed(self, request: Request, route: Route | None) -> bool:
        if request.trusted or (route is not None and route.open):
            return True
        return self.api_keys.allows(request.headers)

    # The book's routes

    def book_predict(self, request: Request) -> Response:
        arguments = request.arguments()
        started = time.perf_counter()
        model = self.first.current
        score = model.predict_one(arguments)
        self._predicted(model, arguments, [score], started)
        return json_response(200, {"response": repr(score), "success": True}, _model_headers(model))

    def echo(self, request: Request) -> Response:
        arguments = request.arguments()
        if not arguments:
            return json_response(200, {"success": False})
        message = arguments.get("msg")
        if _deeper_than(message, ECHO_DEPTH):
            raise HttpError(400, f"'msg' is nested over {ECHO_DEPTH} levels deep", "msg")
        return json_response(200, {"response": message, "success": True})

    # scalepipe's and KServe V1's routes

    def list_models(self, request: Request) -> Response:
        return json_response(200, {"models": [_describe(p) for p in self.predictors.values()]})

    def describe(self, request: Request) -> Response:
        return json_response(200, _describe(self._predictor(request)))

    def predict(self, request: Request) -> Response:
        predictor = self._predictor(request)
        body = request.json(numeric=True)
        model, scores, keys = self._score(predictor, mlflow_batch(body, predictor.current.child))
        described = {"name": model.name, "version": model.version}
        payload = {"predictions": scores, **keys, "model": described}
        return json_response(200, payload, _model_headers(model))

    # MLflow's scoring protocol

    def invocations(self, request: Request) -> Response:
        return self._invocations(self.first, request)

    def endpoint_invocations(self, request: Request) -> Response:
        return self._invocations(self._predictor(request), request)

    def _invocations(self, predictor: Predictor, request: Request) -> Response:
        media, parameters = request.media_type()
        charset = parameters.pop("charset", "utf-8").lower()
        if charset != "utf-8" or parameters:
            raise HttpError(415, "the scoring server takes UTF-8 bodies with no other parameter")
        batch: Batch
        if media == "application/json":
            batch = mlflow_batch(request.json(numeric=True), predictor.current.child)
        elif media == "text/csv":
            batch = csv_batch(request.body)
        else:
            shown = media or "none"
            raise HttpError(415, f"send Content-Type application/json or text/csv (got {shown})")
        model, scores, keys = self._score(predictor, batch)
        return json_response(200, {"predictions": scores, **keys}, _model_headers(model))

    def version(self, request: Request) -> Response:
        return body_response(200, __version__.encode(), TEXT_TYPE)

    # The Open Inference Protocol (KServe V2)

    def v2_server(self, request: Request) -> Response:
        about = {"name": "scalepipe", "version": __version__, "extensions": ["binary_tensor_data"]}
        return json_response(200, about)

    def v2_live(self, request: Request) -> Response:
        return json_response(200, {"live": True})

    def v2_ready(self, request: Request) -> Response:
        return json_response(200, {"ready": True})

    def v2_metadata(self, request: Request) -> Response:
        model = self._version(request)
        return json_response(
            200, inference.metadata(model.name, model.version, model.card.signature)
        )

    def v2_model_ready(self, request: Request) -> Response:
        model = self._version(request)
        return json_response(200, {"name": model.name, "ready": True})

    def v2_infer(self, request: Request) -> Response:
        model = self._version(request)
        header, binary = inference.split_binary(
            request.body, request.header(inference.HEADER_LENGTH)
        )
        request.body = header
        infer = inference.infer_request(request.json(numeric=True), binary, model.card.signature)
        started = time.perf_counter()
        scores = model.predict_batch(infer.batch)
        self._predicted(model, infer.batch, scores, started)
        answer, raw = inference.infer_response(
            model.name, model.version, model.card.signature, scores, infer
        )
        if not raw:
            return json_response(200, answer, _model_headers(model))
        from scalepipe.endpoints import jsoncodec

        head = jsoncodec.dumps(answer)
        length = (inference.HEADER_LENGTH, str(len(head)).encode())
        return body_response(200, head + raw, _OCTETS, [length, *_model_headers(model)])

    # Operations

    def healthz(self, request: Request) -> Response:
        return json_response(200, {"status": "ok"})

    def readyz(self, request: Request) -> Response:
        versions = {name: p.version for name, p in self.predictors.items()}
        if self.draining:
            return json_response(503, {"status": "draining", "models": versions})
        return json_response(200, {"status": "ready", "models": versions})

    def prometheus(self, request: Request) -> Response:
        if self.metrics is None:
            raise HttpError(404, "metrics are off here")
        self._note_versions()
        text, content_type = self.metrics.exposition()
        return body_response(200, text, (b"content-type", content_type.encode()))

    def openapi(self, request: Request) -> Response:
        return json_response(200, openapi_document(list(self.predictors.values())))

    def docs(self, request: Request) -> Response:
        page = docs_page(list(self.predictors.values())).encode()
        return body_response(200, page, HTML_TYPE)

    def reload(self, request: Request) -> Response:
        if not self.api_keys.enabled and not request.trusted:
            raise HttpError(
                403, "/admin/reload needs API keys: start the server with --api-key-file"
            )
        changed = {name: p.refresh() for name, p in self.predictors.items()}
        if self.on_reload is not None:
            self.on_reload()
        versions = {name: p.version for name, p in self.predictors.items()}
        return json_response(200, {"reloaded": changed, "models": versions})

    # Helpers

    def _predictor(self, request: Request) -> Predictor:
        name = request.params["name"]
        predictor = self.predictors.get(name)
        if predictor is None:
            served = ", ".join(self.predictors)
            raise HttpError(404, f"no model {name!r}; served: {served}")
        return predictor

    def _version(self, request: Request) -> LoadedVersion:
        model = self._predictor(request).current
        wanted = request.params.get("version")
        if wanted is not None and int(wanted) != model.version:
            raise HttpError(
                404,
                f"version {wanted} of {model.name!r} is not served (here: {model.version})",
            )
        return model

    def _score(
        self, predictor: Predictor, batch: Batch
    ) -> tuple[LoadedVersion, list[float], dict[str, list[Any]]]:
        """Score with the version loaded now; the caller reports that version. Child rows
        score one parent each: their keys come back too ({"game_id": [...]}), and the
        computed feature rows are what the prediction log records."""
        started = time.perf_counter()
        model = predictor.current
        if isinstance(batch, Children) and model.features is not None:
            keys, matrix, scores = model.score_children(batch.items)
            self._predicted(model, Rows(matrix.tolist()), scores, started)
            return model, scores, {model.features.spec.key: keys}
        scores = model.predict_batch(batch)
        self._predicted(model, batch, scores, started)
        return model, scores, {}

    def _predicted(
        self, model: LoadedVersion, request: Any, scores: list[float], started: float
    ) -> None:
        if self.on_prediction is not None:
            self.on_prediction(model, request, scores, time.perf_counter() - started)
        if self.metrics is not None:
            self.metrics.predicted(model.name, len(scores))
            if self._versions_seen.get(model.name) != model.version:
                self._note_versions()

    def _note_versions(self) -> None:
        if self.metrics is None:
            return
        for name, predictor in self.predictors.items():
            self._versions_seen[name] = predictor.version
            self.metrics.loaded(name, predictor.version)


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


def _describe(predictor: Predictor) -> dict[str, Any]:
    card = predictor.card
    return {
        "name": predictor.name,
        "version": predictor.version,
        "ready": True,
        "uri": str(predictor.uri),
        "alias": predictor.uri.wanted_alias,
        "signature": card.signature.to_dict(),
        "metrics": card.metrics,
        "created": card.created,
    }


@functools.lru_cache(maxsize=256)
def _version_headers(name: str, version: int) -> tuple[Header, Header]:
    return (b"x-model-name", name.encode()), (b"x-model-version", str(version).encode())


def _model_headers(model: LoadedVersion) -> tuple[Header, Header]:
    return _version_headers(model.name, model.version)
