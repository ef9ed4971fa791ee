"""What both serverless handlers share: the model loaded once per process, the refresh
strategies of book 3.2.6, and the request layer the HTTP server uses (endpoints/).

Configured by environment variables, as functions are:
    SCALEPIPE_MODEL              model URI: s3://bucket/models/games@champion, a bundled path...
    SCALEPIPE_REFRESH_SECONDS    re-resolve the alias when the loaded model is older than this
    SCALEPIPE_API_KEYS           comma-separated keys; then HTTP-shaped calls need one
A pinned URI (NAME:VERSION) never changes; {"action": "reload"} reloads at once.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Mapping
from typing import Any

from scalepipe.endpoints.auth import ApiKeys
from scalepipe.endpoints.http import Request
from scalepipe.endpoints.service import Service
from scalepipe.predict import Predictor
from scalepipe.predict.predictor import LoadedVersion
from scalepipe.predict.records import prediction_records, to_line
from scalepipe.types import Response

log = logging.getLogger("scalepipe.functions")
MODEL_ENV = "SCALEPIPE_MODEL"
REFRESH_ENV = "SCALEPIPE_REFRESH_SECONDS"
KEYS_ENV = "SCALEPIPE_API_KEYS"
LOG_ENV = "SCALEPIPE_LOG_PREDICTIONS"  # "log" (the default): the platform's log; "off"
LOG_CHOICES = ("log", "off")


class FunctionRuntime:
    """The model and the request handling of one function instance (lazily loaded)."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self.environ = environ if environ is not None else os.environ
        self._app: Service | None = None
        self._checked_at = 0.0

    def respond(self, request: Request) -> Response:
        """Handle one call; `request.trusted` callers (direct invocations, authorised by the
        cloud's own access control) skip the API-key check."""
        app = self.app()
        self._refresh_when_due(app)
        if request.path == "/" and _is_reload(request.body):
            request.path = "/admin/reload"
        return app.respond(request)

    def app(self) -> Service:
        if self._app is None:
            uri = self.environ.get(MODEL_ENV)
            if not uri:
                raise RuntimeError(f"set {MODEL_ENV} to the model URI this function serves")
            keys = [key.strip() for key in self.environ.get(KEYS_ENV, "").split(",")]
            logging_to = self.environ.get(LOG_ENV) or "log"
            if logging_to not in LOG_CHOICES:
                raise RuntimeError(f"{LOG_ENV} takes log or off, not {logging_to!r}")
            started = time.perf_counter()
            predictor = Predictor.load(uri)
            log.info(
                json.dumps(
                    {"event": "model loaded", "model": predictor.name, "version": predictor.version,
                     "seconds": round(time.perf_counter() - started, 4)}
                )
            )  # fmt: skip
            hook = _log_prediction if logging_to == "log" else None
            self._app = Service([predictor], api_keys=ApiKeys(keys), on_prediction=hook)
            self._checked_at = time.monotonic()
        return self._app

    def _refresh_when_due(self, app: Service) -> None:
        every = float(self.environ.get(REFRESH_ENV) or 0)
        if every > 0 and time.monotonic() - self._checked_at >= every:
            self._checked_at = time.monotonic()
            for predictor in app.predictors.values():
                predictor.refresh()


def _is_reload(body: bytes) -> bool:
    if not body or b"action" not in body:
        return False
    try:
        parsed = json.loads(body)
    except ValueError:
        return False
    return isinstance(parsed, dict) and parsed.get("action") == "reload"


def _log_prediction(
    model: LoadedVersion, request: Any, scores: list[float], seconds: float
) -> None:
    """One PredictionRecord a line, as the server's prediction log writes them: the book's
    advice for watching drift (CloudWatch and Cloud Logging keep the lines)."""
    for record in prediction_records(model, request, scores, seconds, time.time()):
        log.info(to_line(record).decode().rstrip("\n"))
