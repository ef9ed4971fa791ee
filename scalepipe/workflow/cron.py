"""The crontab lines that run a workflow on its schedule, in cron's own time zone
setting. A run still going when the next is due is not doubled: `workflow run` holds the
workflow's lock and refuses to start beside it. The logical date is the day in the
workflow's time zone."""

from __future__ import annotations

import os
import re
import shlex
import sys
from pathlib import Path

from scalepipe.errors import ConfigError
from scalepipe.workflow.spec import load_workflow

_SECRET = re.compile(r"KEY|SECRET|PASSWORD|TOKEN")


def crontab_lines(file: Path, log: Path) -> str:
    """Cron runs the workflow from the folder this is asked in, with the SCALEPIPE_*
    settings set here (cron starts with an empty environment); secrets are left out."""
    workflow = load_workflow(file)
    if workflow.schedule is None:
        raise ConfigError(f"{file} has no schedule to put in a crontab")
    path = file.resolve()
    scalepipe = Path(sys.executable).parent / "scalepipe"
    command = (
        f"{shlex.quote(str(scalepipe))} workflow run "
        f"{shlex.quote(str(path))} >> {shlex.quote(str(log.resolve()))} 2>&1"
    )
    settings = [
        f"{name}={value}"
        for name, value in sorted(os.environ.items())
        if name.startswith("SCALEPIPE_") and not _SECRET.search(name)
    ]
    return "\n".join([
        f"# scalepipe workflow {workflow.name} ({path})",
        *settings,
        f"CRON_TZ={workflow.timezone}",
        f"{workflow.schedule} cd {shlex.quote(str(Path.cwd()))} && {command}",
    ])  # fmt: skip
