"""`scalepipe deploy build`: render the image's folder and build it with podman or docker."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from scalepipe.deploy.docker import DEFAULT_BASE
from scalepipe.deploy.plan import DeployPlan
from scalepipe.deploy.render import render
from scalepipe.errors import PackageError

ENGINES = ("podman", "docker")


@dataclass(frozen=True)
class BuiltImage:
    tag: str
    engine: str
    size_bytes: int
    seconds: float
    models: tuple[str, ...]

    def to_dict(self) -> dict[str, object]:
        return {
            "tag": self.tag,
            "engine": self.engine,
            "size_bytes": self.size_bytes,
            "seconds": round(self.seconds, 2),
            "models": list(self.models),
        }


def build_image(
    plan: DeployPlan,
    *,
    engine: str = "podman",
    base: str = DEFAULT_BASE,
    out: Path | None = None,
    no_cache: bool = False,
    on_line: Callable[[str], None] | None = None,
) -> BuiltImage:
    """Build `plan.image`; `out`: keep the rendered folder there (default: a temporary
    one); `no_cache`: build every layer anew; `on_line`: each line the engine prints, as
    it prints it."""
    if engine not in ENGINES:
        raise PackageError(f"the engine is podman or docker, not {engine!r}")
    if shutil.which(engine) is None:
        raise PackageError(f"{engine} is not installed (apt-get install {engine})")
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as scratch:
        folder = out or Path(scratch) / "image"
        render(plan, "docker", folder, base=base)
        # --network none: everything the build installs is in the folder, and it shows.
        command = [engine, "build", "--network", "none", "--tag", plan.image]
        command += ["--build-arg", f"BASE={base}"]
        # docker format: the OCI image format has no HEALTHCHECK.
        command += ["--format", "docker"] if engine == "podman" else []
        command += ["--no-cache"] if no_cache else []
        _run([*command, str(folder)], on_line)
    size = subprocess.run(
        [engine, "image", "inspect", "--format", "{{.Size}}", plan.image],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return BuiltImage(
        tag=plan.image,
        engine=engine,
        size_bytes=int(size.strip()),
        seconds=time.perf_counter() - started,
        models=tuple(f"{name}:{version}" for name, version in plan.versions),
    )


def _run(command: list[str], on_line: Callable[[str], None] | None) -> None:
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    tail: list[str] = []
    assert process.stdout is not None
    for line in process.stdout:
        tail = [*tail[-19:], line.rstrip()]
        if on_line is not None:
            on_line(line.rstrip())
    if process.wait() != 0:
        said = "\n".join(tail)
        raise PackageError(f"{command[0]} build failed (exit {process.returncode}):\n{said}")
