"""The book's chapter 8 with scalepipe: a producer sends games records to a stream, a
stream job scores them with the published model and writes the predictions to another
stream, and a reader looks at them. Redis Streams by default; Kafka with --kafka.

    python examples/ch8_streaming.py [--redis redis://127.0.0.1:6379/0] [--kafka HOST:9092]
        [--messages 10000]
"""

from __future__ import annotations

import argparse
import uuid
from typing import Any

import orjson

from scalepipe.io import load
from scalepipe.stream import Limits, produce, score
from scalepipe.train import train_frame


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0", help="Redis URL")
    parser.add_argument("--kafka", help="a Kafka broker, HOST:PORT (instead of Redis)")
    parser.add_argument("--messages", type=int, default=10_000, help="messages to send")
    options = parser.parse_args()

    trained = train_frame(load("games", rows=20_000, seed=3), "games", "logistic")
    model = f"games:{trained.publish()}"
    tag = uuid.uuid4().hex[:6]
    if options.kafka:
        source = f"kafka://{options.kafka}?topic=games-{tag}"
        sink = f"kafka://{options.kafka}?topic=scores-{tag}"
    else:
        source = f"{options.redis}?stream=games-{tag}"
        sink = f"{options.redis}?stream=scores-{tag}"

    sent = produce(f"dataset:games?rows={options.messages}&seed=11", source)
    print(f"sent {sent.messages:,} messages to {source}")
    stats = score(model, source, sink, limits=Limits(idle=1.0))
    print(f"scored {stats.scored:,} messages with {model} "
          f"({stats.messages_per_second:,.0f} msg/s); lag {stats.lag}")  # fmt: skip
    if not options.kafka:
        import redis

        client: Any = redis.Redis.from_url(options.redis)
        first = client.xrange(f"scores-{tag}", count=1)[0][1][b"data"]
        print("first result:", orjson.loads(first))
        client.delete(f"games-{tag}", f"scores-{tag}")


if __name__ == "__main__":
    main()
