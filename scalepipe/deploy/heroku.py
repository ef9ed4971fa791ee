"""Heroku (the book's chapter 2 deploy): a Procfile that starts the production server on
Heroku's $PORT, the Python version, and requirements that install scalepipe's wheel
shipped in the app folder (Heroku fetches the other libraries from PyPI itself)."""

from __future__ import annotations

import shlex
from pathlib import Path

from scalepipe.deploy.plan import DeployPlan, export_models
from scalepipe.deploy.wheels import PYTHON, make_wheelhouse

WHEELS = "wheels"
MODELS = "model_store"


def procfile(plan: DeployPlan) -> str:
    args = plan.serve_args(port="$PORT")
    args[args.index("--workers") + 1] = "${WEB_CONCURRENCY:-2}"
    if plan.model_from == "bundle":
        args[args.index("--store") + 1] = MODELS
    quoted = [arg if arg.startswith("$") else shlex.quote(arg) for arg in args]
    return "web: scalepipe " + " ".join(quoted) + "\n"


def render_heroku(plan: DeployPlan, out: Path) -> list[Path]:
    requirements = make_wheelhouse(out / WHEELS, plan.extras, plan.libraries, platform=False)
    (out / "requirements.txt").write_text(
        "\n".join([f"--find-links ./{WHEELS}", *requirements]) + "\n"
    )
    (out / "Procfile").write_text(procfile(plan))
    (out / ".python-version").write_text(PYTHON + "\n")  # Heroku's runtime file
    written = [out / "Procfile", out / ".python-version", out / "requirements.txt", out / WHEELS]
    if plan.model_from == "bundle":
        export_models(plan, out / MODELS)
        written.append(out / MODELS)
    return written
