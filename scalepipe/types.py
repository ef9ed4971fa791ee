"""Types shared across the package's parts, so that no part imports another for a type."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Protocol

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

Header = tuple[bytes, bytes]
# One HTTP answer: status, body, headers (lower-case names); what every transport sends.
Response = tuple[int, bytes, list[Header]]


class RequestObserver(Protocol):
    """What a server counts (Prometheus in `scalepipe serve`); the function handlers count
    nothing, the platform does."""

    def observe(self, route: str, status: int, seconds: float) -> None: ...

    def predicted(self, model: str, rows: int) -> None: ...

    def loaded(self, model: str, version: int) -> None: ...

    def exposition(self) -> tuple[bytes, str]: ...
