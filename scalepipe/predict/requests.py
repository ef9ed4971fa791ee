"""Request shapes: every protocol's body read once into one of three batches.

    Records   objects of features by name          instances / dataframe_records / inputs
    Rows      rows of values, by named columns or   dataframe_split, CSV, instances of
              in the signature's order              lists, a 2-D V2 tensor
    Columns   one sequence of values per feature   inputs as an object, V2 tensors by name

The parsers here know the protocols (MLflow's scoring protocol, KServe V1, the Open
Inference Protocol V2) and nothing of HTTP: a transport hands them the decoded body.
A body of the wrong shape raises MalformedRequest (HTTP 400); values the model cannot
score are left for the Predictor, which raises InvalidInput naming the field (422).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from scalepipe.errors import MalformedRequest
from scalepipe.predict.inputs import text_number_rows


@dataclass(frozen=True, slots=True)
class Records:
    items: list[Any]

    def __len__(self) -> int:
        return len(self.items)


@dataclass(frozen=True, slots=True)
class Rows:
    rows: Any  # a list of rows, or a 2-D numpy array
    columns: Sequence[str] | None = None  # None: the signature's order

    def __len__(self) -> int:
        return len(self.rows)


@dataclass(frozen=True, slots=True)
class Columns:
    columns: Mapping[str, Any]  # feature name -> a sequence (or 1-D array) of values

    def __len__(self) -> int:
        return len(next(iter(self.columns.values()), ()))


@dataclass(frozen=True, slots=True)
class Children:
    """Child rows (a game's plays) for a model that computes its features from them."""

    name: str  # the child entity ("plays"), the request's key
    items: Any

    def __len__(self) -> int:
        return len(self.items) if isinstance(self.items, list) else 0


Batch = Records | Rows | Columns | Children

# MLflow 3's scoring server: a JSON object with exactly one of these keys, and "params".
MLFLOW_KEYS = ("dataframe_split", "dataframe_records", "instances", "inputs")
MLFLOW_SHAPES = (
    'send a JSON object with exactly one of "dataframe_split", "dataframe_records", '
    '"instances" or "inputs"'
)


def mlflow_batch(body: Any, children: str | None = None) -> Batch:
    """The batch in an MLflow scoring request (also KServe V1's {"instances": [...]});
    `children`: the child rows' key ("plays") when the model computes its features."""
    if not isinstance(body, dict):
        raise MalformedRequest(f"{MLFLOW_SHAPES}; got {_kind(body)}")
    if children is not None and children in body:
        others = sorted(set(body) - {children, "params"})
        if others:
            raise MalformedRequest(f"send '{children}' alone, not with {', '.join(others)}")
        return Children(children, body[children])
    present = [key for key in MLFLOW_KEYS if key in body]
    if len(present) != 1:
        got = ", ".join(map(repr, body)) or "no field"
        raise MalformedRequest(f"{MLFLOW_SHAPES}; got {got}")
    params = body.get("params")
    if params is not None and not isinstance(params, dict):
        raise MalformedRequest(f"'params' must be an object, got {_kind(params)}")
    key = present[0]
    value = body[key]
    if key == "dataframe_split":
        return _split(value)
    if key == "inputs" and isinstance(value, dict):
        return _columns(value, "inputs")
    if _is_matrix(value):
        return Rows(value)
    if not isinstance(value, list):
        raise MalformedRequest(f"'{key}' must be a list of objects or rows, got {_kind(value)}")
    return _records_or_rows(value, key)


def _is_matrix(value: Any) -> bool:
    """A 2-D numpy array: rows of plain numbers as jsoncodec.loads_numeric reads them."""
    return getattr(value, "ndim", None) == 2


def _split(split: Any) -> Rows:
    """pandas' orient="split": {"columns": [...], "data": [[...]]}, "index" ignored; without
    "columns" the values follow the signature's order."""
    if not isinstance(split, dict) or not (
        isinstance(split.get("data"), list) or _is_matrix(split.get("data"))
    ):
        raise MalformedRequest("'dataframe_split' needs 'data', a list of rows (and 'columns')")
    columns = split.get("columns")
    if columns is None:
        return Rows(split["data"])
    if not isinstance(columns, list) or not all(isinstance(c, str) for c in columns):
        raise MalformedRequest("'dataframe_split.columns' must be a list of names")
    if len(set(columns)) != len(columns):
        raise MalformedRequest("'dataframe_split.columns' names a column twice")
    return Rows(split["data"], columns)


def _records_or_rows(items: list[Any], key: str) -> Records | Rows:
    if items and not isinstance(items[0], dict):
        if not all(isinstance(item, list) for item in items):
            raise MalformedRequest(f"'{key}' must hold objects or rows (lists), not a mix")
        return Rows(items)
    return Records(items)


def _columns(columns: dict[str, Any], key: str) -> Columns:
    lengths = set()
    for name, values in columns.items():
        if not isinstance(values, list) and getattr(values, "ndim", None) != 1:
            raise MalformedRequest(f"'{key}.{name}' must be a list of values")
        lengths.add(len(values))
    if len(lengths) > 1:
        raise MalformedRequest(f"the columns of '{key}' differ in length")
    return Columns(columns)


def csv_batch(body: bytes) -> Rows:
    """A CSV body with a header row, as MLflow's server takes text/csv (an empty field is a
    missing value)."""
    try:
        text = body.decode()
    except UnicodeDecodeError:
        raise MalformedRequest("the CSV body is not UTF-8 text") from None
    try:
        lines = list(csv.reader(io.StringIO(text), strict=True))
    except csv.Error as error:
        raise MalformedRequest(f"malformed CSV: {error}") from None
    lines = [line for line in lines if line]
    if not lines:
        raise MalformedRequest("the CSV body has no header row")
    columns = [name.strip() for name in lines[0]]
    if len(set(columns)) != len(columns):
        raise MalformedRequest("the CSV header names a column twice")
    for number, line in enumerate(lines[1:], start=2):
        if len(line) != len(columns):
            raise MalformedRequest(
                f"CSV line {number} has {len(line)} fields; the header has {len(columns)}"
            )
    numbers = text_number_rows(lines[1:])
    if numbers is not None:
        return Rows(numbers, columns)
    # Something needs a word (an empty field, a value that is no number): the Predictor
    # reads the fields one by one and names the one at fault.
    return Rows([[value if value else None for value in line] for line in lines[1:]], columns)


def _kind(value: Any) -> str:
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    return "a string" if isinstance(value, str) else type(value).__name__
