"""The model server starts without the training stack: its image (tests/deploy) has no
pyarrow, pandas, DuckDB or scikit-learn, so nothing on its import path may need them.
Checked here in a process that cannot import them, faster than building the image."""

from __future__ import annotations

import subprocess
import sys

SCRIPT = """
import sys
for name in ("pyarrow", "pandas", "duckdb", "sklearn"):
    sys.modules[name] = None
import scalepipe.cli
import scalepipe.serve.runner
from scalepipe.serve.drift import DriftGauges
from scalepipe.monitor import measure
print("ok")
"""


def test_the_server_and_its_drift_gauges_import_without_the_training_stack() -> None:
    done = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True,
                          check=False)  # fmt: skip
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-2000:]
