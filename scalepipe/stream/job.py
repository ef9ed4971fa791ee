"""`scalepipe.stream.score`: a stream job that scores messages as they come, at least once.

The loop reads a micro-batch (up to `batch` messages, waiting at most `max_wait` seconds
for the first), checks and scores it with `score_batch` (the batch engines' step), writes
the results, then acknowledges the messages: a message is acknowledged only once its
result (or its dead letter) is written, so a crash at any point loses nothing, and the
sink's writes by id keep a redelivered message from giving a second result where the
broker can tell (Redis, NATS).

A message the model cannot score (not JSON, no id, a field that is not a number) is kept
unacknowledged and tried again with the next micro-batches; after `attempts` deliveries
it goes to the dead-letter stream with the error and the field at fault, and is
acknowledged: it never blocks the stream. A failure of the model itself (an exception
that is not about the input) acknowledges nothing: the batch is tried again after a
pause that doubles up to 30 s, since its messages are not at fault.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from scalepipe.batch.scoring import ScorePlan
from scalepipe.config import Settings
from scalepipe.errors import StreamError
from scalepipe.io.predlog import PredictionLogWriter, is_parquet_log
from scalepipe.predict.predictor import LoadedVersion, Predictor
from scalepipe.store.store import ModelStore
from scalepipe.stream.brokers import check_writer, open_broker, open_writer
from scalepipe.stream.messages import Message, dead_letter
from scalepipe.stream.scoring import score_messages, stream_plan, warm_up
from scalepipe.stream.urls import Address, Start, parse
from scalepipe.types import Broker

log = logging.getLogger(__name__)
MAX_PAUSE = 30.0
Engine = Literal["native", "spark", "beam"]
ENGINES: tuple[Engine, ...] = ("native", "spark", "beam")


@dataclass
class StreamStats:
    """What a stream job has done so far: its periodic report and its summary."""

    model: str
    version: int
    source: dict[str, Any]
    sink: dict[str, Any]
    dead_letter: dict[str, Any]
    read: int = 0
    scored: int = 0
    dead_lettered: int = 0
    batches: int = 0
    model_errors: int = 0
    lag: int | None = None
    seconds: float = 0.0
    busy_seconds: float = 0.0  # from the first message read to the last one done
    logged: int | None = None  # prediction records written (--log-predictions)
    started: float = field(default_factory=time.perf_counter, repr=False)
    first: float | None = field(default=None, repr=False)

    @property
    def messages_per_second(self) -> float:
        return self.scored / self.seconds if self.seconds > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        shown = asdict(self)
        shown.pop("started")
        shown.pop("first")
        return {**shown, "messages_per_second": round(self.messages_per_second)}


Report = Callable[[StreamStats], None]


@dataclass(frozen=True)
class Limits:
    """When a job stops on its own (it runs until stopped otherwise)."""

    idle: float | None = None  # seconds without a message, with nothing left to read
    messages: int | None = None  # messages scored or dead-lettered


def score(
    model: str,
    source: str,
    sink: str,
    *,
    group: str = "scalepipe",
    consumer: str | None = None,
    batch: int = 1_000,
    max_wait: float = 0.05,
    dead_letter_url: str | None = None,
    attempts: int = 3,
    start: Start = "earliest",
    refresh: float | None = None,
    store: str | ModelStore | None = None,
    allow_pickle: bool = False,
    settings: Settings | None = None,
    limits: Limits = Limits(),
    stop: threading.Event | None = None,
    on_report: Report | None = None,
    report_every: float = 10.0,
    metrics_port: int | None = None,
    engine: Engine = "native",
    beam_runner: str | None = None,
    beam_options: Sequence[str] = (),
    spark_master: str | None = None,
    checkpoint: str | None = None,
    log_predictions: str | None = None,
) -> StreamStats:
    """Score the messages of `source` with `model` and write the results to `sink`, until
    `stop` is set (SIGTERM in the command line), the job is idle for `limits.idle`
    seconds, or it has handled `limits.messages` messages.

    `engine="spark"` runs the book's Kafka -> Spark Structured Streaming pipeline
    (scalepipe/stream/spark.py; Kafka in, any stream out, offsets in `checkpoint`);
    `engine="beam"` the book's Dataflow pipeline (scalepipe/stream/beam.py): Pub/Sub in;
    a Pub/Sub topic or `datastore://PROJECT/KIND` out."""
    if engine not in ENGINES:
        raise StreamError(f"--engine takes {' or '.join(ENGINES)}, not {engine!r}")
    if batch < 1:
        raise StreamError(f"--batch must be at least 1, not {batch}")
    if attempts < 1:
        raise StreamError(f"--attempts must be at least 1, not {attempts}")
    if max_wait < 0:
        raise StreamError(f"--max-wait must be >= 0 ms, not {max_wait * 1000:g}")
    if start not in ("earliest", "latest"):
        raise StreamError(f"--from takes earliest or latest, not {start!r}")
    if log_predictions and engine == "beam" and not is_parquet_log(log_predictions):
        raise StreamError(
            "on the beam engine --log-predictions writes a folder of Parquet files (a PATH "
            f"ending in .parquet, local or in a bucket: each bundle writes its own), not "
            f"{log_predictions}"
        )
    settings = settings or Settings.load()
    source_address = parse(source)
    dead_address: Address | str = (
        check_writer(dead_letter_url) if dead_letter_url
        else source_address.renamed(f"{source_address.name}-dead-letter")
    )  # fmt: skip
    if engine == "beam":
        return _score_on_beam(
            model, source_address, sink, _broker(dead_address), group=group, batch=batch,
            store=store or settings.store, allow_pickle=allow_pickle,
            stop=stop or threading.Event(), idle=limits.idle, runner=beam_runner,
            options=beam_options, log_predictions=log_predictions,
        )  # fmt: skip
    check_writer(sink)
    if engine == "spark":
        folder = checkpoint or _checkpoint(settings, source_address, group)
        return _score_on_spark(
            model, source_address, sink, dead_address, settings, store=store or settings.store,
            allow_pickle=allow_pickle, stop=stop or threading.Event(), idle=limits.idle,
            master=spark_master, checkpoint=folder, log_predictions=log_predictions,
        )  # fmt: skip
    with ExitStack() as opened:
        predictor = opened.enter_context(
            Predictor.load(model, store=store or settings.store, allow_pickle=allow_pickle)
        )
        reader = open_broker(source_address, group=group, consumer=consumer, start=start)
        opened.callback(reader.close)
        writer = open_writer(sink, settings=settings)
        opened.callback(writer.close)
        dead = open_writer(dead_address, settings=settings)
        opened.callback(dead.close)
        stats = StreamStats(
            model=predictor.name, version=predictor.version, source=reader.describe(),
            sink=writer.describe(), dead_letter=dead.describe(),
        )  # fmt: skip
        log = None
        if log_predictions:
            log = prediction_log = PredictionLogWriter(log_predictions, settings=settings)

            def close_log() -> None:  # after the last batch: every record is written
                stats.logged = prediction_log.close()

            opened.callback(close_log)
        if metrics_port is not None:
            metrics = _Metrics(metrics_port, predictor.name)
            opened.callback(metrics.close)
        else:
            metrics = None
        if refresh:
            predictor.refresh_every(refresh)
        consumer_loop = _Loop(reader, writer, dead, predictor, stats, batch, max_wait, attempts,
                              metrics, log)  # fmt: skip
        consumer_loop.run(stop or threading.Event(), limits, on_report, report_every)
    stats.seconds = time.perf_counter() - stats.started
    return stats


def _score_on_beam(
    model: str,
    source: Address,
    sink: str,
    dead: Address,
    *,
    group: str,
    batch: int,
    store: str | ModelStore,
    allow_pickle: bool,
    stop: threading.Event,
    idle: float | None,
    runner: str | None,
    options: Sequence[str],
    log_predictions: str | None = None,
) -> StreamStats:
    try:
        from scalepipe.batch.workers import model_files
        from scalepipe.stream.beam import DatastoreTarget, run_beam_stream
    except ImportError as error:
        raise StreamError(
            "the beam engine needs the beam and pubsub extras: pip install 'scalepipe[beam,pubsub]'"
        ) from error
    target = DatastoreTarget.parse(sink) if sink.startswith("datastore://") else parse(sink)
    with Predictor.load(model, store=store, allow_pickle=allow_pickle) as predictor:
        files = model_files(predictor)
        stats = StreamStats(
            model=predictor.name, version=predictor.version,
            source={"kind": "pubsub", "url": source.url, "group": group},
            sink={"kind": "datastore", "url": sink} if isinstance(target, DatastoreTarget)
            else {"kind": "pubsub", "url": sink},
            dead_letter={"kind": "pubsub", "url": dead.url, "name": dead.name},
        )  # fmt: skip
    stats.scored, stats.dead_lettered, stats.busy_seconds, logged = run_beam_stream(
        files, source, target, dead, group=group, batch=batch, runner=runner,
        options=options, stop=stop, idle=idle, log=log_predictions,
    )  # fmt: skip
    if log_predictions:
        stats.logged = logged
    stats.read = stats.scored + stats.dead_lettered
    stats.seconds = time.perf_counter() - stats.started
    return stats


def _broker(address: Address | str) -> Address:
    return address if isinstance(address, Address) else parse(address)


def _checkpoint(settings: Settings, source: Address, group: str) -> str:
    from pathlib import Path

    return str(Path(settings.cache_dir) / "stream-checkpoints" / f"{source.name}-{group}")


def _score_on_spark(
    model: str,
    source: Address,
    sink: str,
    dead: Address | str,
    settings: Settings,
    *,
    store: str | ModelStore,
    allow_pickle: bool,
    stop: threading.Event,
    idle: float | None,
    master: str | None,
    checkpoint: str,
    log_predictions: str | None = None,
) -> StreamStats:
    try:
        from scalepipe.batch.workers import model_files
        from scalepipe.stream.spark import SparkLog, run_spark_stream
    except ImportError as error:
        raise StreamError(
            "the spark engine needs the spark and kafka extras: "
            "pip install 'scalepipe[spark,kafka]'"
        ) from error
    with Predictor.load(model, store=store, allow_pickle=allow_pickle) as predictor:
        files = model_files(predictor)
        name, version, names = predictor.name, predictor.version, list(predictor.current.names)
    writer = open_writer(sink, settings=settings)
    dead_writer = open_writer(dead, settings=settings)
    stats = StreamStats(model=name, version=version,
                        source={"kind": "kafka", "url": source.url, "checkpoint": checkpoint},
                        sink=writer.describe(), dead_letter=dead_writer.describe())  # fmt: skip
    log = None
    if log_predictions:
        log = SparkLog(
            PredictionLogWriter(log_predictions, settings=settings), name, version, names
        )
    try:
        stats.scored, stats.dead_lettered, stats.busy_seconds = run_spark_stream(
            files, source, writer, dead_writer, checkpoint=checkpoint, master=master,
            stop=stop, idle=idle, log=log,
        )  # fmt: skip
    finally:
        writer.close()
        dead_writer.close()
        if log is not None:  # after the last micro-batch: every record is written
            stats.logged = log.writer.close()
    stats.read = stats.scored + stats.dead_lettered
    stats.seconds = time.perf_counter() - stats.started
    return stats


class _Loop:
    def __init__(
        self,
        reader: Broker,
        writer: Broker,
        dead: Broker,
        predictor: Predictor,
        stats: StreamStats,
        batch: int,
        max_wait: float,
        attempts: int,
        metrics: _Metrics | None,
        log: PredictionLogWriter | None = None,
    ) -> None:
        self.reader, self.writer, self.dead = reader, writer, dead
        self.log = log
        self.predictor = predictor
        self.stats = stats
        self.batch = batch
        self.max_wait = max_wait
        self.attempts = attempts
        self.metrics = metrics
        self.retry: list[Message] = []
        self._ahead: queue.Queue[list[Message] | BaseException] = queue.Queue(maxsize=1)
        self._stop_reading = threading.Event()
        self._late: list[Message] = []
        self.deliveries: dict[Any, int] = {}
        self._plans: dict[tuple[str, int], ScorePlan] = {}

    def run(self, stop: threading.Event, limits: Limits, on_report: Report | None,
            report_every: float) -> None:  # fmt: skip
        loaded = self.predictor.current
        warm_up(loaded, self._plan(loaded))
        reading = None
        if self.reader.reads_ahead:
            reading = threading.Thread(
                target=self._read_ahead, name="stream read-ahead", daemon=True
            )
            reading.start()
        try:
            self._loop(stop, limits, on_report, report_every)
        finally:
            self._stop_reading.set()
            if reading is not None:
                reading.join(timeout=max(self.max_wait, 1.0) + 30)
        if stop.is_set():  # batches read ahead are in flight too: finish them before leaving
            ahead = self._take(0.0) if reading is not None else []
            messages = [*self.retry, *ahead, *self._late]
            if messages:
                self._handle(messages)
        self._report(on_report)

    def _loop(self, stop: threading.Event, limits: Limits, on_report: Report | None,
              report_every: float) -> None:  # fmt: skip
        pause = 0.0
        last_message = last_report = time.monotonic()
        handled = 0
        while not stop.is_set():
            messages = self._next()
            now = time.monotonic()
            if now - last_report >= report_every:
                self._report(on_report)
                last_report = now
            if not messages:
                if limits.idle is not None and now - last_message >= limits.idle:
                    if self._caught_up():
                        break
                    last_message = now
                continue
            last_message = now
            if self.stats.first is None:
                self.stats.first = now
            try:
                handled += self._handle(messages)
                self.stats.busy_seconds = time.monotonic() - self.stats.first
                pause = 0.0
            except Exception:
                pause = min(max(pause * 2, 0.5), MAX_PAUSE)
                self.stats.model_errors += 1
                if self.metrics is not None:
                    self.metrics.model_errors.inc()
                log.exception("scoring a batch of %d failed; retrying in %.1f s",
                              len(messages), pause)  # fmt: skip
                self.retry = messages
                stop.wait(pause)
            if limits.messages is not None and handled >= limits.messages:
                break

    def _read_ahead(self) -> None:
        """Read the next micro-batch while this one is scored and written: the broker's
        time and ours overlap (one batch ahead at most)."""
        while not self._stop_reading.is_set():
            try:
                item: list[Message] | BaseException = self.reader.read(self.batch, self.max_wait)
            except BaseException as error:  # handed to the loop, which raises it
                item = error
            if not item:
                continue
            while not self._stop_reading.is_set():
                try:
                    self._ahead.put(item, timeout=0.1)
                    break
                except queue.Full:
                    continue
            else:  # read as the job stopped: run() finishes it (or, on an error, drops it)
                if not isinstance(item, BaseException):
                    self._late = item
            if isinstance(item, BaseException):
                return

    def _take(self, wait: float) -> list[Message]:
        if not self.reader.reads_ahead:
            return self.reader.read(self.batch, wait)
        try:
            item = self._ahead.get(timeout=wait) if wait > 0 else self._ahead.get_nowait()
        except queue.Empty:
            return []
        if isinstance(item, BaseException):
            raise item
        return item

    def _caught_up(self) -> bool:
        """Nothing left to read (a Kafka consumer that has just joined reads nothing for
        a few seconds while its lag is the whole topic)."""
        lag = self.reader.lag()
        return (lag is None or lag == 0) and self._ahead.empty()

    def _next(self) -> list[Message]:
        messages, self.retry = self.retry, []
        held = {message.handle for message in messages}
        fresh = self._take(0.0 if messages else self.max_wait)
        messages += [message for message in fresh if message.handle not in held]
        if messages:
            self.stats.read += len(messages)
        return messages

    def _handle(self, messages: list[Message]) -> int:
        """Score, write, then acknowledge; returns the messages done with for good."""
        started = time.perf_counter()
        loaded = self.predictor.current
        outcome = score_messages(messages, loaded, self._plan(loaded))
        if self.log is not None and outcome.inputs is not None and outcome.scored:
            self.log.add(loaded.name, loaded.version, [id for id, _ in outcome.results],
                         outcome.inputs, outcome.scores, time.perf_counter() - started)  # fmt: skip
        done: list[Message] = []
        acked = 0
        if outcome.scored:
            if self._publish_and_ack(outcome.results, outcome.scored):
                acked = len(outcome.scored)
            else:
                self.writer.publish(outcome.results)
                done += outcome.scored
        letters, held = [], []
        for refusal in outcome.refused:
            deliveries = self.deliveries.get(refusal.message.handle, 0) + 1
            if deliveries >= self.attempts:
                letters.append(dead_letter(refusal, deliveries, loaded.name, loaded.version))
                done.append(refusal.message)
                self.deliveries.pop(refusal.message.handle, None)
            else:
                self.deliveries[refusal.message.handle] = deliveries
                held.append(refusal.message)
        if letters:
            self.dead.publish(letters)
        if done:
            self.reader.ack(done)
        self.retry = held
        scored_count = acked + len(done) - len(letters)
        self.stats.batches += 1
        self.stats.scored += scored_count
        self.stats.dead_lettered += len(letters)
        if self.metrics is not None:
            self.metrics.batch(scored_count, len(letters), time.perf_counter() - started)
        return acked + len(done)

    def _publish_and_ack(self, written: list[tuple[str, bytes]], kept: list[Message]) -> bool:
        """Write results and acknowledge their messages in one step, where the reader
        and the writer are one server (Redis to Redis)."""
        both = getattr(self.reader, "publish_and_ack", None)
        return bool(both is not None and both(self.writer, written, kept))

    def _plan(self, loaded: LoadedVersion) -> ScorePlan:
        key = (loaded.name, loaded.version)
        plan = self._plans.get(key)
        if plan is None:
            plan = stream_plan(loaded)
            self._plans = {key: plan}
        return plan

    def _report(self, on_report: Report | None) -> None:
        try:
            self.stats.lag = self.reader.lag()
        except Exception as error:  # a report never stops the job
            log.warning("could not read the lag: %s", error)
        if self.metrics is not None and self.stats.lag is not None:
            self.metrics.lag.set(self.stats.lag)
        self.stats.seconds = time.perf_counter() - self.stats.started
        if on_report is not None:
            on_report(self.stats)


class _Metrics:
    """The job's Prometheus metrics, served on 127.0.0.1:PORT/metrics."""

    def __init__(self, port: int, model: str) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
        from prometheus_client.exposition import start_http_server

        registry = CollectorRegistry()
        messages = Counter("scalepipe_stream_messages", "Messages done with, by outcome",
                           ["model", "outcome"], registry=registry)  # fmt: skip
        self.scored = messages.labels(model, "scored")
        self.dead_lettered = messages.labels(model, "dead_letter")
        self.model_errors = Counter(
            "scalepipe_stream_model_errors",
            "Micro-batches the model failed to score",
            registry=registry,
        )
        self.lag = Gauge("scalepipe_stream_lag", "Messages the group has not read yet",
                         registry=registry)  # fmt: skip
        self.seconds = Histogram(
            "scalepipe_stream_batch_seconds",
            "Time to score, write and acknowledge a batch",
            registry=registry,
            buckets=(0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5),
        )
        self.server, self.thread = start_http_server(port, addr="127.0.0.1", registry=registry)

    def batch(self, scored: int, dead_lettered: int, seconds: float) -> None:
        self.scored.inc(scored)
        self.dead_lettered.inc(dead_lettered)
        self.seconds.observe(seconds)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
