"""The Beam engine: the same job as an Apache Beam pipeline (the book's chapter 7 on
Cloud Dataflow), run here on the FnApiRunner with two threads.

The pipeline reads the source in parts on the workers (one per file), scores Arrow
record batches through RunInference with a model handler of scalepipe's own (it loads
the version through the store's checks, once per worker; Beam's stock scikit-learn
handler unpickles files), and writes the scored batches as Arrow files into a staging
folder, a file per bundle. Once the pipeline has succeeded, the driver streams those
files into the sink, which shows them at its commit, as with the other engines.

`--beam-runner` and pipeline options (`--beam-option --project=...`) pass through to
Beam for Dataflow or Flink; the staging folder is then `--temp_location`.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import apache_beam as beam
import fsspec
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from apache_beam.metrics.metric import Metrics, MetricsFilter
from apache_beam.ml.inference.base import ModelHandler, RunInference
from apache_beam.options.pipeline_options import PipelineOptions

from scalepipe.batch.scoring import Scored, ScorePlan, log_scored, score_batch
from scalepipe.batch.workers import (
    model_files,
    open_on_worker,
    partitions,
    read_partition,
    worker_model,
)
from scalepipe.errors import DatasetError
from scalepipe.io.plain import plain_schema
from scalepipe.io.predlog import PredictionLogWriter
from scalepipe.io.sinks import writing
from scalepipe.predict.predictor import LoadedVersion, Predictor
from scalepipe.types import Sink, Source

_log = logging.getLogger(__name__)

NAMESPACE = "scalepipe"


class ScalepipeModelHandler(ModelHandler[pa.RecordBatch, Scored, LoadedVersion]):
    """RunInference over Arrow record batches: each element is already a batch of rows,
    scored as the local engine scores them."""

    def __init__(self, files: dict[str, bytes], plan: ScorePlan, log: str | None = None) -> None:
        super().__init__()
        self.files = files
        self.plan = plan
        self.log = log  # where to stage the prediction records, if they are logged

    def load_model(self) -> LoadedVersion:
        return worker_model(self.files)

    def run_inference(
        self,
        batch: Sequence[pa.RecordBatch],
        model: LoadedVersion,
        inference_args: dict[str, Any] | None = None,
    ) -> Iterable[Scored]:
        results = []
        for rows in batch:
            started = time.perf_counter()
            scored = score_batch(rows, model.scorer, self.plan)
            if self.log is not None:
                prefix = f"{self.plan.run_id}:{uuid.uuid4().hex[:8]}"  # Beam's parts are unnumbered
                on_scored = log_scored(_StagedLog(self.log), self.plan, prefix)
                on_scored(rows, 0, scored, time.perf_counter() - started)
            results.append(scored)
        return results

    def get_num_bytes(self, batch: Sequence[pa.RecordBatch]) -> int:
        return sum(rows.nbytes for rows in batch)

    def batch_elements_kwargs(self) -> dict[str, Any]:
        return {"min_batch_size": 1, "max_batch_size": 1}  # elements are batches already


class _StagedLog:
    """A worker's prediction records, as an Arrow file in the staging folder for the
    driver to write into the log once the pipeline has succeeded (any kind of log: the
    driver writes it)."""

    def __init__(self, folder: str) -> None:
        self.folder = folder

    def add(
        self,
        model: str,
        version: int,
        ids: pa.Array | list[str],
        inputs: pa.RecordBatch,
        outputs: Any,
        seconds: float,
    ) -> None:
        rows = inputs.num_rows
        table = pa.table({
            "id": pa.array(ids).cast(pa.string()),
            "inputs": pa.StructArray.from_arrays(inputs.columns, names=inputs.schema.names),
            "output": pa.array(np.asarray(outputs, dtype=np.float64)),
            "at": pa.array(np.full(rows, time.time())),
            "seconds": pa.array(np.full(rows, seconds / max(rows, 1))),
        })  # fmt: skip
        name = f"{self.folder}/{uuid.uuid4().hex}.arrow"
        with fsspec.open(name, "wb") as handle, pa.ipc.new_stream(handle, table.schema) as writer:
            writer.write_table(table)


def _publish_log(filesystem: Any, folder: str, path: str, plan: ScorePlan) -> int:
    """The staged records into the prediction log at `path`; the count written."""
    log = PredictionLogWriter(path)
    try:
        names = sorted(filesystem.glob(f"{folder}/*.arrow")) if filesystem.exists(folder) else []
        for name in names:
            with filesystem.open(name, "rb") as handle:
                for batch in pa.ipc.open_stream(handle):
                    inputs = pa.RecordBatch.from_struct_array(batch.column("inputs"))
                    seconds = float(pc.sum(batch.column("seconds")).as_py() or 0.0)
                    at = batch.column("at")[0].as_py() if batch.num_rows else None
                    log.add(plan.model, plan.version, batch.column("id"), inputs,
                            batch.column("output").to_numpy(), seconds, at)  # fmt: skip
    except BaseException:
        # What was read is still written; the error that stopped the reading is the one
        # raised, not one of close()'s.
        try:
            log.close()
        except Exception:
            _log.exception("prediction log %s: closing after an error failed", path)
        raise
    return log.close()


class _ReadPart(beam.DoFn):
    def __init__(self, text: str, warehouse: str | None, columns: list[str]) -> None:
        self.text = text
        self.warehouse = warehouse
        self.columns = columns

    def process(self, part: str | None) -> Iterator[pa.RecordBatch]:
        source = open_on_worker(self.text, self.warehouse)
        for batch in read_partition(source, part or None):
            yield batch.select(self.columns)


class _WriteParts(beam.DoFn):
    """Scored batches into Arrow files under the staging folder, a file per bundle and
    kind (out, dead); counts on the way."""

    def __init__(self, folder: str, output: pa.Schema, rejected: pa.Schema) -> None:
        self.folder = folder
        self.schemas = {"out": output, "dead": rejected}
        self.rows_in = Metrics.counter(NAMESPACE, "rows_in")
        self.rejected = Metrics.counter(NAMESPACE, "rejected")

    def start_bundle(self) -> None:
        self.files: dict[str, tuple[Any, Any]] = {}

    def process(self, scored: Scored) -> Iterator[Any]:
        # Outputs nothing, but says so with an iterable: Beam 2.78 refuses a process()
        # annotated `-> None` ("Return value not iterable").
        self.rows_in.inc(scored.output.num_rows + scored.rejected_rows)
        self.rejected.inc(scored.rejected_rows)
        self._write("out", scored.output)
        if scored.rejected is not None:
            self._write("dead", scored.rejected)
        return iter(())

    def _write(self, kind: str, batch: pa.RecordBatch) -> None:
        if batch.num_rows == 0:
            return
        if kind not in self.files:
            handle = fsspec.open(f"{self.folder}/{kind}/{uuid.uuid4().hex}.arrow", "wb").open()
            self.files[kind] = (handle, pa.ipc.new_stream(handle, self.schemas[kind]))
        self.files[kind][1].write_batch(batch)

    def finish_bundle(self) -> None:
        for handle, writer in self.files.values():
            writer.close()
            handle.close()
        self.files = {}


def run_beam(
    source_text: str | None,
    source: Source,
    sink: Sink,
    dead_sink: Sink | None,
    predictor: Predictor,
    plan: ScorePlan,
    *,
    runner: str | None = None,
    options: Sequence[str] = (),
    warehouse: str | None = None,
    log_predictions: str | None = None,
) -> tuple[int, int, int, int]:
    """Score on Beam; return rows in, rows out, rejected rows and prediction records
    logged (`log_predictions`: the workers stage them, the driver writes them)."""
    if source_text is None:
        raise DatasetError("the beam engine reads sources named by a string")
    schema = plan.read_schema(plain_schema(source.schema()), source)
    output_schema, rejected_schema = plan.output_schema(schema), plan.rejected_schema(schema)

    pipeline_options = PipelineOptions(list(options))
    temp = pipeline_options.get_all_options().get("temp_location")
    staging = f"{(temp or _local_temp()).rstrip('/')}/scalepipe-beam-{uuid.uuid4().hex[:12]}"
    filesystem, root = fsspec.core.url_to_fs(staging)
    log_staging = f"{staging}/log" if log_predictions else None
    handler = ScalepipeModelHandler(model_files(predictor), plan, log=log_staging)
    try:
        with _pipeline(runner, pipeline_options) as pipeline:
            _ = (
                pipeline
                | "parts" >> beam.Create(partitions(source))
                | "read" >> beam.ParDo(_ReadPart(source_text, warehouse, schema.names))
                | "score" >> RunInference(handler)
                | "stage" >> beam.ParDo(_WriteParts(staging, output_schema, rejected_schema))
            )
        counters = {
            result.key.metric.name: result.committed
            for result in pipeline.result.metrics().query(
                MetricsFilter().with_namespace(NAMESPACE)
            )["counters"]
        }
        rows_out = _publish(filesystem, f"{root}/out", sink, output_schema, plan.run_id)
        if dead_sink is not None:
            _publish(filesystem, f"{root}/dead", dead_sink, rejected_schema, plan.run_id)
        logged = 0
        if log_predictions:
            logged = _publish_log(filesystem, f"{root}/log", log_predictions, plan)
    finally:
        if filesystem.exists(root):
            filesystem.rm(root, recursive=True)
    return int(counters.get("rows_in", 0)), rows_out, int(counters.get("rejected", 0)), logged


def _pipeline(runner: str | None, options: PipelineOptions) -> beam.Pipeline:
    if runner is None:
        # The DirectRunner hands some pipelines to the Prism runner, which downloads a
        # binary: the FnApiRunner runs here offline, on two threads.
        from apache_beam.runners.portability.fn_api_runner.fn_runner import FnApiRunner

        options.view_as(beam.options.pipeline_options.DirectOptions).direct_num_workers = 2
        options.view_as(
            beam.options.pipeline_options.DirectOptions
        ).direct_running_mode = "multi_threading"
        return beam.Pipeline(runner=FnApiRunner(), options=options)
    return beam.Pipeline(runner=runner, options=options)


def _publish(filesystem: Any, folder: str, sink: Sink, schema: pa.Schema, run_id: str) -> int:
    """Stream the staged Arrow files into the sink; commit; return the row count."""
    rows = 0
    with writing(sink, schema, run_id) as writer:
        names = sorted(filesystem.glob(f"{folder}/*.arrow")) if filesystem.exists(folder) else []
        for name in names:
            with filesystem.open(name, "rb") as handle:
                for batch in pa.ipc.open_stream(handle):
                    writer.write(batch)
                    rows += batch.num_rows
    return rows


def _local_temp() -> str:
    import tempfile

    return tempfile.gettempdir()
