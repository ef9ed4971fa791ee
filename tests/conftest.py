"""Shared fixtures: the book's real files in ../shared/data and the PostgreSQL server."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

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
        if os.environ.get("CI"):
            pytest.fail(f"the book's real files are not in {SHARED_DATA}; CI must have them")
        pytest.skip(f"the book's real files are not in {SHARED_DATA} (as on a user's machine)")
    return SHARED_DATA


@contextmanager
def small_disk(folder: Path, *options: str) -> Iterator[Path]:
    """A real tmpfs mounted at `folder` with mount options (size=, nr_inodes=, ro): a full or
    read-only disk, not a simulated one. Needs root, as CI and the developers' machines have."""
    folder.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", ",".join(options), "tmpfs", str(folder)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        if os.environ.get("CI"):
            pytest.fail(f"cannot mount a tmpfs for a disk test: {mounted.stderr.strip()}")
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


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


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def local_server(program: str, *arguments: str) -> Iterator[str]:
    """Run a server from the venv's bin folder on a free 127.0.0.1 port; yield its URL.

    Arguments may use {port}; the server is stopped when the block ends.
    """
    port = _free_port()
    command = [
        str(Path(sys.executable).parent / program),
        *(a.format(port=port) for a in arguments),
    ]
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while True:
            if server.poll() is not None:
                raise RuntimeError(f"{program} exited with code {server.returncode}")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{program} did not listen on 127.0.0.1:{port}") from None
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(timeout=10)


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """A real S3 API over HTTP: moto's server mode."""
    with local_server("moto_server", "-H", "127.0.0.1", "-p", "{port}") as url:
        yield url


@pytest.fixture(scope="session")
def gcs_endpoint() -> Iterator[str]:
    """A local GCS API: gcp-storage-emulator, in memory."""
    with local_server(
        "gcp-storage-emulator", "start", "--host=127.0.0.1", "--port={port}", "--in-memory"
    ) as url:
        yield url


def s3_environment(endpoint: str) -> dict[str, str]:
    """What points boto and s3fs at the local S3 server."""
    return {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": endpoint,
    }


@pytest.fixture
def s3_store(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """An empty bucket on the local S3 server; the environment points boto at it."""
    for name, value in s3_environment(s3_endpoint).items():
        monkeypatch.setenv(name, value)
    import boto3

    bucket = f"models-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=s3_endpoint).create_bucket(Bucket=bucket)
    return f"s3://{bucket}/store"


@pytest.fixture
def gcs_store(gcs_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", gcs_endpoint)
    # gcsfs probes real GCS's gRPC bucket-type API unless told not to; the emulator has none.
    monkeypatch.setenv("GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT", "false")
    import gcsfs

    bucket = f"models-{uuid.uuid4().hex[:12]}"
    gcsfs.GCSFileSystem(token="anon", project="test").mkdir(bucket)
    return f"gs://{bucket}/store"


@pytest.fixture(scope="session")
def spark(s3_endpoint: str) -> Iterator[Any]:
    """One SparkSession (local[2], on loopback) for the whole test run. Spark's Python
    workers take their environment when the JVM starts, so the local S3 server's settings
    are set for the whole run first (the s3_store fixture sets the same values)."""
    os.environ.update(s3_environment(s3_endpoint))
    from scalepipe.batch.spark import spark_session

    session = spark_session()
    yield session
    session.stop()


@contextmanager
def gcloud_emulator(kind: str, *options: str) -> Iterator[str]:
    """An emulator of this machine's gcloud CLI (datastore, pubsub), in memory; yields its
    host:port. It runs in a process group of its own: stopping the gcloud wrapper alone
    would leave its Java process running."""
    import shutil
    import signal
    import urllib.request

    gcloud = shutil.which("gcloud")
    if gcloud is None:
        if os.environ.get("CI"):
            pytest.fail(f"the gcloud CLI (with its {kind} emulator) is not installed")
        pytest.skip("the gcloud CLI is not installed")
    port = _free_port()
    emulator = subprocess.Popen(
        [gcloud, "beta", "emulators", kind, "start", "--project=test",
         f"--host-port=127.0.0.1:{port}", *options],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        env=os.environ | {"CLOUDSDK_CORE_PROJECT": "test"},
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as answer:
                    if answer.read().strip() == b"Ok":
                        break
            except OSError:
                if emulator.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"the {kind} emulator did not start") from None
                time.sleep(0.5)
        yield f"127.0.0.1:{port}"
    finally:
        os.killpg(emulator.pid, signal.SIGTERM)
        emulator.wait(timeout=30)


@pytest.fixture(scope="session")
def datastore_emulator() -> Iterator[str]:
    """The Datastore emulator for the whole run."""
    with gcloud_emulator("datastore", "--no-store-on-disk", "--consistency=1.0") as host:
        yield host


@pytest.fixture(scope="session")
def pubsub_emulator() -> Iterator[str]:
    """The Pub/Sub emulator for the whole run."""
    with gcloud_emulator("pubsub") as host:
        yield host
