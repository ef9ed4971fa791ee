"""The Spark engine: the book's Kafka -> Spark Structured Streaming -> Kafka pipeline.

Spark's Kafka connector is a jar that has to be downloaded; scalepipe reads Kafka with
a Spark 4 Python streaming data source over confluent-kafka instead (`scalepipe_kafka`:
a micro-batch is an offset range per partition, read on the executors). Each
micro-batch is scored on the executors with `mapInArrow` (the native engine's decoding
and `score_batch`, the model shipped and loaded once per worker through the store's
checks), and written by `foreachBatch` on the driver to any stream scalepipe writes
(Kafka, Redis, NATS, Pub/Sub), results and dead letters apart. Spark records each
micro-batch's offsets in the checkpoint folder and marks it done only after the write:
a restarted job goes on from there, and a micro-batch interrupted by a crash is read
and written again (at least once; on a Redis or NATS sink, no result twice).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, cast

import pyarrow as pa
import pyarrow.compute as pc
from pyspark.sql.datasource import DataSource, DataSourceStreamReader, InputPartition

from scalepipe.batch.workers import worker_model
from scalepipe.errors import StreamError
from scalepipe.io.predlog import PredictionLogWriter
from scalepipe.stream.messages import Message, dead_letter
from scalepipe.stream.scoring import score_messages, stream_plan
from scalepipe.stream.urls import Address

OUTPUT = "id string, data binary, dead boolean"
COLUMNS = ["id", "data", "dead", "score", "seconds", "inputs"]
MAX_PER_BATCH = 100_000


class _Range(InputPartition):
    def __init__(self, partition: int, start: int, end: int) -> None:
        self.partition, self.start, self.end = partition, start, end


class _KafkaReader(DataSourceStreamReader):
    def __init__(self, options: dict[str, str]) -> None:
        self.servers = options["servers"]
        self.topic = options["topic"]
        self._scanner: Any = None

    def _ends(self, low: bool) -> dict[str, int]:
        from confluent_kafka import Consumer, TopicPartition

        consumer = Consumer({"bootstrap.servers": self.servers, "group.id": "scalepipe-offsets"})
        try:
            partitions = consumer.list_topics(self.topic, timeout=10).topics[self.topic].partitions
            return {
                str(p): consumer.get_watermark_offsets(TopicPartition(self.topic, p), timeout=10)[
                    0 if low else 1
                ]
                for p in partitions
            }
        finally:
            consumer.close()

    def initialOffset(self) -> dict[str, int]:  # noqa: N802 (Spark's name)
        return self._ends(low=True)

    def latestOffset(self, start: Any = None, limit: Any = None) -> dict[str, int]:  # noqa: N802
        """Where the next micro-batch ends: found by reading ahead from `start`, at most
        MAX_PER_BATCH messages per partition, since some Kafka-protocol brokers (Tansu,
        which the tests run) report a high watermark behind what can be read."""
        from confluent_kafka import Consumer, TopicPartition

        begin = dict(start or self.initialOffset())
        if self._scanner is None:
            self._scanner = Consumer({"bootstrap.servers": self.servers,
                                      "group.id": "scalepipe-offsets",
                                      "enable.auto.commit": False})  # fmt: skip
        for partition in self._ends(low=True):
            begin.setdefault(partition, 0)
        end = dict(begin)
        self._scanner.assign([TopicPartition(self.topic, int(p), o) for p, o in begin.items()])
        quiet = 0
        while quiet < 2 and all(end[p] - begin[p] < MAX_PER_BATCH for p in end):
            records = self._scanner.consume(num_messages=10_000, timeout=0.1)
            quiet = 0 if records else quiet + 1
            for record in records:
                if record.error() is None:
                    key = str(record.partition())
                    end[key] = max(end[key], (record.offset() or 0) + 1)
        return end

    def stop(self) -> None:
        if self._scanner is not None:
            self._scanner.close()

    def partitions(self, start: dict[str, int], end: dict[str, int]) -> list[_Range]:
        return [_Range(int(p), start.get(p, 0), last) for p, last in end.items()
                if last > start.get(p, 0)]  # fmt: skip

    def read(self, partition: InputPartition) -> Iterator[tuple[bytes]]:
        from confluent_kafka import Consumer, TopicPartition

        part = cast(_Range, partition)

        consumer = Consumer({"bootstrap.servers": self.servers, "group.id": "scalepipe-spark",
                             "enable.auto.commit": False})  # fmt: skip
        consumer.assign([TopicPartition(self.topic, part.partition, part.start)])
        try:
            position = part.start
            deadline = time.monotonic() + 120
            while position < part.end:
                if time.monotonic() > deadline:
                    raise StreamError(f"Kafka did not deliver offsets {position}-{part.end}")
                for record in consumer.consume(num_messages=10_000, timeout=1.0):
                    offset = record.offset() or 0
                    if record.error() is not None or offset >= part.end:
                        continue
                    position = offset + 1
                    yield (record.value() or b"",)
        finally:
            consumer.close()

    def commit(self, end: dict[str, int]) -> None:
        """Spark's checkpoint keeps the offsets: nothing to tell Kafka."""


class KafkaStreamSource(DataSource):
    @classmethod
    def name(cls) -> str:
        return "scalepipe_kafka"

    def schema(self) -> str:
        return "value binary"

    def streamReader(self, schema: Any) -> _KafkaReader:  # noqa: N802
        return _KafkaReader(dict(self.options))


