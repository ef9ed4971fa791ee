"""What a process needs installed, besides scalepipe's core, to serve one model version,
and pip fetching it for the platform that runs it: the same answers for a function
package and a container image."""

from __future__ import annotations

import subprocess
import sys

from scalepipe.errors import PackageError
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


def manylinux_tags(glibc_minor: int) -> list[str]:
    """Every x86-64 manylinux tag a Linux with glibc 2.`glibc_minor` runs, newest first:
    pip's --platform matches a wheel's tag exactly, so each is named (numpy ships some
    releases as manylinux_2_28 only, which manylinux2014 alone would miss)."""
    return [f"manylinux_2_{minor}_x86_64" for minor in range(glibc_minor, 16, -1)] + [
        "manylinux2014_x86_64"
    ]


def pip_for_platform(python: str, glibc_minor: int) -> list[str]:
    """pip options that take binary wheels for CPython `python` on that glibc."""
    return [
        "--only-binary=:all:",
        *(f"--platform={tag}" for tag in manylinux_tags(glibc_minor)),
        "--implementation=cp",
        f"--python-version={python}",
    ]


def run_pip(*args: str, purpose: str) -> None:
    """Run this Python's pip; a failure names what it was for and pip's last word."""
    result = subprocess.run(
        [sys.executable, "-m", "pip", *args], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        said = [line for line in result.stderr.strip().splitlines() if "WARNING" not in line]
        raise PackageError(
            f"pip {args[0]} failed for {purpose}: {said[-1] if said else 'no output'} "
            "(it needs the package index, or a pip configured for a mirror)"
        )
