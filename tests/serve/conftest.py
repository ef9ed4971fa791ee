"""A real `scalepipe serve` process on a free port of 127.0.0.1, with published models."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from scalepipe.store import ModelStore
from tests import models

API_KEY = "k-3f9a1c"


@dataclass
class Server:
    url: str
    process: subprocess.Popen[str]
    store: ModelStore

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=60)


def start_server(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "scalepipe.cli", "serve", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=(env or os.environ) | {"COLUMNS": "200"},
    )


def wait_for_url(process: subprocess.Popen[str]) -> str:
    assert process.stderr is not None
    said = []
    for line in process.stderr:
        found = re.search(r"serving on (http://\S+)", line)
        if found:
            return found.group(1)
        said.append(line)
    raise AssertionError(f"the server exited with {process.wait()} before serving: {''.join(said)}")


@pytest.fixture
def published(tmp_path: Path) -> ModelStore:
    store = ModelStore(str(tmp_path / "served-models"))
    store.publish(models.prepared("logistic"), "games", alias="champion")
    store.publish(models.prepared("linear", "housing"), "housing", alias="champion")
    return store


@pytest.fixture
def serve_models(published: ModelStore, tmp_path: Path) -> Iterator[Callable[..., Server]]:
    servers: list[Server] = []

    def start(*args: str) -> Server:
        process = start_server("--store", published.url, *args)
        server = Server(wait_for_url(process), process, published)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def server(serve_models: Callable[..., Server]) -> Server:
    return serve_models("games", "housing")


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    path = tmp_path / "keys.txt"
    path.write_text(f"# one key a line\n{API_KEY}\nsecond-key\n")
    return path
