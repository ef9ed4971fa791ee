"""JSON for the serving path: orjson when installed (several times faster), else the
standard library, so that a serverless package of a linear model needs no compiled
dependency at all.

Both answer the same: every body that is not JSON the server can use raises
JSONDecodeError (a ValueError), whether it is malformed, nested past the parser's depth,
or holds a number that is infinite as a double (1e400) or an integer too long to read.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any

loads: Callable[[bytes], Any]
dumps: Callable[[Any], bytes]
JSONDecodeError: type[ValueError]

try:
    import orjson

    loads, dumps, JSONDecodeError = orjson.loads, orjson.dumps, orjson.JSONDecodeError
except ImportError:  # a minimal serverless package
    import math

    class _StdlibDecodeError(ValueError):
        pass

    def _finite(text: str) -> float:
        number = float(text)
        if math.isinf(number):
            raise _StdlibDecodeError(f"number is infinity when parsed as double: {text[:40]}")
        return number

    def _integer(text: str) -> int | float:
        # As orjson: integers that fit 64 bits stay integers, longer ones become doubles.
        if len(text) <= 19:
            return int(text)
        number = int(text) if len(text) <= 20 else None
        if number is not None and -(2**63) <= number < 2**64:
            return number
        return _finite(text)

    def _refuse_constant(name: str) -> Any:
        raise _StdlibDecodeError(f"{name} is not JSON")

    def _loads(data: bytes) -> Any:
        try:
            parsed = json.loads(
                data, parse_float=_finite, parse_int=_integer, parse_constant=_refuse_constant
            )
            # orjson refuses an escaped lone surrogate ("\ud800"); the json module keeps it.
            json.dumps(parsed, ensure_ascii=False).encode()
            return parsed
        except UnicodeEncodeError:
            raise _StdlibDecodeError("the JSON holds a lone surrogate (not valid text)") from None
        except RecursionError:
            raise _StdlibDecodeError("the JSON is nested too deeply") from None
        except _StdlibDecodeError:
            raise
        except ValueError as error:  # malformed, or an integer past Python's digit limit
            raise _StdlibDecodeError(str(error)) from None

    def _dumps(payload: Any) -> bytes:
        return json.dumps(payload, separators=(",", ":"), allow_nan=False).encode()

    loads, dumps, JSONDecodeError = _loads, _dumps, _StdlibDecodeError


# Bodies this large are worth parsing with simdjson into arrays; smaller ones are faster
# through loads (no parser state to set up).
NUMERIC_BYTES = 2048
_SMALL_ARRAY = 16
_local = threading.local()

_simdjson: Any
try:
    import simdjson as _simdjson
except ImportError:  # a minimal serverless package: loads does everything
    _simdjson = None


def loads_numeric(raw: bytes) -> Any:
    """As loads, but each large array of plain numbers, or of equally long arrays of plain
    numbers, comes back as a float64 numpy array, parsed by simdjson straight from the
    bytes: a 1,000-row batch costs a fraction of building Python lists and converting
    them. Anything unusual (a string or null among the numbers, rows of unequal length,
    a number past 64 bits, text that is not valid) goes through loads, which reads it, or
    words the error, exactly as for any other body.
    """
    if _simdjson is None or len(raw) < NUMERIC_BYTES:
        return loads(raw)
    try:
        arrays = [0]
        read = _plain(_parse(raw), arrays)
        # simdjson flattens an array nested among numbers ([1, [2], 3] reads as 1, 2, 3):
        # every "[" of the body must be an array this walk saw. A "[" inside a string
        # also counts; such a body goes through loads, as do all the unusual ones.
        if arrays[0] != raw.count(b"["):
            raise ValueError("an array nested among numbers")
        return read
    except Exception:  # simdjson's errors are of several types; loads decides
        return loads(raw)


def _parse(raw: bytes) -> Any:
    """A document from this thread's parser (reused: setting one up costs more than a parse)."""
    parser = getattr(_local, "parser", None)
    if parser is not None:
        try:
            return parser.parse(raw)
        except RuntimeError:  # a proxy of its last document is still alive somewhere
            pass
    parser = _local.parser = _simdjson.Parser()
    return parser.parse(raw)


def _plain(node: Any, arrays: list[int]) -> Any:
    """The node as loads would read it; `arrays` counts the arrays seen."""
    if isinstance(node, _simdjson.Object):
        keys = list(node.keys())
        if len(set(keys)) != len(keys) or any("\x00" in key for key in keys):
            # loads keeps a repeated key's last value, simdjson's lookup the first; and
            # its lookup stops a key at a NUL character.
            raise ValueError("a key simdjson cannot look up as loads reads it")
        for key in keys:
            key.encode()  # refuses a lone surrogate, as loads does
        return {key: _plain(node[key], arrays) for key in keys}
    if isinstance(node, _simdjson.Array):
        return _array(node, arrays)
    if isinstance(node, str):
        node.encode()  # refuses a lone surrogate, as loads does
    return node


def _array(node: Any, arrays: list[int]) -> Any:
    arrays[0] += 1
    count = len(node)
    if count < _SMALL_ARRAY:
        return [_plain(item, arrays) for item in node]
    import numpy as np

    # Raises for anything but numbers (then loads, faster at objects and text, takes over).
    flat = np.frombuffer(node.as_buffer(of_type="d"), dtype=np.float64)
    first = node[0]
    if not isinstance(first, _simdjson.Array):
        if flat.size == count:
            return flat.copy()
    else:
        width = len(first)
        del first
        if flat.size == width * count and set(map(len, node)) == {width}:
            arrays[0] += count
            return flat.reshape(count, width).copy()
    raise ValueError("numbers nested unevenly")
