"""Google Cloud Pub/Sub through its client library (the emulator when
PUBSUB_EMULATOR_HOST is set, as the library itself arranges).

A reader pulls from a subscription: `pubsub://PROJECT/subscriptions/S` names one that
exists; `pubsub://PROJECT/topics/T` with a group reads the subscription `T.GROUP`,
created on first use with an acknowledgement deadline of `claim_idle` seconds (30): a
message not acknowledged by then is delivered again. As Pub/Sub does, a subscription
receives only messages published after it was created. A writer publishes each record
with its id in the attribute `id`; Pub/Sub has no way to drop a repeat, so a message
delivered twice to the job can give two results (readers keep the last one per id).
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any

from scalepipe.errors import StreamError
from scalepipe.stream.messages import Message
from scalepipe.stream.urls import Address

CLAIM_IDLE_SECONDS = 30
_ACK_CHUNK = 1_000
_TIMEOUT = 30.0


class PubSubTopic:
    reads_ahead = True

    def __init__(self, address: Address, *, group: str | None = None) -> None:
        from google.api_core import exceptions
        from google.cloud import pubsub_v1  # type: ignore[attr-defined]

        self.address = address
        self.project = address.server
        self.group = group
        self.publisher: Any = None
        self.subscriber: Any = None
        self.subscription: str | None = None
        try:
            if group is not None or address.subscription:
                self.subscriber = pubsub_v1.SubscriberClient()
                self.subscription = self._subscription(exceptions)
            else:
                self.publisher = pubsub_v1.PublisherClient()
                self.topic = self.publisher.topic_path(self.project, address.name)
                with contextlib.suppress(exceptions.AlreadyExists):
                    self.publisher.create_topic(name=self.topic, timeout=_TIMEOUT)
        except exceptions.GoogleAPICallError as error:
            raise StreamError(f"cannot use Pub/Sub for {address.shown()}: {error}") from error

    def _subscription(self, exceptions: Any) -> str:
        if self.address.subscription:
            return str(self.subscriber.subscription_path(self.project, self.address.name))
        path = self.subscriber.subscription_path(self.project, f"{self.address.name}.{self.group}")
        topic = f"projects/{self.project}/topics/{self.address.name}"
        try:
            self.subscriber.create_subscription(
                request={"name": path, "topic": topic, "ack_deadline_seconds": CLAIM_IDLE_SECONDS},
                timeout=_TIMEOUT,
            )
        except exceptions.AlreadyExists:
            pass
        except exceptions.NotFound as error:
            raise StreamError(f"Pub/Sub topic {topic} does not exist") from error
        return str(path)

    def describe(self) -> dict[str, Any]:
        name = self.subscription or f"projects/{self.project}/topics/{self.address.name}"
        return {"kind": "pubsub", "url": self.address.url, "name": name, "group": self.group}

    def read(self, count: int, timeout: float) -> list[Message]:
        from google.api_core import exceptions

        if self.subscriber is None:
            raise StreamError(f"reading {self.address.shown()} needs a subscription or a group")
        try:
            answer = self.subscriber.pull(
                subscription=self.subscription, max_messages=count, timeout=max(timeout, 1.0)
            )
        except exceptions.DeadlineExceeded:
            return []
        return [Message(received.ack_id, received.message.data)
                for received in answer.received_messages]  # fmt: skip

    def ack(self, messages: Sequence[Message]) -> None:
        for start in range(0, len(messages), _ACK_CHUNK):
            chunk = messages[start : start + _ACK_CHUNK]
            self.subscriber.acknowledge(
                subscription=self.subscription, ack_ids=[m.handle for m in chunk], timeout=_TIMEOUT
            )

    def publish(self, records: Sequence[tuple[str, bytes]]) -> None:
        futures = [self.publisher.publish(self.topic, body, id=id) for id, body in records]
        for future in futures:
            future.result(timeout=_TIMEOUT)

    def lag(self) -> int | None:
        return None  # Pub/Sub tells the backlog through Cloud Monitoring only

    def close(self) -> None:
        if self.subscriber is not None:
            self.subscriber.close()
        if self.publisher is not None:
            self.publisher.stop()
