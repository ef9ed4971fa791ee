"""Messages in, results out: the JSON that travels on every broker.

A message is one JSON object: an `id` (a string or an integer) and the model's features
(`{"id": "u-17", "G1": 0, "G2": 1, ...}`); other fields are ignored unless the model is
strict. A result is `{"id", "prediction", "model", "version", "time"}`; a dead letter is
`{"id", "error", "field", "deliveries", "message", "model", "version", "time"}`, where
`message` is the original text.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import orjson
import pyarrow as pa

from scalepipe.errors import InvalidInput
from scalepipe.predict.inputs import numeric_matrix
from scalepipe.predict.predictor import LoadedVersion

ID = "id"


@dataclass(frozen=True, slots=True)
class Message:
    """One message as a broker delivered it: `handle` is what the broker acknowledges."""

    handle: Any
    body: bytes


@dataclass(frozen=True, slots=True)
class Refusal:
    """A message the model cannot score, and why."""

    message: Message
    id: str | None
    error: str
    field: str | None


@dataclass(frozen=True)
class Decoded:
    """A micro-batch as the columns `score_batch` reads (`id` and the features), the
    messages they came from (row i is messages[i]) and the messages refused on the way."""

    batch: pa.RecordBatch
    messages: list[Message]
    refused: list[Refusal]


def decode(messages: Sequence[Message], loaded: LoadedVersion) -> Decoded:
    """Parse and check a micro-batch. One `orjson` call parses the whole batch when every
    message is well-formed; otherwise each message is parsed alone, so that one bad
    message names itself and costs its neighbours nothing."""
    try:
        records = orjson.loads(b"[" + b",".join(message.body for message in messages) + b"]")
    except orjson.JSONDecodeError:
        records = None
    if records is not None and len(records) != len(messages):
        records = None  # a message that is several values (`1, 2`): parse each alone
    if records is not None:
        matrix = _fast_matrix(records, loaded)
        ids = _fast_ids(records)
        if matrix is not None and ids is not None:
            return Decoded(_batch(ids, matrix, loaded), list(messages), [])
    kept: list[Message] = []
    rows: list[list[float]] = []
    ids_kept: list[str] = []
    refused: list[Refusal] = []
    for index, message in enumerate(messages):
        record = records[index] if records is not None else _parse(message)
        try:
            ids_kept.append(message_id(record))
            rows.append(loaded.row(record))
        except InvalidInput as error:
            if len(ids_kept) > len(rows):
                ids_kept.pop()
            found = record.get(ID) if isinstance(record, dict) else None
            shown = None if found is None else str(found)
            refused.append(Refusal(message, shown, str(error), error.field))
            continue
        kept.append(message)
    matrix = np.array(rows, dtype=np.float64).reshape(len(rows), len(loaded.names))
    return Decoded(_batch(ids_kept, matrix, loaded), kept, refused)


def message_id(record: Any) -> str:
    """A message's id as text; a message without one cannot be written idempotently."""
    if not isinstance(record, dict):
        raise InvalidInput(
            f"a message must be a JSON object of features with an id, got {_kind(record)}"
        )
    value = record.get(ID)
    if isinstance(value, bool) or not isinstance(value, (str, int)) or value == "":
        raise InvalidInput("field 'id' must be a non-empty string or an integer", ID)
    if isinstance(value, str) and "\n" in value:
        raise InvalidInput("field 'id' must be one line of text", ID)
    return str(value)


def results(ids: Sequence[str], scores: Any, model: str, version: int) -> list[tuple[str, bytes]]:
    """The result of each scored message, as (id, JSON)."""
    time = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    dumps = orjson.dumps
    return [
        (id, dumps({"id": id, "prediction": score, "model": model, "version": version,
                    "time": time}))
        for id, score in zip(ids, scores.tolist(), strict=True)
    ]  # fmt: skip


def dead_letter(refusal: Refusal, deliveries: int, model: str, version: int) -> tuple[str, bytes]:
    """The dead-letter record of a refused message: the error, the field at fault and the
    original message as text."""
    time = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    body = {
        "id": refusal.id,
        "error": refusal.error,
        "field": refusal.field,
        "deliveries": deliveries,
        "message": refusal.message.body.decode("utf-8", errors="replace"),
        "model": model,
        "version": version,
        "time": time,
    }
    key = (
        refusal.id or "message:" + hashlib.blake2b(refusal.message.body, digest_size=8).hexdigest()
    )
    return key, orjson.dumps(body)


def _parse(message: Message) -> Any:
    try:
        return orjson.loads(message.body)
    except orjson.JSONDecodeError as error:
        return _NotJson(str(error))


class _NotJson:
    def __init__(self, reason: str) -> None:
        self.reason = reason


def _kind(record: Any) -> str:
    if isinstance(record, _NotJson):
        return f"text that is not JSON ({record.reason})"
    return type(record).__name__


def _fast_matrix(records: list[Any], loaded: LoadedVersion) -> Any:
    """The features as a float64 matrix in one pass through C, or None when any record
    needs a word (see LoadedVersion._plain_matrix)."""
    if loaded.strict:
        return None
    pick = loaded.pick
    try:
        matrix = numeric_matrix([pick(record) for record in records])
    except (KeyError, TypeError):
        return None
    if matrix is None or matrix.ndim != 2 or matrix.shape[1] != len(loaded.names):
        return None
    if not loaded.accepts_missing and not np.isfinite(matrix).all():
        return None
    return matrix


def _fast_ids(records: list[Any]) -> list[str] | None:
    try:
        ids = [record[ID] for record in records]
    except (KeyError, TypeError):
        return None
    if all(type(value) is str and value and "\n" not in value for value in ids):
        return ids
    if all(type(value) is int for value in ids):
        return [str(value) for value in ids]
    return None


def _batch(ids: list[str], matrix: Any, loaded: LoadedVersion) -> pa.RecordBatch:
    columns = [pa.array(ids, pa.string())]
    columns += [pa.array(matrix[:, index]) for index in range(matrix.shape[1])]
    return pa.RecordBatch.from_arrays(columns, names=[ID, *loaded.names])
