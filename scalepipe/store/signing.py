"""Signed manifests: proof that a version was published by someone holding the key.

The manifest's hashes catch corruption, but anyone who can write the store can change
a file and rewrite the hashes with it. With a signing key configured, publish writes
manifest.sig, an HMAC-SHA256 (the standard library's hmac) over the model's name, its
version and the manifest's exact bytes; every load with a key configured refuses a
version whose signature is missing or wrong, before it reads any other file. Binding
the name and version stops a signed version from being copied under another name or
number.

The key comes from SCALEPIPE_SIGNING_KEY (the key itself) or SCALEPIPE_SIGNING_KEY_FILE
(a file holding it); it is never logged or written to the store, only a short id of
it (a hash prefix) that says which key signed a version.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from collections.abc import Mapping
from pathlib import Path

from scalepipe.store.errors import IntegrityError, StoreError

SIGNATURE = "manifest.sig"
KEY_ENV = "SCALEPIPE_SIGNING_KEY"
KEY_FILE_ENV = "SCALEPIPE_SIGNING_KEY_FILE"
ALGORITHM = "hmac-sha256"
MIN_KEY_BYTES = 16


class SigningKey:
    """A secret key; its repr shows only its id."""

    def __init__(self, secret: bytes) -> None:
        if len(secret) < MIN_KEY_BYTES:
            raise StoreError(
                f"the signing key must be at least {MIN_KEY_BYTES} bytes; generate one with "
                "`python -c 'import secrets; print(secrets.token_hex(32))'`"
            )
        self._secret = secret
        self.id = hashlib.sha256(b"scalepipe key id\n" + secret).hexdigest()[:16]

    def __repr__(self) -> str:
        return f"SigningKey(id={self.id})"

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> SigningKey | None:
        env = os.environ if environ is None else environ
        if env.get(KEY_ENV):
            return cls(env[KEY_ENV].strip().encode())
        if env.get(KEY_FILE_ENV):
            path = Path(env[KEY_FILE_ENV]).expanduser()
            try:
                return cls(path.read_bytes().strip())
            except OSError as error:
                raise StoreError(f"cannot read the signing key file {path}: {error}") from None
        return None

    def sign(self, name: str, version: int, manifest: bytes) -> bytes:
        mac = self._mac(name, version, manifest)
        payload = {"algorithm": ALGORITHM, "key_id": self.id, "mac": mac}
        return json.dumps(payload, indent=1).encode()

    def check(self, name: str, version: int, manifest: bytes, signature: bytes | None) -> None:
        where = f"{name}:{version}"
        if signature is None:
            raise IntegrityError(
                f"{where} is not signed, and this process has a signing key: it loads only "
                "versions published with that key (sign old ones with `scalepipe models sign`)"
            )
        try:
            raw = json.loads(signature)
            mac, algorithm = str(raw["mac"]), raw["algorithm"]
        except (ValueError, KeyError, TypeError):
            raise IntegrityError(f"{where}: {SIGNATURE} is unreadable") from None
        if algorithm != ALGORITHM or not hmac.compare_digest(
            mac, self._mac(name, version, manifest)
        ):
            raise IntegrityError(
                f"{where}: the signature does not match this key (id {self.id}): the version "
                "was changed after publishing or signed with another key. Nothing was loaded."
            )

    def _mac(self, name: str, version: int, manifest: bytes) -> str:
        message = f"scalepipe manifest\n{name}\n{version}\n".encode() + manifest
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()
