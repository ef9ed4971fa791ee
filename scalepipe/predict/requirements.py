"""What a process needs installed, besides scalepipe's core, to serve one model version:
the same answer for a function package and a container image."""

from __future__ import annotations

from scalepipe.store import ModelStore

# The libraries that load each artifact format; a linear or logistic model on the fast
# path needs none of them (it scores with plain arithmetic).
FORMAT_LIBRARIES = {
    "skops": ("numpy", "scikit-learn", "skops"),
    "keras": ("numpy", "keras", "torch"),
    "pickle": ("numpy", "scikit-learn", "cloudpickle"),
}
STORE_LIBRARIES = {"s3": ("s3fs",), "gs": ("gcsfs",)}


def serving_libraries(
    models: ModelStore, name: str, version: int, *, bundled: bool, run_from: str | None
) -> tuple[str, ...]:
    """Distributions to install for `name:version`. `bundled`: the model's files travel
    with the code; else they are read at start from `run_from` (default: `models`)."""
    card = models.card(name, version)
    needs: list[str] = []
    if card.fast_path is None:
        needs += FORMAT_LIBRARIES[card.artifact_format]
    if card.features is not None:  # feature rows are computed from raw rows at serving time
        needs += [library for library in ("numpy", "pyarrow") if library not in needs]
    if not bundled:
        remote = (run_from or models.url).split("://", 1)[0]
        needs += ["fsspec", *STORE_LIBRARIES.get(remote, ())]
    return tuple(needs)
