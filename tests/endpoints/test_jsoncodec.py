"""loads_numeric reads every body as loads does; only large arrays of plain numbers come
back as float64 arrays, with the same values and shape."""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scalepipe.endpoints import jsoncodec

numbers = st.one_of(st.integers(-(2**53), 2**53), st.floats(allow_nan=False, allow_infinity=False))
scalars = st.one_of(st.none(), st.booleans(), numbers, st.text(max_size=5))
rows = st.integers(1, 4).flatmap(
    lambda width: st.lists(st.lists(numbers, min_size=width, max_size=width), min_size=16)
)
values = st.recursive(
    st.one_of(scalars, st.lists(numbers, min_size=16, max_size=64), rows),
    lambda children: st.one_of(
        st.lists(children, max_size=20), st.dictionaries(st.text(max_size=5), children)
    ),
    max_leaves=30,
)


def plain(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [plain(item) for item in value]
    return value


@settings(max_examples=300, deadline=None)
@given(values)
def test_it_reads_what_loads_reads(value: Any) -> None:
    raw = orjson.dumps({"padding": "x" * jsoncodec.NUMERIC_BYTES, "value": value})
    assert plain(jsoncodec.loads_numeric(raw)) == jsoncodec.loads(raw)


def test_batches_of_numbers_become_arrays() -> None:
    body = {"data": [[1, 2.5, -3]] * 400, "flat": list(range(100)), "few": [1, 2], "id": "r"}
    read = jsoncodec.loads_numeric(orjson.dumps(body))
    assert read["data"].dtype == np.float64 and read["data"].shape == (400, 3)
    assert read["data"].tolist() == body["data"] and read["flat"].shape == (100,)
    assert read["few"] == [1, 2] and read["id"] == "r"


@pytest.mark.parametrize(
    "odd", [[[1, 2, 3], [4]] * 200, [["1", 2]] * 100, [True] * 50, [{"G1": 1}] * 50]
)
def test_a_body_with_any_other_large_array_is_read_by_loads(odd: list[Any]) -> None:
    body = {"data": [[1, 2]] * 400, "odd": odd}
    assert jsoncodec.loads_numeric(orjson.dumps(body)) == body


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b'{"a": [' + b"1e400," * 500 + b"1]}", "infinity"),
        (b'{"a": [' + b"1," * 2000 + b"1]", "end of data"),
        (b'{"a": "\\ud800", "b": [' + b"1," * 2000 + b"1]}", "surrogate"),
    ],
)
def test_bad_bodies_get_the_same_error_as_from_loads(raw: bytes, message: str) -> None:
    with pytest.raises(jsoncodec.JSONDecodeError, match=message):
        jsoncodec.loads_numeric(raw)


def test_a_repeated_key_keeps_its_last_value_as_in_loads() -> None:
    raw = b'{"data": [' + b"1," * 2000 + b'1], "data": "last"}'
    assert jsoncodec.loads_numeric(raw)["data"] == "last"


@pytest.mark.parametrize(
    "nested",
    [
        [1, [2], *range(3, 20)],  # one number in brackets among numbers
        [[1, [2]], *[[3, 4]] * 20],  # a row that hides an array with the rows' width
        [[1, 2], *[[3, 4]] * 20, [[5, 6]]],  # an extra level that flattens to a whole row
    ],
)
def test_an_array_nested_among_numbers_is_not_flattened(nested: list[Any]) -> None:
    raw = orjson.dumps({"padding": "x" * jsoncodec.NUMERIC_BYTES, "data": nested})
    assert plain(jsoncodec.loads_numeric(raw)) == jsoncodec.loads(raw)
