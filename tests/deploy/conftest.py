"""Images built with podman and run for real: the base image is Debian 12 made here by
scripts/base-image.sh (no registry is reachable), once per machine."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from scalepipe.deploy import BuiltImage, DeployPlan, build_image, plan_deploy
from scalepipe.store import ModelStore
from tests import models

HERE = Path(__file__).parent
BASE_IMAGE = "localhost/scalepipe-base:bookworm"
IMAGE = "localhost/scalepipe-test-games"


@pytest.fixture(scope="session")
def podman() -> Iterator[str]:
    """podman, configured for this machine, with the base image in its store."""
    if shutil.which("podman") is None:
        pytest.fail("podman is not installed: make test installs it (apt-get install podman)")
    previous = os.environ.get("CONTAINERS_CONF")
    os.environ["CONTAINERS_CONF"] = str(HERE / "containers.conf")
    exists = subprocess.run(["podman", "image", "exists", BASE_IMAGE], check=False)
    if exists.returncode != 0:
        script = HERE.parent.parent / "scripts" / "base-image.sh"
        subprocess.run(["bash", str(script), BASE_IMAGE], check=True)
    yield "podman"
    if previous is None:
        del os.environ["CONTAINERS_CONF"]
    else:
        os.environ["CONTAINERS_CONF"] = previous


@pytest.fixture(scope="module")
def deploy_store(tmp_path_factory: pytest.TempPathFactory) -> ModelStore:
    """games:1 and games:2, two versions of the book's logistic model."""
    store = ModelStore(str(tmp_path_factory.mktemp("deploy") / "store"))
    store.publish(models.prepared("logistic"), "games", alias="champion")
    store.publish(models.prepared("logistic"), "games")
    return store


@contextlib.contextmanager
def image_of(plan: DeployPlan) -> Iterator[BuiltImage]:
    """The plan's image, built as `scalepipe deploy build` builds it; removed after."""
    built = build_image(plan, engine="podman", base=BASE_IMAGE)
    try:
        yield built
    finally:
        subprocess.run(["podman", "rmi", "--force", built.tag], capture_output=True, check=False)


@pytest.fixture(scope="module")
def games_image(podman: str, deploy_store: ModelStore) -> Iterator[BuiltImage]:
    with image_of(plan_deploy(["games:1"], store=deploy_store.url, image=f"{IMAGE}:1")) as built:
        yield built


class Container:
    """A container started with `podman run -d`; stopped (and removed) on exit."""

    def __init__(self, image: str, *args: str, port: int, options: tuple[str, ...] = ()) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        started = subprocess.run(
            ["podman", "run", "-d", "--publish", f"127.0.0.1:{port}:8000", *options, image, *args],
            capture_output=True,
            text=True,
            check=True,
        )
        self.id = started.stdout.strip()

    def wait_ready(self, timeout: float = 30) -> float:
        """Seconds from the container's start until /readyz answers 200."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{self.url}/readyz", timeout=1) as answer:
                    if answer.status == 200:
                        return self.seconds_since_start()
            except OSError:
                time.sleep(0.01)
        raise AssertionError(f"the container was not ready in {timeout} s:\n{self.logs()}")

    def seconds_since_start(self) -> float:
        started = self.inspect("{{.State.StartedAt.Unix}}.{{.State.StartedAt.Nanosecond}}")
        seconds, nanos = started.split(".")
        return time.time() - (int(seconds) + int(nanos) / 1e9)

    def inspect(self, template: str) -> str:
        return subprocess.run(
            ["podman", "inspect", "--format", template, self.id],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()

    def exec(self, *command: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["podman", "exec", self.id, *command], capture_output=True, text=True, check=False
        )

    def stop(self, timeout: int = 40) -> int:
        """SIGTERM, wait for the exit; the container's exit code."""
        subprocess.run(
            ["podman", "stop", "--time", str(timeout), self.id], capture_output=True, check=True
        )
        return int(self.inspect("{{.State.ExitCode}}"))

    def logs(self) -> str:
        return subprocess.run(
            ["podman", "logs", self.id], capture_output=True, text=True, check=False
        ).stdout

    def remove(self) -> None:
        subprocess.run(
            ["podman", "rm", "--force", "--time", "0", self.id], capture_output=True, check=False
        )
