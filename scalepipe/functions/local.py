"""Run a function handler on this machine, on one event, as its platform would call it."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from scalepipe.errors import ScalepipeError


@dataclass
class LocalRequest:
    """What the Cloud Functions handlers read of a (Flask) request."""

    method: str = "POST"
    path: str = "/"
    headers: dict[str, str] = field(default_factory=lambda: {"content-type": "application/json"})
    query_string: bytes = b""
    body: bytes = b""

    def get_data(self) -> bytes:
        return self.body


def invoke(platform: str, event: Any) -> dict[str, Any]:
    """The handler's answer to `event`: a Lambda event, or the JSON body of a Cloud
    Functions call (posted to the function's root)."""
    if platform == "lambda":
        from scalepipe.functions import aws_lambda

        return aws_lambda.handler(event, None)
    if platform == "gcf":
        from scalepipe.functions import gcp

        body, status, headers = gcp.predict(LocalRequest(body=json.dumps(event).encode()))
        return {"status": status, "headers": headers, "body": json.loads(body)}
    raise ScalepipeError(f"platform must be lambda or gcf, not {platform!r}")
