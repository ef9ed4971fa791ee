"""A micro-batch of messages scored: the step every stream engine runs (native, Spark's
executors, Beam's workers), on top of the batch engines' `score_batch`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from scalepipe.batch.scoring import ScorePlan, score_batch
from scalepipe.predict.predictor import LoadedVersion
from scalepipe.stream.messages import ID, Message, Refusal, decode, results


@dataclass(frozen=True)
class Outcome:
    """The messages that were scored (in order) with their results, and the refusals."""

    scored: list[Message]
    results: list[tuple[str, bytes]]
    refused: list[Refusal]
    inputs: pa.RecordBatch | None = None  # the scored messages' features (a prediction log)
    scores: np.ndarray | None = None


def stream_plan(loaded: LoadedVersion) -> ScorePlan:
    """Output rows keyed by the message id; a row the model cannot score is set apart."""
    return ScorePlan.for_model(loaded, keys=(ID,), run_id="stream", on_error="dead-letter")


def warm_up(loaded: LoadedVersion, plan: ScorePlan) -> None:
    """Score the signature's example once before the first message: the first call of the
    scoring path costs ~0.3 s (imports and caches), which would otherwise land on the
    first messages' latency."""
    import orjson

    body = orjson.dumps({ID: "warm-up", **loaded.card.signature.example()})
    score_messages([Message(None, body)], loaded, plan)


def score_messages(messages: Sequence[Message], loaded: LoadedVersion, plan: ScorePlan) -> Outcome:
    decoded = decode(messages, loaded)
    if not decoded.messages:
        return Outcome([], [], list(decoded.refused))
    scored = score_batch(decoded.batch, loaded.scorer, plan)
    kept_ids = scored.output.column(ID).to_pylist()
    scores = scored.output.column("prediction").to_numpy()
    ids = decoded.batch.column(ID).to_pylist()
    kept, rejected = _split(decoded.messages, ids, kept_ids, scored.rejected)
    written = results(kept_ids, scores, loaded.name, loaded.version) if kept else []
    rows = decoded.batch if scored.kept is None else decoded.batch.filter(scored.kept)
    inputs = rows.select(list(loaded.names))
    return Outcome(kept, written, [*decoded.refused, *rejected], inputs, scores)


def _split(
    messages: list[Message], ids: list[str], kept_ids: list[str], rejected: Any
) -> tuple[list[Message], list[Refusal]]:
    """The messages whose rows were scored, and the others with the reason: scored rows
    keep their order, so their ids are a subsequence of all the ids."""
    if len(kept_ids) == len(ids):
        return messages, []
    reasons = iter(rejected.column("error").to_pylist())
    kept, refused, position = [], [], 0
    for message, id in zip(messages, ids, strict=True):
        if position < len(kept_ids) and kept_ids[position] == id:
            kept.append(message)
            position += 1
        else:
            reason = next(reasons)
            field = reason.split("'")[1] if reason.startswith("feature '") else None
            refused.append(Refusal(message, id, reason, field))
    return kept, refused
