"""One batch of rows in, its scored rows out: the pure step every engine runs.

The local engine, Spark's `mapInArrow` and Beam's model handler all call `score_batch`
on Arrow record batches, so that the three give the same rows for the same input. It
checks the features row by row (a null, NaN or infinity is a bad row unless the model
takes missing values), scores the good rows through the model's scorer, and returns
the output rows and, apart, the rejected input rows with the reason for each.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from scalepipe.errors import DatasetError, InvalidInput
from scalepipe.io.plain import CONSTANT, plain_column, plain_field
from scalepipe.predict.predictor import LoadedVersion
from scalepipe.predict.scorers import Scorer
from scalepipe.types import Source

OnError = Literal["fail", "skip", "dead-letter"]
PREDICTION = "prediction"
# The columns every output row carries after its keys (book chapter 5: who, what, when).
MODEL_COLUMNS = ("model", "model_version", "scored_at", "run_id")
OUTPUT_COLUMNS = (PREDICTION, *MODEL_COLUMNS)
ERROR_COLUMN = "error"
SCORED_AT = pa.timestamp("us", tz="UTC")


@dataclass(frozen=True)
class ScorePlan:
    """What a job scores and what it writes; the same on every engine and every worker."""

    features: tuple[str, ...]
    keys: tuple[str, ...] | None  # None: every input column goes to the output
    model: str
    version: int
    run_id: str
    scored_at: datetime
    on_error: OnError = "fail"
    accepts_missing: bool = False

    @classmethod
    def for_model(
        cls,
        loaded: LoadedVersion,
        *,
        keys: tuple[str, ...] | None,
        run_id: str,
        on_error: OnError = "fail",
        scored_at: datetime | None = None,
    ) -> ScorePlan:
        return cls(
            features=loaded.names,
            keys=keys,
            model=loaded.name,
            version=loaded.version,
            run_id=run_id,
            scored_at=(scored_at or datetime.now(UTC)).replace(microsecond=0),
            on_error=on_error,
            accepts_missing=loaded.accepts_missing,
        )

    def input_columns(self, schema: pa.Schema) -> list[str]:
        """The columns to read from the source: the keys and the features, once each."""
        if self.keys is None:
            return list(schema.names)
        return list(dict.fromkeys((*self.keys, *self.features)))

    def read_schema(self, schema: pa.Schema, source: Source) -> pa.Schema:
        """The columns of `source` (whose schema an engine may have read its own way)
        that the job reads, in reading order, after checking them (see `check_input`)."""
        where = source.describe()
        self.check_input(schema, str(where.get("url") or where.get("kind")))
        return pa.schema([schema.field(name) for name in self.input_columns(schema)])

    def check_input(self, schema: pa.Schema, where: str) -> None:
        """Refuse, before any work, a source that lacks a column or holds a feature of a
        type that is not a number, naming the column."""
        for name in (*(self.keys or ()), *self.features):
            if name not in schema.names:
                raise DatasetError(
                    f"{where} lacks column {name!r}; it has {', '.join(schema.names[:20])}"
                )
        for name in self.features:
            kind = schema.field(name).type
            if pa.types.is_dictionary(kind):
                kind = kind.value_type
            if not (
                pa.types.is_integer(kind)
                or pa.types.is_floating(kind)
                or pa.types.is_boolean(kind)
                or pa.types.is_decimal(kind)
                or pa.types.is_null(kind)
            ):
                raise DatasetError(
                    f"feature {name!r} of {where} is {kind}; the model needs numbers "
                    "(integers, floats or booleans)"
                )
        clash = [name for name in OUTPUT_COLUMNS if name in self.output_keys(schema)]
        if clash:
            raise DatasetError(
                f"{where} has column(s) {', '.join(clash)}, which the output adds itself: "
                "pick the key columns with --key"
            )

    def output_keys(self, schema: pa.Schema) -> list[str]:
        return list(schema.names) if self.keys is None else list(self.keys)

    def output_schema(self, schema: pa.Schema) -> pa.Schema:
        return _output_schema(self, schema)

    def rejected_schema(self, schema: pa.Schema) -> pa.Schema:
        return _rejected_schema(self, schema)


# Built once per input schema rather than once per batch.


@functools.lru_cache(maxsize=16)
def _output_schema(plan: ScorePlan, schema: pa.Schema) -> pa.Schema:
    return pa.schema(
        [
            *[plain_field(schema.field(name)) for name in plan.output_keys(schema)],
            pa.field(PREDICTION, pa.float64(), nullable=False),
            pa.field("model", pa.string(), nullable=False, metadata=CONSTANT),
            pa.field("model_version", pa.int64(), nullable=False, metadata=CONSTANT),
            pa.field("scored_at", SCORED_AT, nullable=False, metadata=CONSTANT),
            pa.field("run_id", pa.string(), nullable=False, metadata=CONSTANT),
        ]
    )


@functools.lru_cache(maxsize=16)
def _rejected_schema(plan: ScorePlan, schema: pa.Schema) -> pa.Schema:
    return pa.schema(
        [
            *[plain_field(schema.field(name)) for name in plan.input_columns(schema)],
            pa.field(ERROR_COLUMN, pa.string(), nullable=False),
            pa.field("run_id", pa.string(), nullable=False),
        ]
    )


@dataclass(frozen=True)
class Scored:
    output: pa.RecordBatch
    rejected_rows: int = 0
    rejected: pa.RecordBatch | None = None  # the bad rows and why, for a dead-letter sink
    kept: pa.Array | None = None  # which input rows were scored; None: all of them


def score_batch(
    batch: pa.RecordBatch, scorer: Scorer, plan: ScorePlan, offset: int | None = None
) -> Scored:
    """Score one batch. `offset`: the batch's first row number in the whole input, when
    the engine knows it (a distributed engine reads parts apart): an error names the row
    by its number and its keys, so that users can find it."""
    matrix, valid = _features(batch, plan)
    if valid is None:
        scores = _score(scorer, matrix)
        good = np.isfinite(scores)
        if good.all():
            return Scored(_output(batch, scores, plan))
        valid = np.ones(batch.num_rows, dtype=bool)
    else:
        scores = np.full(batch.num_rows, np.nan)
        if valid.any():
            scores[valid] = _score(scorer, matrix[valid])
        good = valid & np.isfinite(scores)
    reasons = _reasons(batch, matrix, valid, plan)
    if plan.on_error == "fail":
        first = int(np.argmin(good))
        raise InvalidInput(f"{_row_name(batch, first, plan, offset)}: {reasons(first)}")
    kept = pa.array(good)
    output = _output(batch.filter(kept), scores[good], plan)
    if plan.on_error == "skip":
        return Scored(output, int((~good).sum()), kept=kept)
    bad = np.flatnonzero(~good)
    taken = batch.select(plan.input_columns(batch.schema)).take(pa.array(bad))
    columns = [plain_column(column) for column in taken.columns]
    columns += [pa.array([reasons(i) for i in bad]), constant_text(plan.run_id, len(bad))]
    rejected = pa.RecordBatch.from_arrays(columns, schema=plan.rejected_schema(batch.schema))
    return Scored(output, len(bad), rejected, kept)


def feature_matrix(batch: pa.RecordBatch, features: tuple[str, ...]) -> np.ndarray:
    """The features as a float64 matrix in signature order; nulls become NaN. Column-major,
    so that each column is one contiguous copy."""
    matrix = np.empty((batch.num_rows, len(features)), dtype=np.float64, order="F")
    for index, name in enumerate(features):
        column = batch.column(name)
        if pa.types.is_dictionary(column.type):
            column = column.dictionary_decode()
        if column.null_count or not (
            pa.types.is_integer(column.type) or pa.types.is_floating(column.type)
        ):
            column = column.cast(pa.float64())
        matrix[:, index] = column.to_numpy(zero_copy_only=False)
    return matrix


def _features(batch: pa.RecordBatch, plan: ScorePlan) -> tuple[np.ndarray, np.ndarray | None]:
    """The feature matrix and which rows the model can score (None: all of them). Only
    columns that can hold a null, NaN or infinity are checked: floats, and any column
    with nulls."""
    matrix = feature_matrix(batch, plan.features)
    valid = None
    for index, name in enumerate(plan.features):
        kind = batch.schema.field(name).type
        kind = kind.value_type if pa.types.is_dictionary(kind) else kind
        if not batch.column(name).null_count and not pa.types.is_floating(kind):
            continue
        values = matrix[:, index]
        scorable = ~np.isinf(values) if plan.accepts_missing else np.isfinite(values)
        if not scorable.all():
            valid = scorable if valid is None else valid & scorable
    return matrix, valid


def _score(scorer: Scorer, matrix: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore", invalid="ignore"):
        return np.asarray(scorer.score_matrix(matrix), dtype=np.float64).reshape(-1)


def _output(batch: pa.RecordBatch, scores: np.ndarray, plan: ScorePlan) -> pa.RecordBatch:
    rows = len(scores)
    names = plan.output_keys(batch.schema)
    columns = [plain_column(batch.column(name)) for name in names]
    columns += [pa.array(scores, pa.float64()), *_model_columns(plan, rows)]
    return pa.RecordBatch.from_arrays(columns, schema=plan.output_schema(batch.schema))


@functools.lru_cache(maxsize=4)
def _model_columns(plan: ScorePlan, rows: int) -> tuple[pa.Array, ...]:
    """The columns of one value per run (model, version, time, run id), built once per
    batch size: Arrow arrays never change, so batches share them."""
    stamp = np.datetime64(plan.scored_at.replace(tzinfo=None), "us")
    return (
        constant_text(plan.model, rows),
        pa.array(np.full(rows, plan.version, dtype=np.int64)),
        pa.array(np.full(rows, stamp), SCORED_AT),
        constant_text(plan.run_id, rows),
    )


def constant_text(text: str, rows: int) -> pa.Array:
    """A string column of one value, built from buffers (a Python list of `rows` strings
    costs more than scoring them)."""
    data = text.encode()
    offsets = np.arange(rows + 1, dtype=np.int32) * len(data)
    return pa.StringArray.from_buffers(rows, pa.py_buffer(offsets), pa.py_buffer(data * rows))


def _row_name(batch: pa.RecordBatch, row: int, plan: ScorePlan, offset: int | None) -> str:
    keys = ", ".join(f"{name}={batch.column(name)[row].as_py()!r}" for name in plan.keys or ())
    if offset is None:
        return f"the row with {keys}" if keys else "a row"
    return f"row {offset + row} ({keys})" if keys else f"row {offset + row}"


def _reasons(batch: pa.RecordBatch, matrix: np.ndarray, valid: np.ndarray, plan: ScorePlan) -> Any:
    def reason(row: int) -> str:
        if valid[row]:
            return "the model's output is not a finite number for these inputs"
        values = matrix[row]
        bad = ~np.isfinite(values) if not plan.accepts_missing else np.isinf(values)
        column = int(np.argmax(bad))
        name = plan.features[column]
        shown = "null" if batch.column(name)[row].as_py() is None else str(values[column])
        return f"feature {name!r} must be a finite number, got {shown}"

    return reason


class PredictionLog(Protocol):
    """Where log_scored hands records: a PredictionLogWriter, or a Beam worker's staging."""

    def add(
        self,
        model: str,
        version: int,
        ids: pa.Array | list[str],
        inputs: pa.RecordBatch,
        outputs: Any,
        seconds: float,
    ) -> None: ...


