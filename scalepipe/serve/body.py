"""Reading a request body within a limit: one rule for the model routes and the apps
mounted beside them, so that neither a declared nor a chunked body can outgrow it."""

from __future__ import annotations

from collections.abc import Iterable

from scalepipe.endpoints.http import HttpError
from scalepipe.types import Header, Receive


async def read_body(method: str, receive: Receive, headers: Iterable[Header], limit: int) -> bytes:
    """The whole body, or HttpError 413 as soon as it is known to be over `limit` bytes."""
    has_body = method != "GET"
    for name, value in headers:
        if name == b"content-length":
            if value.isdigit() and int(value) > limit:
                raise HttpError(413, f"the body is over the {limit:,}-byte limit")
            has_body = value != b"0"
        elif name == b"transfer-encoding":
            has_body = True
    if not has_body:  # the common GET: no receive() to wait for
        return b""
    chunks = []
    size = 0
    while True:
        message = await receive()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise HttpError(413, f"the body is over the {limit:,}-byte limit")
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)
