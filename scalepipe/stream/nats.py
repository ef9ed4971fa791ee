"""NATS JetStream streams through nats-py.

A reader is a durable pull consumer named after the group, with explicit
acknowledgements: a message not acknowledged within `claim_idle` seconds (30) is
delivered again, to this consumer or another of the group. A writer publishes each
result with the `Nats-Msg-Id` header set to its id, so that JetStream drops a repeat
within the stream's duplicate window (two minutes by default). nats-py is asyncio:
the broker runs its own event loop in a thread and the job calls it synchronously.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Coroutine, Sequence
from typing import Any, TypeVar

from scalepipe.config import redact_url
from scalepipe.errors import StreamError
from scalepipe.stream.messages import Message
from scalepipe.stream.urls import Address, Start

CLAIM_IDLE_SECONDS = 30.0
_TIMEOUT = 30.0
T = TypeVar("T")


class NatsStream:
    reads_ahead = True

    def __init__(
        self,
        address: Address,
        *,
        group: str | None = None,
        start: Start = "earliest",
        idempotent: bool = True,
    ) -> None:
        self.address = address
        self.stream = address.name
        self.subject = address.options["subject"]
        self.group = group
        self.idempotent = idempotent
        self._held: dict[int, Any] = {}  # stream sequence -> the message, to acknowledge
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True,
                                        name=f"nats {self.stream}")  # fmt: skip
        self._thread.start()
        try:
            self._call(self._connect(start))
        except Exception as error:
            self.close()
            raise StreamError(f"cannot use NATS at {redact_url(address.url)}: {error}") from error

    def _call(self, work: Coroutine[Any, Any, T], timeout: float = _TIMEOUT) -> T:
        return asyncio.run_coroutine_threadsafe(work, self._loop).result(timeout)

    async def _connect(self, start: Start) -> None:
        import nats
        from nats.js import api
        from nats.js.errors import NotFoundError

        self.client = await nats.connect(
            f"nats://{self.address.server}", connect_timeout=5, max_reconnect_attempts=3
        )
        self.js = self.client.jetstream(timeout=_TIMEOUT)
        try:
            await self.js.stream_info(self.stream)
        except NotFoundError:
            await self.js.add_stream(name=self.stream, subjects=[self.subject])
        self.subscription: Any = None
        if self.group is not None:
            config = api.ConsumerConfig(
                ack_policy=api.AckPolicy.EXPLICIT,
                deliver_policy=api.DeliverPolicy.ALL
                if start == "earliest"
                else api.DeliverPolicy.NEW,
                ack_wait=float(self.address.options.get("claim_idle", CLAIM_IDLE_SECONDS)),
                max_ack_pending=100_000,
            )
            self.subscription = await self.js.pull_subscribe(
                self.subject, durable=self.group, stream=self.stream, config=config
            )

    def describe(self) -> dict[str, Any]:
        return {"kind": "nats", "url": redact_url(self.address.url), "stream": self.stream,
                "subject": self.subject, "group": self.group}  # fmt: skip

    def read(self, count: int, timeout: float) -> list[Message]:
        if self.subscription is None:
            raise StreamError(f"reading {self.address.shown()} needs a consumer group")
        return self._call(self._fetch(count, max(timeout, 0.001)))

    async def _fetch(self, count: int, timeout: float) -> list[Message]:
        try:
            found = await self.subscription.fetch(count, timeout=timeout)
        except TimeoutError:
            return []
        messages = []
        for message in found:
            sequence = message.metadata.sequence.stream
            self._held[sequence] = message
            messages.append(Message(sequence, message.data))
        return messages

    def ack(self, messages: Sequence[Message]) -> None:
        self._call(self._ack(messages))

    async def _ack(self, messages: Sequence[Message]) -> None:
        for message in messages:
            held = self._held.pop(message.handle, None)
            if held is not None:
                await held.ack()
        await self.client.flush(timeout=int(_TIMEOUT))

    def publish(self, records: Sequence[tuple[str, bytes]]) -> None:
        self._call(self._publish(records))

    async def _publish(self, records: Sequence[tuple[str, bytes]]) -> None:
        for start in range(0, len(records), 1_000):
            await asyncio.gather(*(
                self.js.publish(self.subject, body,
                                headers={"Nats-Msg-Id": id} if self.idempotent else None)
                for id, body in records[start : start + 1_000]
            ))  # fmt: skip

    def lag(self) -> int | None:
        if self.subscription is None or self.group is None:
            return None
        info = self._call(self.js.consumer_info(self.stream, self.group))
        return int(info.num_pending or 0)

    def close(self) -> None:
        if hasattr(self, "client"):
            with contextlib.suppress(Exception):  # closing never hides the error that led here
                self._call(self.client.close(), timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
