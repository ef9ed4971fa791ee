"""`scalepipe stream produce`: replay rows as messages, the book's Kafka producer.

Each row becomes one JSON message with an `id`: the source's `id` column when it has
one, else the row's number. `rate` caps the messages per second (a token bucket over
chunks of up to a hundredth of a second of messages, so that they come evenly).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

from scalepipe.config import Settings
from scalepipe.errors import StreamError
from scalepipe.io.uris import open_source
from scalepipe.stream.brokers import open_broker
from scalepipe.stream.messages import ID
from scalepipe.types import Source

_CHUNK = 1_000


@dataclass(frozen=True)
class Produced:
    messages: int
    seconds: float
    target: dict[str, Any]

    @property
    def messages_per_second(self) -> float:
        return self.messages / self.seconds if self.seconds > 0 else 0.0


def produce(
    source: str | Source,
    to: str,
    *,
    rate: float | None = None,
    limit: int | None = None,
    settings: Settings | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> Produced:
    """Publish every row of `source` (up to `limit`) to the stream `to` as JSON."""
    if rate is not None and rate <= 0:
        raise StreamError(f"--rate must be a positive number of messages per second, not {rate}")
    if limit is not None and limit < 0:
        raise StreamError(f"--limit must be >= 0, not {limit}")
    rows = open_source(source, settings=settings) if isinstance(source, str) else source
    broker = open_broker(to, idempotent=False)
    chunk = _CHUNK if rate is None else max(1, min(_CHUNK, int(rate / 100)))
    sent = 0
    started = time.perf_counter()
    try:
        for batch in rows.read_batches():
            records = batch.to_pylist()
            has_id = ID in batch.schema.names
            for begin in range(0, len(records), chunk):
                if limit is not None and sent >= limit:
                    break
                part = records[begin : begin + chunk]
                if limit is not None:
                    part = part[: limit - sent]
                messages = []
                for number, record in enumerate(part, sent):
                    if not has_id:
                        record[ID] = number
                    messages.append((str(record[ID]), orjson.dumps(record, default=str)))
                broker.publish(messages)
                sent += len(messages)
                if on_progress is not None:
                    on_progress(sent)
                if rate is not None:
                    ahead = sent / rate - (time.perf_counter() - started)
                    if ahead > 0:
                        time.sleep(ahead)
            if limit is not None and sent >= limit:
                break
    finally:
        target = broker.describe()
        broker.close()
    return Produced(sent, time.perf_counter() - started, target)
