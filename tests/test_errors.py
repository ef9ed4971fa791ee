"""One ScalepipeError for every mistake a user can act on; bugs keep their traceback."""

from __future__ import annotations

import subprocess
import sys

import pytest

from scalepipe import errors
from scalepipe.config import ConfigError
from scalepipe.data.catalog import DatasetError
from scalepipe.functions.package import PackageError
from scalepipe.predict import InvalidInput
from scalepipe.signature import SignatureError
from scalepipe.store import IntegrityError, StoreError, UnsafeModelError
from scalepipe.train import TrainingError


@pytest.mark.parametrize(
    "kind",
    [ConfigError, DatasetError, PackageError, InvalidInput, SignatureError, StoreError,
     IntegrityError, UnsafeModelError, TrainingError, errors.ServeError],
)  # fmt: skip
def test_every_kind_is_a_scalepipe_error_and_still_a_value_error(kind: type[Exception]) -> None:
    assert issubclass(kind, errors.ScalepipeError) and issubclass(kind, ValueError)
    assert kind.__module__ == "scalepipe.errors"


def _main_raising(error: str) -> subprocess.CompletedProcess[str]:
    script = f"""
import scalepipe.cli as cli
from scalepipe import errors
def app():
    raise {error}
cli.app = app
cli.main()
"""
    return subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )


def test_a_users_mistake_is_one_line_and_exit_2() -> None:
    result = _main_raising('errors.StoreError("games has no version 9")')
    assert result.returncode == 2
    assert result.stderr.strip() == "error: games has no version 9"


def test_a_bug_keeps_its_traceback() -> None:
    result = _main_raising('ValueError("operands could not be broadcast together")')
    assert result.returncode == 1
    assert "Traceback" in result.stderr and "could not be broadcast" in result.stderr
