"""The Spark engine: the same job on PySpark, `local[2]` by default or a cluster.

Spark reads local Parquet and CSV files itself; every other source (s3://, gs://,
`sql:`, `dataset:`, BigQuery) is read on the executors through a Python data source
over scalepipe's own Sources, one partition per file. The model's files are read and
checked once on the driver, broadcast, and loaded once per Python worker (cached by the
sha256 of its manifest); `mapInArrow` runs `score_batch` on Arrow batches, as the local
engine does. A local Parquet folder sink is written by Spark into the run's staging
folder and committed as the local engine commits; other sinks receive the scored rows
on the driver.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
from pyspark.sql.datasource import DataSource, DataSourceReader, InputPartition
from pyspark.sql.pandas.types import from_arrow_schema, to_arrow_schema

from scalepipe import spark as shared_spark
from scalepipe.batch.scoring import Scored, ScorePlan, constant_text, log_scored, score_batch
from scalepipe.batch.workers import (
    model_files,
    open_on_worker,
    partitions,
    read_partition,
    worker_model,
)
from scalepipe.errors import DatasetError
from scalepipe.io.plain import plain_schema
from scalepipe.io.sinks import ParquetFolderSink, writing
from scalepipe.io.sources import FileSource
from scalepipe.predict.predictor import Predictor
from scalepipe.types import Sink, Source


def spark_session(master: str | None = None) -> Any:
    """The process's SparkSession, with scalepipe's data source registered."""
    session = shared_spark.spark_session(master)
    session.dataSource.register(ScalepipeSource)
    return session


def run_spark(
    source_text: str | None,
    source: Source,
    sink: Sink,
    dead_sink: Sink | None,
    predictor: Predictor,
    plan: ScorePlan,
    *,
    master: str | None = None,
    warehouse: str | None = None,
    log_predictions: str | None = None,
) -> tuple[int, int, int, int]:
    """Score on Spark; return rows in, rows out, rejected rows and prediction records
    logged (`log_predictions`: a Parquet folder each task writes its own files into)."""
    spark = spark_session(master)
    frame = _read(spark, source_text, source, warehouse)
    schema = plan.read_schema(_arrow_schema(frame.schema), source)
    frame = frame.select(*[f"`{name}`" for name in schema.names])

    context = spark.sparkContext
    shipped = context.broadcast(model_files(predictor))
    output_schema = plan.output_schema(schema)
    rejected_schema = plan.rejected_schema(schema)
    counted = {name: context.accumulator(0) for name in ("in", "rejected", "logged")}
    log = _Log(log_predictions, counted["logged"])

    def score_partition(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        loaded = worker_model(shipped.value)
        for batch, scored in log.scored(batches, loaded.scorer, plan):
            counted["in"].add(batch.num_rows)
            counted["rejected"].add(scored.rejected_rows)
            yield scored.output

    try:
        if dead_sink is None:
            scored = frame.mapInArrow(score_partition, from_arrow_schema(output_schema))
            _write(scored, sink, output_schema, plan.run_id)
            # Accumulators count a retried task twice; none is retried in local mode.
            rows_in, rejected = counted["in"].value, counted["rejected"].value
            return rows_in, rows_in - rejected, rejected, counted["logged"].value
        counts = _with_dead_letters(
            frame, shipped, plan, sink, dead_sink, output_schema, rejected_schema, log
        )
        return (*counts, counted["logged"].value)
    finally:
        shipped.unpersist()


class _Log:
    """--log-predictions on the executors: each task writes the records of the rows it
    scored into a Parquet file of its own in the log's folder (ids without keys are
    RUN_ID:PARTITION:ROW) and adds their count to the job's. A task that fails after
    writing and is retried logs its rows again: readers see them twice."""

    def __init__(self, path: str | None, logged: Any) -> None:
        self.path = path
        self.logged = logged

    def scored(
        self, batches: Iterator[pa.RecordBatch], scorer: Any, plan: ScorePlan
    ) -> Iterator[tuple[pa.RecordBatch, Scored]]:
        if self.path is None:
            for batch in batches:
                yield batch, score_batch(batch, scorer, plan)
            return
        from pyspark import TaskContext

        from scalepipe.io.predlog import PredictionLogWriter

        writer = PredictionLogWriter(self.path)
        partition = TaskContext.get().partitionId()  # type: ignore[union-attr]
        on_scored = log_scored(writer, plan, f"{plan.run_id}:{partition}")
        offset = 0
        try:
            for batch in batches:
                started = time.perf_counter()
                scored = score_batch(batch, scorer, plan)
                on_scored(batch, offset, scored, time.perf_counter() - started)
                offset += batch.num_rows
                yield batch, scored
        finally:
            self.logged.add(writer.close())


def _with_dead_letters(
    frame: Any,
    shipped: Any,
    plan: ScorePlan,
    sink: Sink,
    dead_sink: Sink,
    output_schema: pa.Schema,
    rejected_schema: pa.Schema,
    log: _Log,
) -> tuple[int, int, int]:
    """Scored rows and rejected ones from one pass over the input: both kinds in one
    cached DataFrame, told apart by a column, then written each to its sink."""
    tagged = _tagged(output_schema, rejected_schema)

    def score_partition(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        loaded = worker_model(shipped.value)
        for _, scored in log.scored(batches, loaded.scorer, plan):
            yield _tag(scored.output, "out", tagged)
            if scored.rejected is not None:
                yield _tag(scored.rejected, "dead", tagged)

    scored = frame.mapInArrow(score_partition, from_arrow_schema(tagged)).cache()
    try:
        counts = scored.groupBy("_scalepipe_kind").count().collect()
        by_kind = {row["_scalepipe_kind"]: int(row["count"]) for row in counts}
        outputs = scored.where("_scalepipe_kind = 'out'").select(*output_schema.names)
        letters = scored.where("_scalepipe_kind = 'dead'").select(*rejected_schema.names)
        _write(letters, dead_sink, rejected_schema, plan.run_id)
        _write(outputs, sink, output_schema, plan.run_id)
    finally:
        scored.unpersist()
    rows_out, rejected = by_kind.get("out", 0), by_kind.get("dead", 0)
    return rows_out + rejected, rows_out, rejected


def _read(spark: Any, text: str | None, source: Source, warehouse: str | None) -> Any:
    """Spark's own reader for local files; the scalepipe data source for the rest."""
    if isinstance(source, FileSource) and text is not None and "://" not in text:
        dataset = source._dataset()  # the data files only, as the local engine reads them
        files = [str(Path(name).resolve()) for name in dataset.files]
        kind = getattr(dataset.format, "default_extname", None)
        if kind == "parquet":
            return spark.read.parquet(*files)
        if kind == "csv":
            return spark.read.csv(files, header=True, inferSchema=True)
    if text is None:
        raise DatasetError("the spark engine reads sources named by a string")
    options = {"source": text}
    if warehouse:
        options["warehouse"] = warehouse
    return spark.read.format("scalepipe").options(**options).load()


