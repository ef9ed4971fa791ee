"""Deployment packages: a Lambda zip and a Cloud Functions folder for one model.

A linear or logistic model scores with plain arithmetic and the standard library, so
its package holds scalepipe's own code and, bundled, the model's files: no pip, no
numpy, a zip of a few hundred kB. Any other model, or one fetched from a bucket at run
time, brings its libraries as manylinux wheels for the Lambda platform (pip --platform).
"""

from __future__ import annotations

import shutil
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import scalepipe
from scalepipe.errors import PackageError as PackageError
from scalepipe.predict.requirements import pip_for_platform, run_pip, serving_libraries
from scalepipe.store import ModelStore, ModelURI

MB = 1024 * 1024  # AWS states Lambda's limits in these units
LAMBDA_ZIPPED_LIMIT = 50 * MB
LAMBDA_UNZIPPED_LIMIT = 250 * MB
BUNDLED_STORE = "model_store"
# Lambda's Pythons 3.10 and 3.11 run on Amazon Linux 2 (glibc 2.26); 3.12 and later on Amazon
# Linux 2023 (glibc 2.34).
_LAMBDA_GLIBC_MINOR = {"3.10": 26, "3.11": 26}
_LAMBDA_ENTRY = '''"""AWS Lambda entry point written by `scalepipe package lambda`.

Handler setting: lambda_function.handler (echo: lambda_function.echo).
"""

import os
from pathlib import Path

{model_default}from scalepipe.functions.aws_lambda import echo, handler  # noqa: E402

__all__ = ["echo", "handler"]
'''
_GCF_ENTRY = '''"""Cloud Functions entry points written by `scalepipe package gcf`.

Entry points: predict, echo.
"""

import os
from pathlib import Path

{model_default}from scalepipe.functions.gcp import echo, predict  # noqa: E402

__all__ = ["echo", "predict"]
'''


@dataclass(frozen=True)
class BuiltPackage:
    path: Path
    zipped_bytes: int
    unzipped_bytes: int
    requirements: tuple[str, ...]
    model: str

    def to_dict(self) -> dict[str, object]:
        return {
            "path": str(self.path),
            "zipped_bytes": self.zipped_bytes,
            "unzipped_bytes": self.unzipped_bytes,
            "zipped_limit": LAMBDA_ZIPPED_LIMIT,
            "unzipped_limit": LAMBDA_UNZIPPED_LIMIT,
            "requirements": list(self.requirements),
            "model": self.model,
        }


def serving_requirements(
    uri: str, *, bundle_model: bool, store: str | None = None
) -> tuple[str, ...]:
    """What the function needs besides scalepipe's code to serve this model."""
    ref = ModelURI.parse(uri)
    models = ModelStore(store or ref.store)
    name, version = models.resolve(ref)
    return serving_libraries(models, name, version, bundled=bundle_model, run_from=ref.store)


def build_lambda_zip(
    uri: str,
    out: Path,
    *,
    python: str = "3.11",
    bundle_model: bool = False,
    store: str | None = None,
) -> BuiltPackage:
    """Write `out`: handler, scalepipe, the wheels it needs, optionally the model."""
    with tempfile.TemporaryDirectory() as scratch:
        staging = Path(scratch) / "package"
        model, requirements = _stage(
            uri, staging, "lambda_function.py", _LAMBDA_ENTRY, bundle_model, store
        )
        if requirements:
            _install_wheels(requirements, staging, python)
        unzipped = sum(p.stat().st_size for p in staging.rglob("*") if p.is_file())
        out.parent.mkdir(parents=True, exist_ok=True)
        partial = out.with_name(f".{out.name}.part")
        with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as archive:
            for path in sorted(staging.rglob("*")):
                if path.is_file():
                    archive.write(path, path.relative_to(staging).as_posix())
    zipped = partial.stat().st_size
    if zipped > LAMBDA_ZIPPED_LIMIT or unzipped > LAMBDA_UNZIPPED_LIMIT:
        partial.unlink()
        raise PackageError(
            f"the package would be {zipped / MB:.1f} MB zipped and "
            f"{unzipped / MB:.1f} MB unzipped; "
            f"Lambda takes at most {LAMBDA_ZIPPED_LIMIT / MB:.0f} MB zipped (direct upload) and "
            f"{LAMBDA_UNZIPPED_LIMIT / MB:.0f} MB unzipped: use a container image for this model"
        )
    partial.replace(out)
    return BuiltPackage(out, zipped, unzipped, requirements, model)


def build_gcf_folder(
    uri: str, out: Path, *, bundle_model: bool = False, store: str | None = None
) -> BuiltPackage:
    """Write `out/`: main.py, requirements.txt, scalepipe's code, optionally the model;
    ready for `gcloud functions deploy NAME --entry-point predict --source out/`."""
    if out.exists() and any(out.iterdir()):
        raise PackageError(f"{out} exists and is not empty; name a new folder")
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(f".{out.name}.part")
    shutil.rmtree(partial, ignore_errors=True)
    model, requirements = _stage(uri, partial, "main.py", _GCF_ENTRY, bundle_model, store)
    (partial / "requirements.txt").write_text(
        "\n".join(["functions-framework", *requirements]) + "\n"
    )
    size = sum(p.stat().st_size for p in partial.rglob("*") if p.is_file())
    if out.exists():
        out.rmdir()
    partial.replace(out)
    return BuiltPackage(out, size, size, requirements, model)


def _stage(
    uri: str, staging: Path, entry_file: str, entry: str, bundle_model: bool, store: str | None
) -> tuple[str, tuple[str, ...]]:
    """scalepipe's code, the entry file and (bundled) the model; returns (model, requirements)."""
    ref = ModelURI.parse(uri)
    models = ModelStore(store or ref.store)
    # Resolved once: an alias that moves while this runs cannot mix two versions.
    name, version = models.resolve(ref)
    requirements = serving_libraries(
        models, name, version, bundled=bundle_model, run_from=ref.store
    )
    shutil.copytree(
        Path(scalepipe.__file__).parent,
        staging / "scalepipe",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    model_default = ""
    if bundle_model:
        models.export(name, version, staging / BUNDLED_STORE)
        model_default = (
            f'os.environ.setdefault("SCALEPIPE_MODEL", '
            f'str(Path(__file__).parent / "{BUNDLED_STORE}" / "{name}:{version}"))\n'
        )
    (staging / entry_file).write_text(entry.format(model_default=model_default))
    return f"{name}:{version}", requirements


def _install_wheels(requirements: tuple[str, ...], target: Path, python: str) -> None:
    run_pip(
        "install",
        "--quiet",
        f"--target={target}",
        *pip_for_platform(python, _LAMBDA_GLIBC_MINOR.get(python, 34)),
        *requirements,
        purpose=f"{', '.join(requirements)} on Lambda's Python {python}",
    )
