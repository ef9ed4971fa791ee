"""Types shared across the package's parts, so that no part imports another for a type."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator, Sequence
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


class Writer(Protocol):
    """One run's rows on their way into a Sink: visible only after commit()."""

    def write(self, batch: Any) -> None: ...  # a pyarrow.RecordBatch

    def commit(self) -> None: ...

    def abort(self) -> None: ...


class Sink(Protocol):
    """Where rows go (scalepipe/io/sinks.py); committing a run id again replaces that run."""

    def writer(self, schema: Any, run_id: str) -> Writer: ...

    def describe(self) -> dict[str, Any]: ...


class Source(Protocol):
    """Rows to read as Arrow record batches (scalepipe/io/sources.py)."""

    def schema(self) -> Any: ...  # a pyarrow.Schema

    def read_batches(self, columns: Sequence[str] | None = None) -> Iterator[Any]: ...

    def describe(self) -> dict[str, Any]: ...


class Broker(Protocol):
    """A stream on a message broker (scalepipe/stream/): what a stream job reads from and
    writes to. `read` returns messages with a `handle` and a `body` (bytes); `ack` tells
    the broker they are done; `publish` writes (id, body) pairs, once per id where the
    broker can tell (Redis, NATS JetStream). `reads_ahead`: whether a job should read the
    next batch on a thread of its own while it scores one (False where the client already
    fetches in the background)."""

    reads_ahead: bool

    def read(self, count: int, timeout: float) -> list[Any]: ...

    def ack(self, messages: Sequence[Any]) -> None: ...

    def publish(self, records: Sequence[tuple[str, bytes]]) -> None: ...

    def lag(self) -> int | None: ...

    def describe(self) -> dict[str, Any]: ...

    def close(self) -> None: ...
