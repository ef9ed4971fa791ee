"""The Beam streaming engine: the book's Dataflow pipeline, which reads natality
messages from Pub/Sub, scores them and writes the predictions to Datastore.

    Pub/Sub subscription -> BatchElements (up to --batch) -> score (decode + score_batch,
    the native engine's steps) -> Pub/Sub topic, or Datastore entities keyed by id
                                \\-> dead letters -> Pub/Sub topic

The model is shipped to the workers and loaded once per worker through the store's
checks (scalepipe/batch/workers.py). Results to Datastore are written idempotently: an
entity per message id, so a redelivered message overwrites its own result. A message
the model cannot score goes to the dead-letter topic at once (Beam does not tell the
number of deliveries; `--attempts` is the native engine's). Here the pipeline runs on
Beam's BundleBasedDirectRunner in streaming mode, which reads the Pub/Sub emulator
(the DirectRunner would hand it to the Prism runner, which downloads a binary); on
Dataflow, pass `--beam-runner DataflowRunner` and its options. The local runner
acknowledges what it pulled as it reads it: at-least-once holds on Dataflow, whose
checkpoints acknowledge messages only after their bundle is committed.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import apache_beam as beam
from apache_beam.io.gcp.pubsub import PubsubMessage, ReadFromPubSub, WriteToPubSub
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions

from scalepipe.batch.workers import worker_model
from scalepipe.errors import StreamError
from scalepipe.io.predlog import PredictionLogWriter
from scalepipe.stream.messages import ID, Message, dead_letter
from scalepipe.stream.scoring import score_messages, stream_plan
from scalepipe.stream.urls import Address

# Messages scored and dead-lettered, per running job: the local runner runs the DoFns in
# this process, so the driver can tell when the job is idle.
_DONE: dict[str, list[Any]] = {}  # scored, dead-lettered, first and last times, logged
_done_lock = threading.Lock()


@dataclass(frozen=True)
class DatastoreTarget:
    """`datastore://PROJECT/KIND[?namespace=NS]`: an entity per result, named by its id."""

    project: str
    kind: str
    namespace: str | None = None

    @classmethod
    def parse(cls, url: str) -> DatastoreTarget:
        from urllib.parse import parse_qsl, urlsplit

        parts = urlsplit(url)
        options = dict(parse_qsl(parts.query))
        kind = parts.path.strip("/")
        if not parts.netloc or not kind or "/" in kind or set(options) - {"namespace"}:
            raise StreamError(
                f"a Datastore sink is datastore://PROJECT/KIND[?namespace=NS], not {url!r}"
            )
        return cls(parts.netloc, kind, options.get("namespace"))


class _Score(beam.DoFn):
    """Scores a batch of messages; with `log` (a Parquet folder), each bundle writes the
    records of the messages it scored into a file of its own there as it finishes."""

    def __init__(self, files: dict[str, bytes], job: str, log: str | None = None) -> None:
        self.files = files
        self.job = job
        self.log = log

    def setup(self) -> None:
        self.loaded = worker_model(self.files)
        self.plan = stream_plan(self.loaded)

    def start_bundle(self) -> None:
        self.writer = PredictionLogWriter(self.log) if self.log else None

    def process(self, bodies: Sequence[bytes]) -> Iterator[Any]:
        loaded = self.loaded
        messages = [Message(index, body) for index, body in enumerate(bodies)]
        started = time.perf_counter()
        outcome = score_messages(messages, loaded, self.plan)
        if self.writer is not None and outcome.results:
            ids = [id for id, _ in outcome.results]
            self.writer.add(loaded.name, loaded.version, ids, outcome.inputs, outcome.scores,
                            time.perf_counter() - started)  # fmt: skip
        yield from outcome.results
        for refusal in outcome.refused:
            letter = dead_letter(refusal, 1, loaded.name, loaded.version)
            yield beam.pvalue.TaggedOutput("dead", letter)
        with _done_lock:
            counts = _DONE.setdefault(self.job, [0, 0, time.monotonic(), 0.0, 0])
            counts[0] += len(outcome.results)
            counts[1] += len(outcome.refused)
            counts[3] = time.monotonic()

    def finish_bundle(self) -> None:
        if self.writer is not None:
            logged = self.writer.close()
            with _done_lock:
                _DONE.setdefault(self.job, [0, 0, time.monotonic(), 0.0, 0])[4] += logged


def _to_pubsub(record: tuple[str, bytes]) -> PubsubMessage:
    return PubsubMessage(data=record[1], attributes={"id": record[0]})


class _ToEntity(beam.DoFn):
    def __init__(self, target: DatastoreTarget) -> None:
        self.target = target

    def process(self, record: tuple[str, bytes]) -> Iterator[Any]:
        import orjson
        from apache_beam.io.gcp.datastore.v1new.types import Entity, Key

        fields = orjson.loads(record[1])
        key = Key([self.target.kind, record[0]], project=self.target.project,
                  namespace=self.target.namespace)  # fmt: skip
        entity = Entity(key)
        entity.set_properties({name: value for name, value in fields.items() if name != ID})
        yield entity


def run_beam_stream(
    files: dict[str, bytes],
    source: Address,
    sink: Address | DatastoreTarget,
    dead: Address,
    *,
    group: str,
    batch: int,
    runner: str | None,
    options: Sequence[str],
    stop: threading.Event,
    idle: float | None,
    log: str | None = None,
) -> tuple[int, int, float, int]:
    """Run the pipeline until `stop` is set or, on the local runner, nothing came for
    `idle` seconds; return the messages the local runner scored and dead-lettered, the
    seconds from the first to the last (none on other runners, whose workers count
    apart) and the prediction records logged into `log` (a Parquet folder)."""
    subscription = _subscription(source, group)
    job = uuid.uuid4().hex
    pipeline_options = PipelineOptions(list(options))
    pipeline_options.view_as(StandardOptions).streaming = True
    pipeline = _pipeline(runner, pipeline_options)
    scored = (
        pipeline
        | "read" >> ReadFromPubSub(subscription=subscription)
        | "batch" >> beam.BatchElements(min_batch_size=1, max_batch_size=batch)
        | "score" >> beam.ParDo(_Score(files, job, log)).with_outputs("dead", main="results")
    )
    if isinstance(sink, DatastoreTarget):
        from apache_beam.io.gcp.datastore.v1new.datastoreio import WriteToDatastore

        # Datastore's ramp-up throttle assumes 500 workers sharing 500 writes/s: one
        # write a second on the local runner; it stays on for real runners.
        _ = (scored.results | "entities" >> beam.ParDo(_ToEntity(sink))
             | "datastore" >> WriteToDatastore(sink.project,
                                               throttle_rampup=runner is not None))  # fmt: skip
    else:
        _ = (scored.results | "messages" >> beam.Map(_to_pubsub)
             | "publish" >> WriteToPubSub(_topic(sink), with_attributes=True))  # fmt: skip
    _ = (scored.dead | "dead messages" >> beam.Map(_to_pubsub)
         | "dead letters" >> WriteToPubSub(_topic(dead), with_attributes=True))  # fmt: skip
    result = pipeline.run()
    try:
        last, seen = time.monotonic(), 0
        while not stop.wait(0.2):
            with _done_lock:
                done = sum(_DONE.get(job, (0, 0))[:2])
            if done != seen:
                last, seen = time.monotonic(), done
            elif idle is not None and time.monotonic() - last >= idle:
                break
    finally:
        result.cancel()
        with _done_lock:
            scored, dead_lettered, first, last, logged = _DONE.pop(job, [0, 0, 0.0, 0.0, 0])
    return scored, dead_lettered, last - first, logged


def _pipeline(runner: str | None, options: PipelineOptions) -> beam.Pipeline:
    if runner is None:
        from apache_beam.runners.direct.direct_runner import BundleBasedDirectRunner

        return beam.Pipeline(runner=BundleBasedDirectRunner(), options=options)
    return beam.Pipeline(runner=runner, options=options)


def _subscription(source: Address, group: str) -> str:
    if source.kind != "pubsub":
        raise StreamError(f"the beam engine reads Pub/Sub (pubsub://...), not {source.shown()}")
    from scalepipe.stream.pubsub import PubSubTopic

    reader = PubSubTopic(source, group=group)  # makes the group's subscription if needed
    reader.close()
    return str(reader.subscription)


def _topic(address: Address) -> str:
    if address.kind != "pubsub" or address.subscription:
        raise StreamError(
            f"the beam engine writes to a Pub/Sub topic or datastore://, not {address.shown()}"
        )
    from scalepipe.stream.pubsub import PubSubTopic

    writer = PubSubTopic(address)  # makes the topic if needed
    writer.close()
    return f"projects/{address.server}/topics/{address.name}"
