"""The URLs that name a stream on a broker, for `stream score` and `stream produce`.

    redis://HOST:6379/DB?stream=NAME                  a Redis stream (the default broker)
    nats://HOST:4222?stream=S&subject=X               a NATS JetStream stream and subject
    kafka://HOST:9092?topic=T                         a Kafka topic
    pubsub://PROJECT/topics/T                         a Google Pub/Sub topic (to publish)
    pubsub://PROJECT/subscriptions/S                  ... or subscription (to read)

Options every reader takes: `group` (the consumer group; `--group` sets it too). Redis
streams also take `claim_idle` (seconds before another consumer takes over the messages
a dead consumer left pending, 30 by default) and, as a sink, `dedupe` (seconds during
which a repeated result id is dropped, 600 by default) and `maxlen` (trim the stream to
about this many entries). Kafka topics take `partitions` (for a topic scalepipe creates,
1 by default) and `session_timeout` (seconds before the group gives the partitions of a
consumer that stopped answering to another, 10 by default).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import parse_qsl, urlsplit

from scalepipe.config import redact_url
from scalepipe.errors import StreamError

Kind = Literal["redis", "nats", "kafka", "pubsub"]
Start = Literal["earliest", "latest"]
_OPTIONS: dict[str, set[str]] = {
    "redis": {"stream", "group", "claim_idle", "dedupe", "maxlen"},
    "nats": {"stream", "subject", "group", "claim_idle"},
    "kafka": {"topic", "group", "partitions", "session_timeout"},
    "pubsub": set(),
}
FORMS = (
    "redis://HOST:6379/DB?stream=NAME, nats://HOST:4222?stream=S&subject=X, "
    "kafka://HOST:9092?topic=T, pubsub://PROJECT/topics/T or pubsub://PROJECT/subscriptions/S"
)


@dataclass(frozen=True)
class Address:
    """A parsed broker URL: the server, the stream's name and the options."""

    kind: Kind
    url: str
    server: str  # what the client connects to: a redis:// URL, host:port, or the project
    name: str  # the stream, topic or subscription
    options: dict[str, str] = field(default_factory=dict)
    subscription: bool = False  # pubsub: a subscription (not a topic)

    def shown(self) -> str:
        return f"{redact_url(self.url)} ({self.name})"

    def renamed(self, name: str) -> Address:
        """The same broker, another stream: where dead letters go by default."""
        if self.kind == "pubsub":
            return Address(self.kind, self.url, self.server, name, {}, False)
        options = dict(self.options)
        options.pop("group", None)
        if self.kind == "nats":
            options["subject"] = name
        return Address(self.kind, self.url, self.server, name, options)


def parse(url: str) -> Address:
    """The Address a URL names, or a StreamError that shows the forms."""
    parts = urlsplit(url)
    kind = parts.scheme
    if kind not in _OPTIONS:
        raise StreamError(f"unknown broker URL {redact_url(url)!r}: use {FORMS}")
    options = dict(parse_qsl(parts.query, keep_blank_values=True))
    unknown = sorted(set(options) - _OPTIONS[kind])
    if unknown:
        raise StreamError(
            f"unknown option(s) {', '.join(unknown)} in {redact_url(url)}; "
            f"{kind} takes {', '.join(sorted(_OPTIONS[kind])) or 'none'}"
        )
    if kind == "pubsub":
        return _pubsub(url, parts.netloc, parts.path)
    if not parts.hostname:
        raise StreamError(f"{redact_url(url)} names no host: use {FORMS}")
    name_option = {"redis": "stream", "nats": "stream", "kafka": "topic"}[kind]
    name = options.pop(name_option, "")
    if not name:
        raise StreamError(f"{redact_url(url)} names no {name_option}: add ?{name_option}=NAME")
    if kind == "redis":
        server = parts._replace(query="", fragment="").geturl()
    else:
        server = f"{parts.hostname}:{parts.port or {'nats': 4222, 'kafka': 9092}[kind]}"
    if kind == "nats" and not options.get("subject"):
        options["subject"] = name
    _check_numbers(
        url, options, ("claim_idle", "dedupe", "maxlen", "partitions", "session_timeout")
    )
    return Address(kind, url, server, name, options)  # type: ignore[arg-type]


def _pubsub(url: str, project: str, path: str) -> Address:
    what, _, name = path.strip("/").partition("/")
    if not project or what not in ("topics", "subscriptions") or not name or "/" in name:
        raise StreamError(
            f"a Pub/Sub URL is pubsub://PROJECT/topics/T or pubsub://PROJECT/subscriptions/S, "
            f"not {redact_url(url)!r}"
        )
    return Address("pubsub", url, project, name, {}, what == "subscriptions")


def _check_numbers(url: str, options: dict[str, str], names: tuple[str, ...]) -> None:
    for name in names:
        if name in options:
            try:
                if float(options[name]) < 0:
                    raise ValueError
            except ValueError:
                raise StreamError(
                    f"option {name} of {redact_url(url)} must be a number >= 0, "
                    f"not {options[name]!r}"
                ) from None
