"""The broker a URL names, as a reader (in a consumer group) or a writer."""

from __future__ import annotations

from scalepipe.config import Settings
from scalepipe.errors import StreamError
from scalepipe.stream.sinks import is_row_sink, open_row_sink
from scalepipe.stream.urls import FORMS, Address, Start, parse
from scalepipe.types import Broker


def check_writer(url: str) -> str:
    """`url` if it names somewhere a job can write (a broker's stream is parsed: a
    StreamError names what is wrong), before anything is opened."""
    if not is_row_sink(url):
        parse(url)
    return url


def open_writer(url: Address | str, *, settings: Settings | None = None) -> Broker:
    """Where a job writes results or dead letters: a broker's stream, or a sink of
    scalepipe/stream/sinks.py (a Redis hash, Datastore, a warehouse table, Parquet)."""
    if isinstance(url, str) and is_row_sink(url):
        return open_row_sink(url, settings)
    return open_broker(url)


def open_broker(
    address: Address | str,
    *,
    group: str | None = None,
    consumer: str | None = None,
    start: Start = "earliest",
    idempotent: bool = True,
) -> Broker:
    """A Broker for the address: a reader when `group` is given, else a writer, which
    writes each id once where the broker can (`idempotent=False`: replaying a dataset)."""
    if isinstance(address, str):
        address = parse(address)
    group = group or address.options.get("group")
    try:
        if address.kind == "redis":
            from scalepipe.stream.redis import RedisStream

            return RedisStream(
                address, group=group, consumer=consumer, start=start, idempotent=idempotent
            )
        if address.kind == "nats":
            from scalepipe.stream.nats import NatsStream

            return NatsStream(address, group=group, start=start, idempotent=idempotent)
        if address.kind == "pubsub":
            from scalepipe.stream.pubsub import PubSubTopic

            return PubSubTopic(address, group=group)
        if address.kind == "kafka":
            from scalepipe.stream.kafka import KafkaTopic

            return KafkaTopic(address, group=group, start=start)
    except ImportError as error:
        extra = {"redis": "stream", "kafka": "kafka", "nats": "nats", "pubsub": "pubsub"}[
            address.kind
        ]
        raise StreamError(
            f"{address.kind} streams need the {extra} extra: pip install 'scalepipe[{extra}]'"
        ) from error
    raise StreamError(f"unknown broker {address.kind!r}: use {FORMS}")
