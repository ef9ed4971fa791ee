"""The store's files: a local folder through the os module, anything else through fsspec.

A local store avoids importing fsspec (0.3 s here), which keeps cold starts short.
Every backend offers the two primitives publishing relies on: create a file only if it
does not exist (claiming a version number), and replace a file in one step (the
manifest that makes a version visible, the aliases).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from scalepipe.store.errors import IntegrityError, StoreError


class StoreFiles:
    """Files under a root, addressed by '/'-separated relative paths."""

    url: str

    def read(self, path: str) -> bytes:
        raise NotImplementedError

    def write(self, path: str, data: bytes) -> None:
        raise NotImplementedError

    def replace(self, path: str, data: bytes) -> None:
        """Write `data` so that readers see the old content or the new, never a part."""
        raise NotImplementedError

    def create(self, path: str, data: bytes) -> bool:
        """Write `data` only if `path` does not exist; False if it already did."""
        raise NotImplementedError

    def exists(self, path: str) -> bool:
        raise NotImplementedError

    def children(self, path: str) -> list[str]:
        """Names directly under a folder (files and folders), empty if it does not exist."""
        raise NotImplementedError

    def files_under(self, path: str) -> list[str]:
        """Every file below a folder, as paths relative to that folder."""
        raise NotImplementedError

    def folders_holding(self, path: str, file_name: str) -> list[str]:
        """Names of the folders directly under `path` that hold `file_name`."""
        return [
            child for child in self.children(path) if self.exists(f"{path}/{child}/{file_name}")
        ]

    def remove(self, path: str) -> None:
        raise NotImplementedError

    def local_folder(self, path: str) -> Path | None:
        """The folder on local disk, where there is one (MLflow loads from it directly)."""
        return None


def relative(path: str) -> str:
    """`path` if it is a plain '/'-separated path below the root; refused otherwise."""
    if path and (path.startswith("/") or any(p in ("", ".", "..") for p in path.split("/"))):
        raise StoreError(f"{path[:200]!r} is not a plain relative path inside the store")
    return path


def write_tree(
    folder: Path, files: Mapping[str, bytes], leaves: Callable[[str], Exception]
) -> None:
    """Write `files` (relative path -> bytes) under `folder`; a path that would land
    outside it raises `leaves(path)` before anything is written."""
    root = folder.resolve()
    targets = {path: (root / path).resolve() for path in files}
    for path, target in targets.items():
        if not target.is_relative_to(root):
            raise leaves(path)
    for path, target in targets.items():
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(files[path])


class LocalFiles(StoreFiles):
    def __init__(self, root: str) -> None:
        self.root = Path(root).expanduser()
        self.url = str(self.root)

    def _path(self, path: str) -> Path:
        return self.root / relative(path)

    def read(self, path: str) -> bytes:
        """The file's bytes; a symbolic link anywhere below the root is refused, so that a
        version folder cannot borrow another model's files."""
        target = self.root
        for part in relative(path).split("/"):
            target = target / part
            if target.is_symlink():
                raise IntegrityError(
                    f"{target} is a symbolic link; a store holds plain files and folders only"
                )
        handle = os.open(target, os.O_RDONLY | os.O_NOFOLLOW)
        with os.fdopen(handle, "rb") as file:
            return file.read()

    def write(self, path: str, data: bytes) -> None:
        target = self._path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)

    def replace(self, path: str, data: bytes) -> None:
        target = self._path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        handle, partial = tempfile.mkstemp(
            dir=target.parent, prefix=f".{target.name}.", suffix=".part"
        )
        try:
            with os.fdopen(handle, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            Path(partial).replace(target)
        except BaseException:
            Path(partial).unlink(missing_ok=True)
            raise

    def create(self, path: str, data: bytes) -> bool:
        target = self._path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            handle = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            return False
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        return True

    def exists(self, path: str) -> bool:
        return self._path(path).exists()

    def children(self, path: str) -> list[str]:
        folder = self._path(path)
        return sorted(entry.name for entry in folder.iterdir()) if folder.is_dir() else []

    def files_under(self, path: str) -> list[str]:
        folder = self._path(path)
        if not folder.is_dir():
            return []
        found = []
        for top, folders, files in os.walk(folder):
            links = [name for name in folders if Path(top, name).is_symlink()]
            found += [Path(top, name) for name in (*files, *links)]
        return sorted(p.relative_to(folder).as_posix() for p in found)

    def remove(self, path: str) -> None:
        self._path(path).unlink(missing_ok=True)

    def local_folder(self, path: str) -> Path | None:
        return self._path(path)


class RemoteFiles(StoreFiles):
    """s3://, gs://, memory:// and any other fsspec URL."""

    def __init__(self, url: str) -> None:
        import fsspec

        protocol = url.split("://", 1)[0]
        # Listings must be fresh: another process may have published a version since.
        options: dict[str, Any] = {} if protocol == "memory" else {"use_listings_cache": False}
        self.fs, root = fsspec.core.url_to_fs(url, **options)
        self.root = root.rstrip("/")
        self.url = url

    def _path(self, path: str) -> str:
        return f"{self.root}/{relative(path)}" if path else self.root

    def read(self, path: str) -> bytes:
        data: bytes = self.fs.cat_file(self._path(path))
        return data

    def write(self, path: str, data: bytes) -> None:
        self.fs.pipe_file(self._path(path), data)

    def replace(self, path: str, data: bytes) -> None:
        # One PUT of a whole object: object stores never show a partial object.
        self.fs.pipe_file(self._path(path), data)

    def create(self, path: str, data: bytes) -> bool:
        try:
            self.fs.pipe_file(self._path(path), data, mode="create")
        except FileExistsError:
            return False
        except OSError as error:
            # s3fs reports S3's 412 Precondition Failed (If-None-Match) as a plain OSError.
            if "PreconditionFailed" in str(error) or "412" in str(error):
                return False
            raise
        return True

    def exists(self, path: str) -> bool:
        return bool(self.fs.exists(self._path(path)))

    def children(self, path: str) -> list[str]:
        try:
            entries = self.fs.ls(self._path(path), detail=False)
        except FileNotFoundError:
            return []
        return sorted(str(entry).rstrip("/").rsplit("/", 1)[-1] for entry in entries)

    def files_under(self, path: str) -> list[str]:
        base = self._path(path)
        try:
            found = self.fs.find(base)
        except FileNotFoundError:
            return []
        prefix = base.rstrip("/") + "/"
        return sorted(str(item).split(prefix, 1)[-1] for item in found)

    def folders_holding(self, path: str, file_name: str) -> list[str]:
        # One listing of the whole tree instead of one request per folder.
        return sorted(
            found.split("/", 1)[0]
            for found in self.files_under(path)
            if found.count("/") == 1 and found.endswith(f"/{file_name}")
        )

    def remove(self, path: str) -> None:
        if self.fs.exists(self._path(path)):
            self.fs.rm_file(self._path(path))


def open_store_files(url: str) -> StoreFiles:
    if "://" in url and not url.startswith("file://"):
        return RemoteFiles(url)
    return LocalFiles(url.removeprefix("file://"))
