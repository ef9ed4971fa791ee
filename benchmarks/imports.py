"""Import time of the command line and of a serving process: this tree against an
earlier commit, side by side, each the median of several fresh interpreters.

    python benchmarks/imports.py [--before 2d6473f] [--runs 7]

"CLI" imports `scalepipe.cli` (what `scalepipe --help` and every command pay first);
"serving process" imports the CLI and the server and loads a linear model's Predictor
(what `scalepipe serve` does before it listens). The earlier commit runs from a
temporary git worktree of this repository.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("pandas", "pyarrow", "sklearn", "duckdb", "mlflow", "uvicorn", "numpy")
CLI = "import scalepipe.cli"
SERVING = (
    "import sys, scalepipe.cli, scalepipe.serve.runner; "
    "from scalepipe.predict import Predictor; Predictor.load(sys.argv[1])"
)
REPORT = "import sys; print(','.join(m for m in {heavy!r} if m in sys.modules))"


def measure(code: str, source: Path, runs: int, *arguments: str) -> tuple[float, str]:
    """Median wall seconds of `code` in fresh interpreters, and the heavy modules it loaded."""
    seconds = []
    loaded = ""
    for _ in range(runs):
        script = (
            f"import time; _t = time.perf_counter(); {code}; "
            "print(time.perf_counter() - _t); " + REPORT.format(heavy=HEAVY)
        )
        run = subprocess.run(
            [sys.executable, "-c", script, *arguments],
            capture_output=True,
            text=True,
            check=True,
            env={"PYTHONPATH": str(source), "PATH": "/usr/bin:/bin"},
            cwd=source,
        )
        elapsed, loaded = run.stdout.splitlines()[-2:]
        seconds.append(float(elapsed))
    return statistics.median(seconds), loaded or "-"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", default="2d6473f", help="the earlier commit")
    parser.add_argument("--runs", type=int, default=7)
    options = parser.parse_args()

    sys.path.insert(0, str(ROOT))
    from scalepipe.store import ModelStore
    from tests import models

    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        store = ModelStore(str(folder / "models"))
        store.publish(models.prepared("linear", "housing"), "housing", alias="champion")
        earlier = folder / "before"
        subprocess.run(
            ["git", "-C", str(ROOT), "worktree", "add", "--detach", str(earlier), options.before],
            check=True,
            capture_output=True,
        )
        try:
            uri = f"{store.url}/housing"
            rows = []
            for label, code, arguments in (("CLI", CLI, ()), ("serving process", SERVING, (uri,))):
                before = measure(code, earlier, options.runs, *arguments)
                after = measure(code, ROOT, options.runs, *arguments)
                rows.append((label, before, after))
        finally:
            subprocess.run(
                ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(earlier)],
                check=True,
                capture_output=True,
            )
    print(f"{'import (median of ' + str(options.runs) + ')':22} {options.before:>10} {'now':>10} "
          f"{'now/before':>11}  heavy modules loaded: before | now")  # fmt: skip
    for label, (then, loaded_then), (now, loaded_now) in rows:
        print(
            f"{label:22} {then * 1000:>8.0f}ms {now * 1000:>8.0f}ms {now / then:>10.2f}x"
            f"  {loaded_then} | {loaded_now}"
        )


if __name__ == "__main__":
    main()
