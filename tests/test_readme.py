"""The README's serve-and-call lines run as written (on a free port instead of 8000) and
answer what the README shows."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

from scalepipe.store import ModelStore
from tests import models
from tests.conftest import _free_port

README = Path(__file__).resolve().parents[1] / "README.md"


def _serve_and_call_block() -> list[str]:
    blocks: list[str] = re.findall(r"```sh\n(.*?)```", README.read_text(), re.DOTALL)
    chosen = [block for block in blocks if "printf 'my-secret-key" in block]
    assert len(chosen) == 1, "the README's serve-and-call block is gone"
    return chosen[0].replace("\\\n", "").splitlines()


def test_the_readmes_serve_and_call_lines(tmp_path: Path) -> None:
    store = ModelStore(str(tmp_path / "models"))  # the default store, in the working folder
    store.publish(models.prepared("logistic"), "games", alias="champion")
    store.publish(models.prepared("linear", "housing"), "housing", alias="champion")
    port = _free_port()
    script, calls = ["set -e"], []
    lines = _serve_and_call_block()
    for index, line in enumerate(lines):
        line = line.replace("localhost:8000", f"127.0.0.1:{port}")
        if line.startswith("#"):
            continue
        if line.startswith("scalepipe serve"):
            script.append(line.replace(" &", f" --port {port} &"))
            script.append(f"until curl -sf 127.0.0.1:{port}/healthz >/dev/null; do sleep 0.2; done")
            continue
        if line.startswith("curl"):
            expected = lines[index + 1].removeprefix("#").strip()
            calls.append(expected)
            line += f" > answer{len(calls)}.json"
        script.append(line)
    assert len(calls) == 3
    bin_folder = Path(sys.executable).parent
    log = tmp_path / "output.log"
    with log.open("w") as output:
        # The server started in the background outlives the script: its group is killed.
        run = subprocess.Popen(
            ["bash", "-c", "\n".join(script)],
            cwd=tmp_path,
            env=os.environ | {"PATH": f"{bin_folder}:{os.environ['PATH']}"},
            start_new_session=True,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        assert run.wait(timeout=120) == 0, log.read_text()
    finally:
        os.killpg(run.pid, signal.SIGTERM)
    for number, expected in enumerate(calls, start=1):
        answer = (tmp_path / f"answer{number}.json").read_text()
        if expected.endswith("..."):
            assert answer.startswith(expected.removesuffix("...")), answer
        else:
            shown, got = json.loads(expected), json.loads(answer)
            assert got.keys() == shown.keys(), answer
            assert got.get("success") is shown.get("success"), answer
            assert [type(v) for v in got.values()] == [type(v) for v in shown.values()]
