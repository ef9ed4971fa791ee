"""JSON for the serving path: orjson when installed (several times faster), else the
standard library, so that a serverless package of a linear model needs no compiled
dependency at all.

Both answer the same: every body that is not JSON the server can use raises
JSONDecodeError (a ValueError), whether it is malformed, nested past the parser's depth,
or holds a number that is infinite as a double (1e400) or an integer too long to read.
"""

from __future__ import annotations

import json
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
