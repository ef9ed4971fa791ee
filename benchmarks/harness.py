"""What the benchmarks share: each case a fresh process, timed by itself and measured by
GNU time."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_case(
    code: str, *arguments: str, python: Path | str = sys.executable
) -> tuple[float, float]:
    """Seconds the case prints last and its peak RSS in MB (the Python process's, measured
    by GNU time: a child forked from this process would count this process's memory)."""
    with tempfile.NamedTemporaryFile("r") as report:
        done = subprocess.run(
            ["/usr/bin/time", "-f", "%M", "-o", report.name, str(python), "-c", code,
             *arguments],
            stdout=subprocess.PIPE,
            text=True,
            env=os.environ | {"PYTHONPATH": str(ROOT)},
            check=True,
        )  # fmt: skip
        peak_kb = float(report.read().strip().splitlines()[-1])
    return float(done.stdout.strip().splitlines()[-1]), peak_kb / 1024
