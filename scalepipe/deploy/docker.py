"""The image: a Dockerfile for the production server, built from a wheelhouse beside it."""

from __future__ import annotations

import json
from pathlib import Path

from scalepipe.deploy.plan import BUNDLED_STORE, PORT, USER_ID, DeployPlan, export_models
from scalepipe.deploy.wheels import make_wheelhouse

# Debian 12 with its Python 3.11: the platform the wheelhouse is made for.
DEFAULT_BASE = "docker.io/library/python:3.11-slim-bookworm"
WHEELS = "wheels"
MODELS = "model_store"
REQUIREMENTS = "requirements.txt"
VENV = "/opt/scalepipe"
# The health check runs the image's own Python: the image has no curl or wget.
HEALTH_PROBE = (
    "import sys, urllib.request; "
    f"sys.exit(urllib.request.urlopen('http://127.0.0.1:{PORT}/healthz', timeout=2).status != 200)"
)


def dockerfile(plan: DeployPlan, base: str) -> str:
    bundle = f"COPY {MODELS}/ {BUNDLED_STORE}/\n" if plan.model_from == "bundle" else ""
    return f"""\
# syntax=docker/dockerfile:1
# Written by `scalepipe deploy render` for {", ".join(f"{n}:{v}" for n, v in plan.versions)}.
# Build: docker build -t {plan.image} .   (podman build --format docker -t {plan.image} .)
# The wheels are in {WHEELS}/: the build needs no network. BASE must be Debian 12 with
# Python 3.11 (the wheels' platform), e.g. python:3.11-slim-bookworm.
ARG BASE={base}

FROM ${{BASE}} AS build
COPY {WHEELS}/ /tmp/{WHEELS}/
RUN python3 -m venv {VENV} \\
 && {VENV}/bin/pip install --no-cache-dir --no-index --find-links=/tmp/{WHEELS} \\
      -r /tmp/{WHEELS}/{REQUIREMENTS} \\
 && {VENV}/bin/pip uninstall --yes --quiet pip setuptools

FROM ${{BASE}}
COPY --from=build {VENV} {VENV}
{bundle}ENV PATH={VENV}/bin:/usr/local/bin:/usr/bin:/bin \\
    HOME=/tmp \\
    PYTHONDONTWRITEBYTECODE=1 \\
    PYTHONUNBUFFERED=1
USER {USER_ID}:{USER_ID}
EXPOSE {PORT}
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 \\
  CMD {json.dumps(["python3", "-c", HEALTH_PROBE])}
STOPSIGNAL SIGTERM
ENTRYPOINT ["scalepipe"]
CMD {json.dumps(plan.serve_args())}
"""


def render_docker(plan: DeployPlan, out: Path, *, base: str = DEFAULT_BASE) -> list[Path]:
    requirements = make_wheelhouse(out / WHEELS, plan.extras, plan.libraries)
    (out / WHEELS / REQUIREMENTS).write_text("\n".join(requirements) + "\n")
    if plan.model_from == "bundle":
        export_models(plan, out / MODELS)
    (out / "Dockerfile").write_text(dockerfile(plan, base))
    # The build context is what the image needs, nothing else.
    (out / ".dockerignore").write_text(f"*\n!{WHEELS}/\n!{MODELS}/\n")
    return [out / "Dockerfile", out / ".dockerignore", out / WHEELS] + (
        [out / MODELS] if plan.model_from == "bundle" else []
    )
