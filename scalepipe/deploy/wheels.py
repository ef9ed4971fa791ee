"""The wheelhouse an image installs from: scalepipe's own wheel and, for Linux x86-64
and the image's Python, every library the deployment needs, at the versions installed
here (the ones the tests ran against). It is made outside the image, so the image
build itself needs no network."""

from __future__ import annotations

import importlib.metadata
import re
import tempfile
from collections.abc import Sequence
from pathlib import Path

import scalepipe
from scalepipe.errors import PackageError
from scalepipe.predict.requirements import pip_for_platform, run_pip
from scalepipe.version import __version__

PYTHON = "3.11"  # the Python of Debian 12 and of python:3.11-slim-bookworm
GLIBC_MINOR = 36  # Debian 12's glibc, 2.36


def make_wheelhouse(
    folder: Path, extras: Sequence[str], libraries: Sequence[str], *, platform: bool = True
) -> list[str]:
    """Fill `folder` with the wheels; returns the requirement lines that install from it.
    `platform`: fetch the rest too (else scalepipe's wheel only, for a platform that
    installs from an index itself, as Heroku does)."""
    folder.mkdir(parents=True, exist_ok=True)
    _own_wheel(folder)
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
            run_pip(
                "download",
                "--quiet",
                f"--dest={folder}",
                f"--find-links={folder}",
                *pip_for_platform(PYTHON, GLIBC_MINOR),
                f"--constraint={constraints.name}",
                *wanted,
                purpose=f"the image's wheelhouse (Python {PYTHON}, Debian 12)",
            )
    return wanted


def _own_wheel(folder: Path) -> None:
    """scalepipe's wheel, built from the source tree this scalepipe runs from, or
    downloaded at this version when it was installed from an index."""
    source = Path(scalepipe.__file__).resolve().parent.parent
    if (source / "pyproject.toml").is_file():
        run_pip(
            "wheel",
            "--quiet",
            "--no-deps",
            f"--wheel-dir={folder}",
            str(source),
            purpose="scalepipe's own wheel",
        )
    else:
        run_pip(
            "download",
            "--quiet",
            "--no-deps",
            f"--dest={folder}",
            f"scalepipe=={__version__}",
            purpose="scalepipe's own wheel",
        )
    if not any(folder.glob(f"scalepipe-{__version__}-*.whl")):
        raise PackageError(f"no wheel of scalepipe {__version__} was made in {folder}")


def _installed_versions() -> dict[str, str]:
    return {
        _key(dist.metadata["Name"]): dist.version
        for dist in importlib.metadata.distributions()
        if dist.metadata["Name"]
    }


def _key(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()
