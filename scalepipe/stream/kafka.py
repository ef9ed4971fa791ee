"""Kafka topics through confluent-kafka (librdkafka).

A reader is a member of a consumer group: it commits, for each partition, the offset
below which every message is acknowledged (messages are acknowledged out of order when
some wait for another delivery; the committed offset never passes one that waits), so a
restarted group goes on from the first message not yet done, once the group has noticed
that a killed member is gone (`session.timeout.ms`, 10 s). A writer produces with
idempotence on (no repeat from its own retries), keyed by the message id, and waits for
every message to be stored before `publish` returns; a message delivered twice to the
job can give two results on a Kafka sink (readers of results keep the last one per id,
as a compacted topic does).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from scalepipe.errors import StreamError
from scalepipe.stream.messages import Message
from scalepipe.stream.urls import Address, Start

SESSION_MS = 10_000
JOIN_SECONDS = 120
_TIMEOUT = 30.0


class KafkaTopic:
    # librdkafka fetches into a local queue on its own threads; a second reading thread of
    # ours would only share the consumer (a commit waited on a consume() and they deadlocked).
    reads_ahead = False

    def __init__(
        self,
        address: Address,
        *,
        group: str | None = None,
        start: Start = "earliest",
    ) -> None:
        from confluent_kafka import Consumer, Producer

        self.address = address
        self.topic = address.name
        self.group = group
        self.servers = address.server
        self._ensure_topic(int(address.options.get("partitions", 1)))
        # Offsets read and not yet acknowledged, per partition.
        self._open: dict[int, set[int]] = {}
        self._next: dict[int, int] = {}
        self.consumer: Any = None
        self.producer: Any = None
        if group is not None:
            session_ms = int(
                float(address.options.get("session_timeout", SESSION_MS / 1000)) * 1000
            )
            settings = {
                "bootstrap.servers": self.servers,
                "group.id": group,
                "auto.offset.reset": start,
                "enable.auto.commit": False,
                "enable.partition.eof": False,
                "session.timeout.ms": session_ms,
                "heartbeat.interval.ms": max(session_ms // 5, 100),
            }
            self.consumer = Consumer(settings)
            self._assigned = False
            self._joining = 0.0
            self.consumer.subscribe(
                [self.topic], on_assign=self._assigned_to, on_revoke=self._revoked
            )
        else:
            self.producer = Producer(
                {"bootstrap.servers": self.servers, "enable.idempotence": True, "linger.ms": 2}
            )

    def _ensure_topic(self, partitions: int) -> None:
        from confluent_kafka import KafkaException
        from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

        admin = AdminClient({"bootstrap.servers": self.servers, "socket.timeout.ms": 10_000})
        try:
            topics = admin.list_topics(timeout=10).topics
        except KafkaException as error:
            raise StreamError(f"cannot reach Kafka at {self.servers}: {error}") from error
        if self.topic in topics:
            return
        future = admin.create_topics([NewTopic(self.topic, partitions, 1)])[self.topic]
        try:
            future.result(timeout=_TIMEOUT)
        except KafkaException as error:
            if "TOPIC_ALREADY_EXISTS" not in str(error):
                raise StreamError(f"cannot create topic {self.topic}: {error}") from error

    def describe(self) -> dict[str, Any]:
        return {"kind": "kafka", "url": f"kafka://{self.servers}", "topic": self.topic,
                "group": self.group}  # fmt: skip

    def read(self, count: int, timeout: float) -> list[Message]:
        if self.consumer is None:
            raise StreamError(f"reading {self.address.shown()} needs a consumer group")
        records = self.consumer.consume(num_messages=count, timeout=timeout)
        if not self._assigned and not records:  # joining the group takes seconds
            self._joining = self._joining or time.monotonic()
            if time.monotonic() - self._joining > JOIN_SECONDS:
                raise StreamError(
                    f"consumer group {self.group} got no partition of {self.topic} in "
                    f"{JOIN_SECONDS} s"
                )
        messages = []
        for record in records:
            error = record.error()
            if error is not None:
                if error.retriable():
                    continue
                raise StreamError(f"reading {self.address.shown()}: {error}")
            partition, offset = record.partition(), record.offset()
            self._open.setdefault(partition, set()).add(offset)
            self._next[partition] = max(self._next.get(partition, 0), offset + 1)
            messages.append(Message((partition, offset), record.value() or b""))
        return messages

    def ack(self, messages: Sequence[Message]) -> None:
        from confluent_kafka import TopicPartition

        touched = set()
        for message in messages:
            partition, offset = message.handle
            waiting = self._open.get(partition)
            if waiting is not None:
                waiting.discard(offset)
                touched.add(partition)
        offsets = []
        for partition in touched:
            waiting = self._open[partition]
            done_below = min(waiting) if waiting else self._next[partition]
            offsets.append(TopicPartition(self.topic, partition, done_below))
        if offsets:
            self.consumer.commit(offsets=offsets, asynchronous=False)

    def _assigned_to(self, consumer: Any, partitions: list[Any]) -> None:
        self._assigned = True

    def _revoked(self, consumer: Any, partitions: list[Any]) -> None:
        """Partitions handed to another member: what we still hold is theirs to redo."""
        for partition in partitions:
            self._open.pop(partition.partition, None)
            self._next.pop(partition.partition, None)

    def publish(self, records: Sequence[tuple[str, bytes]]) -> None:
        failures: list[str] = []

        def delivered(error: Any, _: Any) -> None:
            if error is not None:
                failures.append(str(error))

        for id, body in records:
            while True:
                try:
                    self.producer.produce(self.topic, value=body, key=id, on_delivery=delivered)
                    break
                except BufferError:  # the local queue is full: let it drain
                    self.producer.poll(0.05)
        left = self.producer.flush(_TIMEOUT)
        if left or failures:
            problem = failures[0] if failures else f"{left} message(s) not stored in {_TIMEOUT} s"
            raise StreamError(f"writing to {self.address.shown()}: {problem}")

    def lag(self) -> int | None:
        """Messages of the assigned partitions beyond the group's position (its committed
        offset before the first fetch, the partition's start for a new group); while the
        consumer joins its group, the whole topic."""
        if self.consumer is None:
            return None
        if not self.consumer.assignment():  # still joining: the whole topic is ahead
            return self._topic_size()
        total = 0
        positions = self.consumer.position(self.consumer.assignment())
        unknown = [p for p in positions if p.offset < 0]
        committed = {p.partition: p.offset for p in self.consumer.committed(unknown, timeout=5)}
        for position in positions:
            low, high = self.consumer.get_watermark_offsets(position, timeout=5, cached=False)
            start = (
                position.offset if position.offset >= 0 else committed.get(position.partition, -1)
            )
            total += max(high - (start if start >= 0 else low), 0)
        return total

    def _topic_size(self) -> int:
        from confluent_kafka import TopicPartition

        partitions = self.consumer.list_topics(self.topic, timeout=5).topics[self.topic].partitions
        total = 0
        for partition in partitions:
            low, high = self.consumer.get_watermark_offsets(
                TopicPartition(self.topic, partition), timeout=5, cached=False
            )
            total += max(high - low, 0)
        return total

    def close(self) -> None:
        if self.consumer is not None:
            self.consumer.close()
        if self.producer is not None:
            self.producer.flush(_TIMEOUT)
            self.producer = None  # librdkafka's handle goes with its last reference
