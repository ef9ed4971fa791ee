"""`scalepipe deploy render`: one folder of files for a target, written whole or not at all."""

from __future__ import annotations

import shutil
from pathlib import Path

from scalepipe.deploy.docker import DEFAULT_BASE, render_docker
from scalepipe.deploy.ecs import render_ecs
from scalepipe.deploy.heroku import render_heroku
from scalepipe.deploy.kubernetes import render_kubernetes
from scalepipe.deploy.plan import DeployPlan
from scalepipe.errors import PackageError

TARGETS = ("docker", "heroku", "kubernetes", "ecs")


def render(
    plan: DeployPlan,
    target: str,
    out: Path,
    *,
    base: str = DEFAULT_BASE,
    api_keys: bool = True,
) -> list[Path]:
    """Write `out/` for `target`; returns the files and folders written. `api_keys`: the
    Kubernetes and ECS servers read their keys from a secret (False: an open server).
    The folder appears only when complete; an existing, non-empty one is refused."""
    if target not in TARGETS:
        raise PackageError(f"the target is one of {', '.join(TARGETS)}, not {target!r}")
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise PackageError(f"{out} exists and is not empty; name a new folder")
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(f".{out.name}.part")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir()
    try:
        if target == "docker":
            written = render_docker(plan, partial, base=base)
        elif target == "heroku":
            written = render_heroku(plan, partial)
        elif target == "kubernetes":
            written = render_kubernetes(plan, partial, api_keys=api_keys)
        else:
            written = render_ecs(plan, partial, api_keys=api_keys)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    if out.exists():
        out.rmdir()
    partial.replace(out)
    return [out / path.relative_to(partial) for path in written]
