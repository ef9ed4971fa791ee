"""Bounds on what a client can hold of a worker: connections, time, header bytes.

uvicorn's httptools protocol keeps a connection that never completes a request for
ever, accepts any number of them and buffers a header of any size, so a few thousand
idle sockets exhaust the file descriptors and an unfinished multi-MB header costs
memory. This subclass adds, per worker:

- max_connections: past it a new connection is answered 503 and closed at once;
- request_timeout: a connection must deliver a whole request (headers and body) within
  this many seconds of opening or of its request's first byte, else 408 and closed
  (idle keep-alive connections between requests are closed by uvicorn's keep-alive
  timeout);
- header_limit: request line and headers past this many bytes get 431 and are closed.

Deadlines are checked by one sweep a second over the worker's connections, so a request
pays for one clock read, not for a timer of its own.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from scalepipe.errors import ServeError

SWEEP_SECONDS = 0.5


@dataclass(frozen=True)
class ConnectionLimits:
    max_connections: int = 1024
    request_timeout: float = 10.0
    keep_alive: int = 5
    header_limit: int = 64 << 10

    def __post_init__(self) -> None:
        for name in ("max_connections", "request_timeout", "keep_alive", "header_limit"):
            if getattr(self, name) <= 0:
                raise ServeError(f"{name.replace('_', '-')} must be positive")


def limited_protocol(limits: ConnectionLimits) -> type[HttpToolsProtocol]:
    """uvicorn's httptools protocol with `limits` applied (pass as Config(http=...))."""
    return type("LimitedHttpToolsProtocol", (_Limited,), {"limits": limits})


class _Limited(HttpToolsProtocol):
    limits: ConnectionLimits

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self._waiting_since: float | None = self.loop.time()
        self._header_bytes = 0
        self._in_headers = True
        over = len(self.connections) >= self.limits.max_connections
        super().connection_made(transport)
        if over:
            _reject(transport, 503, "the server is at its connection limit; retry shortly")
            return
        _ensure_sweeper(self.loop, self.server_state, self.limits.request_timeout)

    def data_received(self, data: bytes) -> None:
        if self._in_headers:
            if self._waiting_since is None:
                self._waiting_since = self.loop.time()
            self._header_bytes += len(data)
            if self._header_bytes > self.limits.header_limit and not self._headers_end_in(data):
                _reject(
                    self.transport,
                    431,
                    f"the request line and headers are over the {self.limits.header_limit:,}-byte "
                    "limit",
                )
                return
        HttpToolsProtocol.data_received(self, data)

    def _headers_end_in(self, data: bytes) -> bool:
        """Whether the headers end within the limit in this packet (a body may follow)."""
        end = data.find(b"\r\n\r\n")
        before = self._header_bytes - len(data)
        return end >= 0 and before + end + 4 <= self.limits.header_limit

    # Called by the parser once per request: plain calls, not super(), on the hot path.
    def on_headers_complete(self) -> None:
        self._in_headers = False
        HttpToolsProtocol.on_headers_complete(self)

    def on_message_complete(self) -> None:
        self._waiting_since = None
        self._in_headers = True
        self._header_bytes = 0
        HttpToolsProtocol.on_message_complete(self)


def _reject(transport: Any, status: int, reason: str) -> None:
    if transport.is_closing():
        return
    body = f'{{"success":false,"error":"{reason}"}}'.encode()
    phrase = {408: "Request Timeout", 431: "Request Header Fields Too Large"}.get(
        status, "Service Unavailable"
    )
    head = (
        f"HTTP/1.1 {status} {phrase}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
    ).encode()
    transport.write(head + body)
    transport.close()


def _ensure_sweeper(loop: asyncio.AbstractEventLoop, state: Any, timeout: float) -> None:
    if getattr(state, "_scalepipe_sweeping", False):
        return
    state._scalepipe_sweeping = True

    def sweep() -> None:
        loop.call_later(SWEEP_SECONDS, sweep)
        now = loop.time()
        for protocol in list(state.connections):
            started = getattr(protocol, "_waiting_since", None)
            if started is not None and now - started > timeout:
                protocol._waiting_since = None
                _reject(
                    protocol.transport,
                    408,
                    f"the request was not complete within {timeout:g} seconds",
                )

    loop.call_later(SWEEP_SECONDS, sweep)
