"""The ASGI application that serves Predictors over HTTP.

A plain ASGI callable rather than a framework: the routes are few and fixed, and the
one-row prediction is the hot path, so every microsecond of routing and parsing shows
in requests per second (see docs/serving.md for the measurements behind this choice).
It reads the body within its limit and hands one Request to the request layer
(endpoints/service.py), which the function handlers share; the routes are in
endpoints/routes.py.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from scalepipe.endpoints.http import HttpError, Request, error_response
from scalepipe.endpoints.routes import match
from scalepipe.endpoints.service import Service
from scalepipe.serve.body import read_body
from scalepipe.serve.mounts import Mounts
from scalepipe.types import Header, Receive, Scope, Send

log = logging.getLogger("scalepipe.serve")


class ServingApp:
    """A Service over ASGI: `ServingApp(Service(predictors, api_keys=...))`."""

    def __init__(
        self,
        service: Service,
        *,
        on_shutdown: Sequence[Callable[[], None]] = (),
        mounts: Mapping[str, Any] | None = None,
    ) -> None:
        """`mounts`: other ASGI apps by path prefix (the model app at /app), behind the
        same API keys (serve/mounts.py)."""
        self.service = service
        self.on_shutdown = list(on_shutdown)
        self.mounts = Mounts(mounts, service.api_keys, service.body_limit) if mounts else None

    def drain(self) -> None:
        """Told to stop: /readyz answers 503 while requests are still served."""
        self.service.draining = True

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        if self.mounts is not None:
            prefix = self.mounts.find(scope["path"])
            if prefix is not None:
                await self.mounts.forward(prefix, scope, receive, send)
                return
        headers: list[Header] = scope["headers"]
        try:
            body = await read_body(scope["method"], receive, headers, self.service.body_limit)
        except HttpError as error:
            found = match(scope["path"])
            response = error_response(error, found[0].error_style if found else "scalepipe")
        else:
            request = Request(scope["method"], scope["path"], scope["query_string"], headers, body)
            response = self.service.respond(request)
        status, content, extra = response
        await send({"type": "http.response.start", "status": status, "headers": extra})
        await send({"type": "http.response.body", "body": content})

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
