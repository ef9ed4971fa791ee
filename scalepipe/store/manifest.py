"""manifest.json: the sha256 of every file of a version, checked before anything is loaded."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping

from scalepipe.store.errors import IntegrityError

MANIFEST = "manifest.json"
# A plain relative name inside the version folder: no absolute paths, no '..', no
# hidden names, nothing a writer to the store could use to point outside the folder.
ENTRY = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}(/[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}){0,7}")


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def build(files: Mapping[str, bytes]) -> bytes:
    return json.dumps(
        {"files": {path: sha256(data) for path, data in sorted(files.items())}}, indent=1
    ).encode()


def parse(data: bytes) -> dict[str, str]:
    try:
        files = json.loads(data)["files"]
    except (ValueError, KeyError, TypeError) as error:
        raise IntegrityError(f"{MANIFEST} is unreadable: {error}") from error
    if not isinstance(files, dict):
        raise IntegrityError(f"{MANIFEST} is unreadable: 'files' is not a mapping")
    for path in files:
        if not ENTRY.fullmatch(path) or ".." in path:
            raise IntegrityError(
                f"{MANIFEST} lists {path[:200]!r}, which is not a plain relative name inside "
                "the version folder; nothing was loaded"
            )
    return {str(path): str(digest) for path, digest in files.items()}


def check(where: str, path: str, data: bytes, expected: Mapping[str, str]) -> bytes:
    """Return `data` if it matches the manifest; raise IntegrityError naming the file if not."""
    if path not in expected:
        raise IntegrityError(f"{where}: {path} is not listed in {MANIFEST}")
    if sha256(data) != expected[path]:
        raise IntegrityError(
            f"{where}: {path} does not match its sha256 in {MANIFEST}; the file was changed "
            "after publishing. Nothing was loaded."
        )
    return data
