"""`scalepipe.batch.score`: one batch scoring job, run on the engine users pick.

The job loads the model once, checks the source's columns against its signature before
any work, streams the rows through `score_batch` and writes them into the sink, which
shows them only when the run completes. A run id names the run: running it again
replaces its rows, never adds them twice.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal, cast

from scalepipe.batch.local import Counts, OnScored
from scalepipe.batch.scoring import OnError, ScorePlan, log_scored
from scalepipe.config import Settings
from scalepipe.errors import DatasetError, InvalidInput, ScalepipeError
from scalepipe.io.predlog import PredictionLogWriter, is_parquet_log
from scalepipe.io.sinks import check_run_id, writing
from scalepipe.io.uris import open_sink, open_source
from scalepipe.predict.predictor import Predictor
from scalepipe.store.store import ModelStore
from scalepipe.types import Sink, Source

if TYPE_CHECKING:
    from scalepipe.features.definition import FeatureDefinition

Engine = Literal["local", "spark", "beam"]
ENGINES: tuple[Engine, ...] = ("local", "spark", "beam")
# Called with the rows done so far and the total when the source knows it.
Progress = Callable[[int, int | None], None]


@dataclass(frozen=True)
class BatchResult:
    """What a run did: the figures of its summary."""

    model: str
    version: int
    run_id: str
    engine: str
    source: dict[str, Any]
    sink: dict[str, Any]
    rows_in: int
    rows_out: int
    rejected: int
    seconds: float
    dead_letter: dict[str, Any] | None = None
    logged: int | None = None  # prediction records written (--log-predictions)

    @property
    def rows_per_second(self) -> float:
        return self.rows_in / self.seconds if self.seconds > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "rows_per_second": round(self.rows_per_second)}


def new_run_id() -> str:
    """A run id that sorts by time: 20261129T120000Z-3f9a1c."""
    return f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


def parse_on_error(text: str) -> tuple[OnError, str | None]:
    """`fail`, `skip` or `dead-letter:SINK` as the policy and the dead-letter sink."""
    if text in ("fail", "skip"):
        return cast(OnError, text), None
    if text.startswith("dead-letter:") and text.removeprefix("dead-letter:").strip():
        return "dead-letter", text.removeprefix("dead-letter:").strip()
    raise DatasetError(f"--on-error takes fail, skip or dead-letter:SINK, not {text!r}")


def score(
    model: str,
    input: str | Source,
    output: str | Sink,
    *,
    engine: Engine = "local",
    keys: Sequence[str] | None = None,
    run_id: str | None = None,
    on_error: str = "fail",
    store: str | ModelStore | None = None,
    allow_pickle: bool = False,
    settings: Settings | None = None,
    on_progress: Progress | None = None,
    workers: int = 2,
    spark_master: str | None = None,
    beam_runner: str | None = None,
    beam_options: Sequence[str] = (),
    log_predictions: str | None = None,
) -> BatchResult:
    """Score every row of `input` with `model` and write the results into `output`.

    Output rows: the key columns (every input column when `keys` is None), `prediction`,
    `model`, `model_version`, `scored_at` and `run_id`. `log_predictions`: also write a
    PredictionRecord per row scored there (scalepipe/io/predlog.py; the local engine),
    for drift monitoring; its ids are the key columns joined by `:` (`RUN_ID:ROW`
    without keys).
    """
    if engine not in ENGINES:
        raise DatasetError(f"engine must be one of {', '.join(ENGINES)}, not {engine!r}")
    if log_predictions and engine == "spark" and not is_parquet_log(log_predictions):
        raise DatasetError(
            "on the spark engine --log-predictions writes a folder of Parquet files (a "
            f"PATH ending in .parquet, local or in a bucket: each task writes its own), not "
            f"{log_predictions}"
        )
    settings = settings or Settings.load()
    run_id = check_run_id(run_id or new_run_id())
    policy, dead_letter_text = parse_on_error(on_error)
    key_columns = tuple(keys) if keys else None
    source = open_source(input, settings=settings) if isinstance(input, str) else input
    sink = open_sink(output, settings=settings, keys=keys) if isinstance(output, str) else output
    dead_sink = open_sink(dead_letter_text, settings=settings) if dead_letter_text else None
    predictor = Predictor.load(model, store=store or settings.store, allow_pickle=allow_pickle)
    loaded = predictor.current
    if loaded.features is not None:
        source, key_columns = _feature_rows(loaded.features, source, key_columns, engine)
    plan = ScorePlan.for_model(loaded, keys=key_columns, run_id=run_id, on_error=policy)

    started = time.perf_counter()
    logged = None
    if engine == "local":
        log = PredictionLogWriter(log_predictions, settings=settings) if log_predictions else None
        try:
            counts = _run_local(source, sink, dead_sink, loaded.scorer, plan, workers,
                                on_progress, log_scored(log, plan) if log else None)  # fmt: skip
        finally:
            if log is not None:
                logged = log.close()
    else:
        counts = _run_distributed(
            engine, input, source, sink, dead_sink, predictor, plan, settings,
            spark_master=spark_master, beam_runner=beam_runner, beam_options=beam_options,
            log_predictions=log_predictions,
        )  # fmt: skip
        logged = counts.logged if log_predictions else None
    return BatchResult(
        model=loaded.name,
        version=loaded.version,
        run_id=run_id,
        engine=engine,
        source=source.describe(),
        sink=sink.describe(),
        dead_letter=dead_sink.describe() if dead_sink else None,
        rows_in=counts.rows_in,
        rows_out=counts.rows_out,
        rejected=counts.rejected,
        seconds=time.perf_counter() - started,
        logged=logged,
    )


def _feature_rows(
    definition: FeatureDefinition, source: Source, keys: tuple[str, ...] | None, engine: Engine
) -> tuple[Source, tuple[str, ...]]:
    """A model trained on engineered features scores child rows (a game's plays): the
    source becomes its feature rows, one per parent, keyed by the parent's key."""
    from scalepipe.batch.engineered import FeatureRowsSource

    spec = definition.spec
    if engine != "local":
        raise DatasetError(
            f"a model trained on {spec.child} features scores on the local engine (its "
            f"features on DuckDB); on {engine}, compute the features first (scalepipe "
            "features build --engine spark) and score those rows"
        )
    if keys not in (None, (spec.key,)):
        raise DatasetError(f"the output of a model on {spec.child} features is keyed by {spec.key}")
    return FeatureRowsSource(source, definition), (spec.key,)


def _run_local(
    source: Source,
    sink: Sink,
    dead_sink: Sink | None,
    scorer: Any,
    plan: ScorePlan,
    workers: int,
    on_progress: Progress | None,
    on_scored: OnScored | None = None,
) -> Counts:
    from scalepipe.batch.local import run_local

    schema = plan.read_schema(source.schema(), source)
    total = _count_rows(source)
    done = 0

    def progress(rows: int) -> None:
        nonlocal done
        done += rows
        if on_progress is not None:
            on_progress(done, total)

    with ExitStack() as writers:  # closed in reverse: the dead letters, which explain
        writer = writers.enter_context(  # the output, commit first
            writing(sink, plan.output_schema(schema), plan.run_id)
        )
        dead = (
            writers.enter_context(writing(dead_sink, plan.rejected_schema(schema), plan.run_id))
            if dead_sink
            else None
        )
        return run_local(
            source.read_batches(schema.names),
            scorer,
            plan,
            writer,
            dead,
            workers=workers,
            on_progress=progress,
            on_scored=on_scored,
        )


def _run_distributed(
    engine: Engine,
    input: str | Source,
    source: Source,
    sink: Sink,
    dead_sink: Sink | None,
    predictor: Predictor,
    plan: ScorePlan,
    settings: Settings,
    *,
    spark_master: str | None,
    beam_runner: str | None,
    beam_options: Sequence[str],
    log_predictions: str | None = None,
) -> Counts:
    text = input if isinstance(input, str) else None
    logged = 0
    try:
        if engine == "spark":
            from scalepipe.batch.spark import run_spark

            def run() -> tuple[int, int, int]:
                nonlocal logged
                rows_in, rows_out, rejected, logged = run_spark(
                    text, source, sink, dead_sink, predictor, plan, master=spark_master,
                    warehouse=settings.warehouse, log_predictions=log_predictions,
                )  # fmt: skip
                return rows_in, rows_out, rejected
        else:
            from scalepipe.batch.beam import run_beam

            def run() -> tuple[int, int, int]:
                nonlocal logged
                rows_in, rows_out, rejected, logged = run_beam(
                    text, source, sink, dead_sink, predictor, plan, runner=beam_runner,
                    options=beam_options, warehouse=settings.warehouse,
                    log_predictions=log_predictions,
                )  # fmt: skip
                return rows_in, rows_out, rejected
    except ImportError as error:
        raise DatasetError(
            f"the {engine} engine needs the {engine} extra: pip install 'scalepipe[{engine}]'"
        ) from error
    try:
        rows_in, rows_out, rejected = run()
    except Exception as error:
        raise _worker_error(error) from error
    return Counts(rows_in, rows_out, rejected, logged)


def _worker_error(error: Exception) -> Exception:
    """A user's error raised on a Spark or Beam worker, as the error itself: the engines
    wrap it in their own, with the worker's traceback in the text."""
    if isinstance(error, ScalepipeError):
        return error
    text = str(error)
    for kind in (InvalidInput, DatasetError):
        found = re.search(rf"scalepipe\.errors\.{kind.__name__}: (.+)", text)
        if found:
            return kind(found.group(1).strip())
    return error


def _count_rows(source: Source) -> int | None:
    counter = getattr(source, "count_rows", None)
    return counter() if callable(counter) else None
