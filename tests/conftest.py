"""Shared fixtures: the book's real files in ../shared/data and the PostgreSQL server."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
GAMES_CSV = SHARED_DATA / "games-expand.csv"
HOUSING_CSV = SHARED_DATA / "BostonHousing.csv"
POSTGRES_URL = os.environ.get("SCALEPIPE_TEST_POSTGRES", "postgresql://127.0.0.1:5432/test")


@pytest.fixture(autouse=True)
def isolated_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test gets its own warehouse, store, cache and plot folders."""
    monkeypatch.setenv("SCALEPIPE_WAREHOUSE", str(tmp_path / "warehouse.duckdb"))
    monkeypatch.setenv("SCALEPIPE_STORE", str(tmp_path / "models"))
    monkeypatch.setenv("SCALEPIPE_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("SCALEPIPE_PLOTS_DIR", str(tmp_path / "plots"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not GAMES_CSV.is_file() or not HOUSING_CSV.is_file():
        pytest.skip(f"the book's real files are not in {SHARED_DATA} (as on a user's machine)")
    return SHARED_DATA


def _postgres_answers() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 5432), timeout=2):
            return True
    except OSError:
        return False


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """The machine's PostgreSQL server, in a schema of its own that is dropped afterwards."""
    if not _postgres_answers():
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL does not answer on 127.0.0.1:5432; .ci/run should start it")
        pytest.skip("PostgreSQL does not answer on 127.0.0.1:5432")
    import adbc_driver_postgresql.dbapi as postgres

    schema = f"scalepipe_test_{uuid.uuid4().hex[:10]}"
    with postgres.connect(POSTGRES_URL) as connection, connection.cursor() as cursor:
        cursor.execute(f"CREATE SCHEMA {schema}")
        connection.commit()
    separator = "&" if "?" in POSTGRES_URL else "?"
    yield f"{POSTGRES_URL}{separator}options=-csearch_path%3D{schema}"
    with postgres.connect(POSTGRES_URL) as connection, connection.cursor() as cursor:
        cursor.execute(f"DROP SCHEMA {schema} CASCADE")
        connection.commit()