@dataclass(frozen=True)
class SparkLog:
    """--log-predictions on Spark: the executors send each scored message's features, score
    and scoring time beside its result; the driver logs them after writing the results."""

    writer: PredictionLogWriter
    model: str
    version: int
    names: list[str]

    def schema(self) -> str:
        inputs = ", ".join(f"`{name.replace('`', '``')}`: double" for name in self.names)
        return f"{OUTPUT}, score double, seconds double, inputs struct<{inputs}>"

    def add(self, table: pa.Table) -> None:
        scored = table.filter(pc.invert(table.column("dead")))
        if scored.num_rows == 0:
            return
        inputs = pa.RecordBatch.from_struct_array(scored.column("inputs").combine_chunks())
        seconds = float(pc.sum(scored.column("seconds")).as_py() or 0.0)
        self.writer.add(self.model, self.version, scored.column("id").combine_chunks(), inputs,
                        scored.column("score").to_numpy(), seconds)  # fmt: skip


def _scorer(files: dict[str, bytes], names: list[str] | None) -> Any:
    """mapInArrow's step: results and dead letters; with `names` (logging), each scored
    message's features, score and share of the scoring time too."""

    def score_parts(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        loaded = worker_model(files)
        plan = stream_plan(loaded)
        for batch in batches:
            bodies = batch.column("value").to_pylist()
            if not bodies:
                continue
            messages = [Message(index, body) for index, body in enumerate(bodies)]
            started = time.perf_counter()
            outcome = score_messages(messages, loaded, plan)
            elapsed = time.perf_counter() - started
            letters = [dead_letter(refusal, 1, loaded.name, loaded.version)
                       for refusal in outcome.refused]  # fmt: skip
            records = outcome.results + letters
            ids = pa.array([id for id, _ in records], pa.string())
            data = pa.array([body for _, body in records], pa.binary())
            dead = pa.array([False] * len(outcome.results) + [True] * len(letters))
            columns = [ids, data, dead]
            if names is not None:
                columns += _logged(outcome, names, len(letters), elapsed / max(len(records), 1))
            yield pa.RecordBatch.from_arrays(columns, names=COLUMNS[: len(columns)])

    return score_parts


def _logged(outcome: Any, names: list[str], letters: int, seconds: float) -> list[pa.Array]:
    """The score, seconds and features columns: the scored messages', then nulls for the
    dead letters."""
    kept = len(outcome.results)
    inputs = outcome.inputs
    fields = [
        inputs.column(name).cast(pa.float64()) if kept else pa.array([], pa.float64())
        for name in names
    ]
    struct = pa.StructArray.from_arrays(fields, names=names) if kept else None
    struct_type = pa.struct([(name, pa.float64()) for name in names])
    parts = [struct] if struct is not None else []
    return [
        pa.array([*map(float, outcome.scores[:kept]), *[None] * letters], pa.float64()),
        pa.array([seconds] * kept + [None] * letters, pa.float64()),
        pa.concat_arrays([*parts, pa.nulls(letters, struct_type)]),
    ]


def run_spark_stream(
    files: dict[str, bytes],
    source: Address,
    writer: Any,
    dead: Any,
    *,
    checkpoint: str,
    master: str | None,
    stop: threading.Event,
    idle: float | None,
    log: SparkLog | None = None,
) -> tuple[int, int, float]:
    """Run the query until `stop` is set or no micro-batch brought a message for `idle`
    seconds; return the messages scored and dead-lettered, and the seconds from the first
    micro-batch that brought messages to the end of the last one."""
    from scalepipe.spark import spark_session

    if source.kind != "kafka":
        raise StreamError(f"the spark engine reads Kafka (kafka://...), not {source.shown()}")
    session = spark_session(master)
    session.dataSource.register(KafkaStreamSource)
    counts = [0, 0]
    times: list[float] = []

    def write(frame: Any, batch_id: int) -> None:
        started = time.monotonic()
        table = frame.toArrow()
        dead_rows = table.column("dead").to_pylist()
        ids, bodies = table.column("id").to_pylist(), table.column("data").to_pylist()
        scored = [(i, b) for i, b, d in zip(ids, bodies, dead_rows, strict=True) if not d]
        letters = [(i, b) for i, b, d in zip(ids, bodies, dead_rows, strict=True) if d]
        if scored:
            writer.publish(scored)
        if letters:
            dead.publish(letters)
        if log is not None:  # after the write: a record for every result written
            log.add(table)
        counts[0] += len(scored)
        counts[1] += len(letters)
        if scored or letters:
            times[:] = [times[0] if times else started, time.monotonic()]

    stream = (
        session.readStream.format("scalepipe_kafka")
        .option("servers", source.server)
        .option("topic", source.name)
        .load()
    )
    query = (
        stream.mapInArrow(
            _scorer(files, log.names if log else None), log.schema() if log else OUTPUT
        )
        .writeStream.foreachBatch(write)
        .option("checkpointLocation", checkpoint)
        .trigger(processingTime="500 milliseconds")
        .start()
    )
    try:
        last, seen = time.monotonic(), -1
        while not stop.wait(0.25):
            if query.exception() is not None:
                raise StreamError(f"the Spark query failed: {query.exception()}")
            done = sum(counts)
            if done != seen:
                last, seen = time.monotonic(), done
            elif idle is not None and time.monotonic() - last >= idle and _caught_up(query):
                break
    finally:
        query.stop()
    return counts[0], counts[1], (times[1] - times[0]) if times else 0.0


def _caught_up(query: Any) -> bool:
    progress = query.lastProgress
    if not progress:
        return False
    return all(
        json.dumps(source.get("endOffset")) == json.dumps(source.get("latestOffset"))
        or not source.get("numInputRows")
        for source in progress.get("sources", [])
    )