def _write(frame: Any, sink: Sink, schema: pa.Schema, run_id: str) -> None:
    with writing(sink, schema, run_id) as writer:
        staging = getattr(writer, "staging", None)
        if isinstance(sink, ParquetFolderSink) and "://" not in sink.url and staging:
            frame.write.mode("overwrite").parquet(str(staging))
        else:
            # Other sinks receive the rows on the driver: bounded by the output's size.
            for batch in frame.toArrow().cast(schema).to_batches(max_chunksize=65_536):
                writer.write(batch)


# One output schema for the two kinds of rows mapInArrow returns with dead letters
# (scored, rejected with a reason), told apart by a column, so that the input is read once.


def _tagged(output: pa.Schema, rejected: pa.Schema) -> pa.Schema:
    fields = {field.name: field.with_nullable(True) for field in output}
    for field in rejected:
        fields.setdefault(field.name, field.with_nullable(True))
    return pa.schema([pa.field("_scalepipe_kind", pa.string()), *fields.values()])


def _tag(batch: pa.RecordBatch, kind: str, schema: pa.Schema) -> pa.RecordBatch:
    columns = []
    for field in schema:
        if field.name == "_scalepipe_kind":
            columns.append(constant_text(kind, batch.num_rows))
        elif field.name in batch.schema.names:
            columns.append(batch.column(field.name).cast(field.type))
        else:
            columns.append(pa.nulls(batch.num_rows, field.type))
    return pa.RecordBatch.from_arrays(columns, schema=schema)


def _arrow_schema(spark_schema: Any) -> pa.Schema:
    return to_arrow_schema(spark_schema, timezone="UTC")


# Reading scalepipe Sources on the executors


class ScalepipeSource(DataSource):
    """`spark.read.format("scalepipe").option("source", TEXT).load()`: any Source
    string, one partition per file for files."""

    @classmethod
    def name(cls) -> str:
        return "scalepipe"

    def _source(self) -> Source:
        return open_on_worker(self.options["source"], self.options.get("warehouse"))

    def schema(self) -> Any:
        return from_arrow_schema(plain_schema(self._source().schema()))

    def reader(self, schema: Any) -> Any:
        return ScalepipeReader(self)


class ScalepipeReader(DataSourceReader):
    def __init__(self, data_source: ScalepipeSource) -> None:
        self.data_source = data_source

    def partitions(self) -> list[Any]:
        return [InputPartition(part) for part in partitions(self.data_source._source())]

    def read(self, partition: Any) -> Iterator[pa.RecordBatch]:
        yield from read_partition(self.data_source._source(), partition.value)
