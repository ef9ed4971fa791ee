"""`scalepipe workflow run|history|cron` as a user runs them."""

from __future__ import annotations

import json
import os
from pathlib import Path

from tests.test_cli import scalepipe
from tests.workflow.test_spec import EXAMPLE


def test_run_then_history(tmp_path: Path) -> None:
    done = scalepipe("workflow", "run", str(EXAMPLE), "--date", "2026-12-01")
    assert done.returncode == 0, done.stderr
    assert "natality for 2026-12-01" in done.stderr and "succeeded" in done.stderr
    shown = scalepipe("workflow", "history", str(EXAMPLE))
    assert shown.returncode == 0, shown.stderr
    assert "load_new_births" in shown.stdout and "is now champion" in shown.stdout
    as_json = json.loads(scalepipe("workflow", "history", "--json").stdout)
    assert [row["step"] for row in as_json][-1] == "score"
    assert as_json[-1]["rows"] == 5000 and as_json[-1]["status"] == "succeeded"


def test_a_failed_run_exits_1_and_names_the_step(tmp_path: Path) -> None:
    file = tmp_path / "broken.toml"
    file.write_text("[steps.boom]\nkind = 'run'\ncommand = 'exit 4'\n"
                    "[steps.next]\nkind = 'run'\ncommand = 'true'\nafter = 'boom'\n")  # fmt: skip
    done = scalepipe("workflow", "run", str(file), "--json")
    assert done.returncode == 1
    report = json.loads(done.stdout)
    assert report["steps"]["boom"]["error"] == "the command exited with 4: no output"
    assert report["steps"]["next"]["status"] == "skipped"
    assert "the run failed at boom" in done.stderr


def test_a_bad_file_is_refused_with_its_mistake(tmp_path: Path) -> None:
    file = tmp_path / "typo.toml"
    file.write_text("[steps.a]\nkind = 'run'\ncomand = 'true'\n")
    done = scalepipe("workflow", "run", str(file))
    assert done.returncode == 2
    assert "typo.toml [steps.a]: unknown key(s) comand" in done.stderr


def test_cron_prints_a_crontab_that_never_runs_two_at_once(tmp_path: Path) -> None:
    done = scalepipe("workflow", "cron", str(EXAMPLE), "--log", str(tmp_path / "runs.log"),
                     cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert f"SCALEPIPE_STORE={os.environ['SCALEPIPE_STORE']}" in lines
    assert "CRON_TZ=UTC" in lines
    job = lines[-1]
    assert job.startswith(f"0 6 * * * cd {tmp_path} && flock --nonblock ")
    assert f"workflow run {EXAMPLE.resolve()} >> {tmp_path / 'runs.log'} 2>&1" in job
