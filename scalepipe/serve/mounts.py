"""Other ASGI apps served beside the model routes under a path prefix (the model app at
/app), behind the same API keys. A browser cannot send a bearer key with a page load,
so with keys configured a page under the prefix first asks for one: a small form whose
POST sets an HttpOnly, same-site cookie holding a token derived from the key (never the
key itself). Requests with the key in a header pass too."""

from __future__ import annotations

import html
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs

import orjson

from scalepipe.endpoints.auth import ApiKeys
from scalepipe.endpoints.http import HttpError
from scalepipe.serve.body import read_body
from scalepipe.types import Header, Receive, Scope, Send

COOKIE = b"scalepipe_session"
LOGIN = "/_login"
FORM_LIMIT = 4096


class Mounts:
    """Path prefix -> ASGI app; `find` the one a request is for, `forward` it there."""

    def __init__(self, apps: Mapping[str, Any], api_keys: ApiKeys, body_limit: int) -> None:
        self.apps = {"/" + prefix.strip("/"): app for prefix, app in apps.items()}
        self.api_keys = api_keys
        self.body_limit = body_limit

    def find(self, path: str) -> str | None:
        for prefix in self.apps:
            if path == prefix or path.startswith(prefix + "/"):
                return prefix
        return None

    async def forward(self, prefix: str, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope["path"]
        if path == prefix:  # the page lives at the prefix's folder
            await _answer(send, 308, b"", [(b"location", (prefix + "/").encode())])
            return
        if path == prefix + LOGIN:
            await self._login(prefix, scope, receive, send)
            return
        headers: list[Header] = scope["headers"]
        if not (self.api_keys.allows(headers) or self.api_keys.allows_session(_cookie(headers))):
            if scope["method"] == "GET" and path == prefix + "/":
                await _answer(send, 401, _form(prefix, ""), [_HTML])
            else:
                await _answer(send, 401, b'{"error": "missing or wrong API key"}', [_JSON])
            return
        try:
            body = await read_body(scope["method"], receive, headers, self.body_limit)
        except HttpError as error:
            await _answer(send, error.status, orjson.dumps({"error": str(error)}), [_JSON])
            return
        await self.apps[prefix](scope, _replay(body, receive), send)

    async def _login(self, prefix: str, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["method"] != "POST":
            await _answer(send, 405, b"", [(b"allow", b"POST")])
            return
        try:
            body = await read_body("POST", receive, scope["headers"], FORM_LIMIT)
        except HttpError:
            await _answer(send, 413, b"", [])
            return
        offered = parse_qs(body.decode("utf-8", "replace")).get("key", [""])[0]
        token = self.api_keys.session_token(offered)
        if token is None:
            await _answer(send, 401, _form(prefix, "That key is not one of this server's."),
                          [_HTML])  # fmt: skip
            return
        cookie = f"{COOKIE.decode()}={token}; Path={prefix}; HttpOnly; SameSite=Strict"
        await _answer(send, 303, b"", [(b"location", (prefix + "/").encode()),
                                       (b"set-cookie", cookie.encode())])  # fmt: skip


_HTML = (b"content-type", b"text/html; charset=utf-8")
_JSON = (b"content-type", b"application/json")


def _replay(body: bytes, receive: Receive) -> Receive:
    """A receive that hands the app the body already read, then the client's next
    message (its disconnect)."""
    pending = [{"type": "http.request", "body": body, "more_body": False}]

    async def replayed() -> dict[str, Any]:
        return pending.pop() if pending else await receive()

    return replayed


def _cookie(headers: list[Header]) -> bytes:
    for name, value in headers:
        if name == b"cookie":
            for part in value.split(b";"):
                key, _, token = part.strip().partition(b"=")
                if key == COOKIE:
                    return token
    return b""


def _form(prefix: str, message: str) -> bytes:
    action = html.escape(prefix + LOGIN, quote=True)
    note = f"<p style='color:#a00'>{html.escape(message)}</p>" if message else ""
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>scalepipe: API key</title>"
        "</head><body style='font-family:system-ui,sans-serif;margin:2em'>"
        "<h1 style='font-size:1.3em'>This server needs an API key</h1>"
        + note
        + f"<form method='post' action='{action}'><label>API key "
        "<input type='password' name='key' id='key' autofocus></label> "
        "<button type='submit'>open the app</button></form></body></html>"
    ).encode()


async def _answer(send: Send, status: int, body: bytes, headers: list[Header]) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [*headers, (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})
