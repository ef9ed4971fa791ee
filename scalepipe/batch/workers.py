"""What the distributed engines (Spark, Beam) share: the model shipped to the workers
and loaded once per worker process, and a source read in parts on the workers."""

from __future__ import annotations

import dataclasses
import hashlib
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa

from scalepipe.config import Settings
from scalepipe.errors import DatasetError
from scalepipe.io.plain import plain_batch
from scalepipe.io.sources import FileSource
from scalepipe.io.uris import open_source
from scalepipe.predict.predictor import LoadedVersion, Predictor
from scalepipe.store.files import write_tree
from scalepipe.store.store import ModelStore
from scalepipe.types import Source

# The model on the workers


def model_files(predictor: Predictor) -> dict[str, bytes]:
    """The loaded version's files as a one-version store (manifest and signature
    included), read and checked once on the driver."""
    with tempfile.TemporaryDirectory(prefix="scalepipe-ship-") as folder:
        root = Path(folder)
        predictor.store.export(predictor.name, predictor.version, root)
        return {
            str(path.relative_to(root)): path.read_bytes()
            for path in sorted(root.rglob("*"))
            if path.is_file()
        }


_LOADED: dict[str, LoadedVersion] = {}
_loaded_lock = threading.Lock()


def worker_model(files: dict[str, bytes]) -> LoadedVersion:
    """Load the shipped version once per worker process (cached by the sha256 of its
    files): written into a folder of the worker's own, then loaded and checked against
    its manifest like any store's version."""
    digest = hashlib.sha256()
    for path in sorted(files):
        digest.update(path.encode() + b"\0" + hashlib.sha256(files[path]).digest())
    key = digest.hexdigest()
    with _loaded_lock:
        if key not in _LOADED:
            with tempfile.TemporaryDirectory(prefix=f"scalepipe-model-{key[:12]}-") as temp:
                folder = Path(temp)
                write_tree(
                    folder,
                    files,
                    lambda path: DatasetError(f"a shipped model file leaves its folder: {path!r}"),
                )
                name, version = next(
                    (Path(p).parts[0], int(Path(p).parts[1]))
                    for p in files
                    if len(Path(p).parts) > 2
                )
                _LOADED[key] = Predictor.load(
                    f"{name}:{version}", store=ModelStore(str(folder))
                ).current
        return _LOADED[key]


# A source read in parts


def open_on_worker(text: str, warehouse: str | None) -> Source:
    """The Source a string names, opened on a worker with the driver's warehouse."""
    settings = Settings.load()
    if warehouse:
        settings = dataclasses.replace(settings, warehouse=warehouse)
    return open_source(text, settings=settings)


def partitions(source: Source) -> list[str | None]:
    """The parts a source is read in: one per file of a file source, else one (None)."""
    if isinstance(source, FileSource):
        return [str(name) for name in source._dataset().files]
    return [None]


def read_partition(source: Source, part: str | None) -> Iterator[pa.RecordBatch]:
    """One part's rows, with plain types (no dictionaries, no large strings)."""
    if part is not None and isinstance(source, FileSource):
        import pyarrow.dataset as ds

        dataset = source._dataset()
        piece = ds.dataset(
            part, schema=dataset.schema, format=dataset.format, filesystem=dataset.filesystem
        )
        batches: Iterator[pa.RecordBatch] = piece.to_batches()
    else:
        batches = source.read_batches()
    for batch in batches:
        yield plain_batch(batch)
