"""The wheelhouse an image installs from: scalepipe's own wheel and, for Linux x86-64
and the image's Python, every library the deployment needs, at the versions installed
here (the ones the tests ran against). It is made outside the image, so the image
build itself needs no network."""

from __future__ import annotations

import importlib.metadata
import re
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

import scalepipe
from scalepipe.errors import PackageError
from scalepipe.version import __version__

# Every manylinux tag Debian 12's glibc (2.36) runs; pip matches --platform exactly.
PLATFORMS = [f"manylinux_2_{minor}_x86_64" for minor in range(36, 16, -1)] + [
    "manylinux2014_x86_64"
]
PYTHON = "3.11"  # the Python of Debian 12 and of python:3.11-slim-bookworm
REQUIREMENTS = "requirements.txt"


def make_wheelhouse(
    folder: Path, extras: Sequence[str], libraries: Sequence[str], *, platform: bool = True
) -> list[str]:
    """Fill `folder` with the wheels; returns the requirement lines (also written to
    folder/requirements.txt). `platform`: fetch the rest too (else scalepipe's wheel
    only, for a platform that installs from an index itself, as Heroku does)."""
    folder.mkdir(parents=True, exist_ok=True)
    own = _own_wheel(folder)
    pins = _installed_versions()
    wanted = [f"scalepipe[{','.join(extras)}]=={__version__}"] + [
        f"{library}=={pins[_key(library)]}" if _key(library) in pins else library
        for library in libraries
    ]
    if platform:
        with tempfile.NamedTemporaryFile("w", suffix=".txt") as constraints:
            # Every library at the version installed here, transitive ones included.
            constraints.write(
                "\n".join(
                    f"{name}=={version}" for name, version in pins.items() if name != "scalepipe"
                )
            )
            constraints.flush()
            _pip(
                "download",
                "--quiet",
                "--dest",
                str(folder),
                "--find-links",
                str(folder),
                "--only-binary=:all:",
                *(f"--platform={tag}" for tag in PLATFORMS),
                "--implementation",
                "cp",
                "--python-version",
                PYTHON,
                "--constraint",
                constraints.name,
                *wanted,
            )
    (folder / REQUIREMENTS).write_text("\n".join(wanted) + "\n")
    return [own.name, *wanted]


def _own_wheel(folder: Path) -> Path:
    """scalepipe's wheel, built from the source tree this scalepipe runs from, or
    downloaded at this version when it was installed from an index."""
    source = Path(scalepipe.__file__).resolve().parent.parent
    if (source / "pyproject.toml").is_file():
        _pip("wheel", "--quiet", "--no-deps", "--wheel-dir", str(folder), str(source))
    else:
        _pip("download", "--quiet", "--no-deps", "--dest", str(folder), f"scalepipe=={__version__}")
    found = sorted(folder.glob(f"scalepipe-{__version__}-*.whl"))
    if not found:
        raise PackageError(f"no wheel of scalepipe {__version__} was made in {folder}")
    return found[-1]


def _installed_versions() -> dict[str, str]:
    return {
        _key(dist.metadata["Name"]): dist.version
        for dist in importlib.metadata.distributions()
        if dist.metadata["Name"]
    }


def _key(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _pip(*args: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "pip", *args], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        said = [line for line in result.stderr.strip().splitlines() if "WARNING" not in line]
        raise PackageError(
            f"pip {args[0]} failed: {said[-1] if said else 'no output'} "
            "(the wheelhouse needs the package index, or a pip configured for a mirror)"
        )
