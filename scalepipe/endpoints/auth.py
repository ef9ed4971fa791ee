"""API keys: Authorization: Bearer KEY or X-API-Key: KEY, compared in constant time."""

from __future__ import annotations

import hmac
import os
from collections.abc import Iterable
from pathlib import Path

from scalepipe.errors import ServeError


class ApiKeys:
    def __init__(self, keys: Iterable[str] = ()) -> None:
        self._keys = [key.encode() for key in keys if key]

    @classmethod
    def from_file(cls, path: Path) -> ApiKeys:
        """One key a line; blank lines and lines starting with # are skipped."""
        try:
            text = path.read_text()
        except OSError as error:
            raise ServeError(f"cannot read the API key file {path}: {error.strerror}") from error
        return cls._parse(text.splitlines(), f"the API key file {path}")

    @classmethod
    def from_env(cls, variable: str) -> ApiKeys:
        """Keys in an environment variable, one a line or comma-separated: how ECS and
        Cloud Run hand a container its secrets."""
        text = os.environ.get(variable)
        if text is None:
            raise ServeError(
                f"the environment variable {variable} that should hold the API keys is not set"
            )
        return cls._parse(
            text.replace(",", "\n").splitlines(), f"the environment variable {variable}"
        )

    @classmethod
    def _parse(cls, lines: list[str], origin: str) -> ApiKeys:
        keys = [
            line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")
        ]
        if not keys:
            raise ServeError(f"{origin} holds no key")
        return cls(keys)

    @property
    def enabled(self) -> bool:
        return bool(self._keys)

    def __repr__(self) -> str:
        return f"ApiKeys({len(self._keys)} keys)"

    def allows(self, headers: Iterable[tuple[bytes, bytes]]) -> bool:
        """True if no keys are configured or the request carries one of them."""
        if not self._keys:
            return True
        offered = b""
        for name, value in headers:
            if name == b"authorization" and value[:7].lower() == b"bearer ":
                offered = value[7:].strip()
            elif name == b"x-api-key":
                offered = value.strip()
        # Compare against every key, so the time taken says nothing about which matched.
        matched = False
        for key in self._keys:
            matched |= hmac.compare_digest(offered, key)
        return matched

    def session_token(self, offered: str) -> str | None:
        """A browser session's token for a valid key (an HMAC of the key, so the cookie
        that holds it is not the key itself), or None for a wrong one."""
        if not self._keys:
            return None
        matched = None
        for key in self._keys:
            if hmac.compare_digest(offered.encode(), key):
                matched = key
        return _token(matched) if matched is not None else None

    def allows_session(self, token: bytes) -> bool:
        """True if no keys are configured or `token` is the session token of one."""
        if not self._keys:
            return True
        matched = False
        for key in self._keys:
            matched |= hmac.compare_digest(token, _token(key).encode())
        return matched


def _token(key: bytes) -> str:
    return hmac.new(key, b"scalepipe browser session", "sha256").hexdigest()
