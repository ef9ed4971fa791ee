"""Redis Streams: the default broker (a Redis server is all a stream job needs).

A reader is a consumer in a consumer group: it first re-reads the messages it was given
and had not acknowledged when it last stopped (XREADGROUP from 0), then takes over
those a dead consumer of the group left pending for `claim_idle` seconds (XAUTOCLAIM),
then reads new ones (XREADGROUP >). A writer appends entries of one field, `data`; results
are appended at most once per id within the `dedupe` window (a Lua script that sets a
marker key with SET NX EX and appends only when the marker is new, both in one atomic
step), so that a message delivered twice gives one result.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Sequence
from typing import Any

from scalepipe.config import redact_url
from scalepipe.errors import StreamError
from scalepipe.stream.messages import Message
from scalepipe.stream.urls import Address, Start

DATA = b"data"
DEDUPE_SECONDS = 600
CLAIM_IDLE_SECONDS = 30.0
_CHUNK = 1_000
# Both scripts take the records as two arguments (the ids, the bodies, each joined by a
# newline, which neither holds): one argument per record costs the client more than
# scoring them. Results are appended as entries with one field, `data`.
# Results of messages read from the same server: each message is acknowledged and its
# result appended in one atomic step, and only if the message was still pending (another
# consumer that took it over may have done it), so that no message gives two results.
# KEYS: source, results. ARGV: group, entry ids, bodies, maxlen.
_ACK_AND_APPEND = r"""
local group, bodies, maxlen = ARGV[1], ARGV[3], tonumber(ARGV[4])
local at, added = 1, 0
for entry in string.gmatch(ARGV[2], "[^\n]+") do
  local stop = string.find(bodies, "\n", at, true) or (#bodies + 1)
  if redis.call('XACK', KEYS[1], group, entry) == 1 then
    local body = string.sub(bodies, at, stop - 1)
    if maxlen > 0 then
      redis.call('XADD', KEYS[2], 'MAXLEN', '~', maxlen, '*', 'data', body)
    else
      redis.call('XADD', KEYS[2], '*', 'data', body)
    end
    added = added + 1
  end
  at = stop + 1
end
return added
"""
# Results from elsewhere: appended once per id within `ttl` seconds (a marker key per id).
# KEYS: results, the markers' prefix. ARGV: ttl, maxlen, ids, bodies.
_APPEND_ONCE = r"""
local ttl, bodies, maxlen = ARGV[1], ARGV[4], tonumber(ARGV[2])
local at, added = 1, 0
for id in string.gmatch(ARGV[3], "[^\n]+") do
  local stop = string.find(bodies, "\n", at, true) or (#bodies + 1)
  if ttl == '0' or redis.call('SET', KEYS[2] .. id, '', 'NX', 'EX', ttl) then
    local body = string.sub(bodies, at, stop - 1)
    if maxlen > 0 then
      redis.call('XADD', KEYS[1], 'MAXLEN', '~', maxlen, '*', 'data', body)
    else
      redis.call('XADD', KEYS[1], '*', 'data', body)
    end
    added = added + 1
  end
  at = stop + 1
end
return added
"""


class RedisStream:
    reads_ahead = True

    def __init__(
        self,
        address: Address,
        *,
        group: str | None = None,
        consumer: str | None = None,
        start: Start = "earliest",
        idempotent: bool = True,
    ) -> None:
        import redis

        self.address = address
        self.stream = address.name
        self.group = group
        self.consumer = consumer or socket.gethostname()
        self.claim_idle = float(address.options.get("claim_idle", CLAIM_IDLE_SECONDS))
        self.dedupe = int(float(address.options.get("dedupe", DEDUPE_SECONDS))) if idempotent else 0
        self.maxlen = int(float(address.options.get("maxlen", 0)))
        self.client: Any = redis.Redis.from_url(
            address.server, socket_timeout=30, socket_connect_timeout=5
        )
        self._scripts: dict[str, Any] = {}
        # Entries as Redis sends them ([id, [field, value, ...]]): redis-py's parsing into
        # dicts costs more per message than scoring it.
        for command in ("XREADGROUP", "XAUTOCLAIM"):
            self.client.set_response_callback(command, _raw)
        self._own_pending = True
        self._claim_cursor = "0-0"
        self._next_claim = 0.0
        try:
            self.client.ping()
            if group is not None:
                self._join(start)
        except redis.RedisError as error:
            raise StreamError(f"cannot use Redis at {redact_url(address.url)}: {error}") from error

    def _join(self, start: Start) -> None:
        import redis

        try:
            self.client.xgroup_create(
                self.stream, self.group, id="0" if start == "earliest" else "$", mkstream=True
            )
        except redis.ResponseError as error:
            if "BUSYGROUP" not in str(error):  # the group exists: it goes on where it was
                raise

    def describe(self) -> dict[str, Any]:
        return {"kind": "redis", "url": redact_url(self.address.url), "stream": self.stream,
                "group": self.group}  # fmt: skip

    def read(self, count: int, timeout: float) -> list[Message]:
        if self.group is None:
            raise StreamError(f"reading {self.address.shown()} needs a consumer group")
        if self._own_pending:
            entries = self._read_group("0", count, None)
            if entries:
                return self._messages(entries)
            self._own_pending = False
        now = time.monotonic()
        if now >= self._next_claim:
            claimed = self._claim(count)
            if claimed:
                return claimed
            self._next_claim = now + max(self.claim_idle / 2, 0.5)
        return self._messages(self._read_group(">", count, timeout))

    def _read_group(self, since: str, count: int, timeout: float | None) -> list[Any]:
        block = None if timeout is None else max(1, int(timeout * 1000))
        answer = self.client.xreadgroup(
            self.group, self.consumer, {self.stream: since}, count=count, block=block
        )
        if not answer:
            return []
        # RESP3 answers with a map of stream to entries, RESP2 with a list of pairs.
        entries: list[Any] = (
            next(iter(answer.values())) if isinstance(answer, dict) else answer[0][1]
        )
        return entries

    def _claim(self, count: int) -> list[Message]:
        """Messages other consumers left pending for claim_idle seconds, now ours."""
        cursor, entries, *_ = self.client.xautoclaim(
            self.stream, self.group, self.consumer, int(self.claim_idle * 1000),
            start_id=self._claim_cursor, count=count,
        )  # fmt: skip
        self._claim_cursor = cursor.decode() if isinstance(cursor, bytes) else str(cursor)
        if self._claim_cursor == "0-0":
            self._next_claim = time.monotonic() + max(self.claim_idle / 2, 0.5)
        return self._messages(entries)

    def _messages(self, entries: list[Any]) -> list[Message]:
        messages = []
        trimmed = []
        for entry_id, fields in entries:
            if not fields:  # trimmed from the stream while pending: nothing left to score
                trimmed.append(entry_id)
                continue
            if len(fields) == 2 or fields[0] == DATA:
                body = fields[1]
            else:
                body = dict(zip(fields[::2], fields[1::2], strict=True)).get(DATA, b"")
            messages.append(Message(entry_id, body))
        if trimmed:
            self.client.xack(self.stream, self.group, *trimmed)
        return messages

    def ack(self, messages: Sequence[Message]) -> None:
        for start in range(0, len(messages), _CHUNK):
            chunk = messages[start : start + _CHUNK]
            self.client.xack(self.stream, self.group, *(m.handle for m in chunk))

    def publish(self, records: Sequence[tuple[str, bytes]]) -> None:
        if self.dedupe == 0:
            pipe = self.client.pipeline(transaction=False)
            trim = {"maxlen": self.maxlen, "approximate": True} if self.maxlen else {}
            for _, body in records:
                pipe.xadd(self.stream, {DATA: body}, **trim)
            pipe.execute()
            return
        script = self._script(_APPEND_ONCE)
        markers = f"{self.stream}:seen:"
        for start in range(0, len(records), _CHUNK):
            chunk = records[start : start + _CHUNK]
            ids = "\n".join(id for id, _ in chunk)
            bodies = b"\n".join(body for _, body in chunk)
            script(keys=[self.stream, markers], args=[self.dedupe, self.maxlen, ids, bodies])

    def publish_and_ack(
        self, results: RedisStream, records: Sequence[tuple[str, bytes]],
        messages: Sequence[Message],
    ) -> bool:  # fmt: skip
        """Append the results of `messages` to `results` and acknowledge the messages in
        one atomic step, when both streams live on one server; False otherwise."""
        if not isinstance(results, RedisStream) or results.address.server != self.address.server:
            return False
        script = self._script(_ACK_AND_APPEND)
        for start in range(0, len(records), _CHUNK):
            chunk = records[start : start + _CHUNK]
            entries = b"\n".join(message.handle for message in messages[start : start + _CHUNK])
            bodies = b"\n".join(body for _, body in chunk)
            script(keys=[self.stream, results.stream],
                   args=[self.group, entries, bodies, results.maxlen])  # fmt: skip
        return True

    def _script(self, text: str) -> Any:
        found = self._scripts.get(text)
        if found is None:
            found = self._scripts[text] = self.client.register_script(text)
        return found

    def lag(self) -> int | None:
        """Entries of the stream the group has not read yet (Redis 7+)."""
        if self.group is None:
            return None
        for info in self.client.xinfo_groups(self.stream):
            name = info.get("name")
            if (name.decode() if isinstance(name, bytes) else name) == self.group:
                lag = info.get("lag")
                return None if lag is None else int(lag)
        return None

    def close(self) -> None:
        self.client.close()


def _raw(response: Any, **options: Any) -> Any:
    return response