def log_scored(
    log: PredictionLog, plan: ScorePlan, prefix: str | None = None
) -> Callable[[pa.RecordBatch, int, Scored, float], None]:
    """Hands each scored batch's records to a prediction log: the scored rows' features,
    their ids (the key columns joined by `:`; without keys, `PREFIX:ROW` where the
    prefix is the run id, and the row the batch's `offset` plus its place)."""
    features = list(plan.features)
    prefix = prefix or plan.run_id

    def on_scored(batch: pa.RecordBatch, offset: int, scored: Scored, seconds: float) -> None:
        rows = batch if scored.kept is None else batch.filter(scored.kept)
        if rows.num_rows == 0:
            return
        if plan.keys:
            texts = [rows.column(key).cast(pa.string()) for key in plan.keys]
            ids = texts[0] if len(texts) == 1 else pc.binary_join_element_wise(*texts, ":")
        else:
            numbers = np.arange(offset, offset + batch.num_rows)
            if scored.kept is not None:
                numbers = numbers[np.asarray(scored.kept)]
            ids = pa.array([f"{prefix}:{number}" for number in numbers.tolist()])
        log.add(plan.model, plan.version, ids, rows.select(features),
                scored.output.column(PREDICTION), seconds)  # fmt: skip

    return on_scored
