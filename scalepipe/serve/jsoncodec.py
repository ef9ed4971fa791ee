"""JSON for the serving path: orjson when installed (several times faster), else the
standard library, so that a serverless package of a linear model needs no compiled
dependency at all."""

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

    def _dumps(payload: Any) -> bytes:
        return json.dumps(payload, separators=(",", ":")).encode()

    loads, dumps, JSONDecodeError = json.loads, _dumps, json.JSONDecodeError
