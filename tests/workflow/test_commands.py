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


def test_cron_prints_the_crontab_lines(tmp_path: Path) -> None:
    done = scalepipe("workflow", "cron", str(EXAMPLE), "--log", str(tmp_path / "runs.log"),
                     cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert f"SCALEPIPE_STORE={os.environ['SCALEPIPE_STORE']}" in lines
    assert "CRON_TZ=UTC" in lines
    job = lines[-1]
    assert job.startswith(f"0 6 * * * cd {tmp_path} && ")
    assert f"workflow run {EXAMPLE.resolve()} >> {tmp_path / 'runs.log'} 2>&1" in job


def test_schedule_makes_up_the_runs_missed_since_the_last_and_stops_on_sigterm(
    tmp_path: Path,
) -> None:
    import datetime as dt
    import signal
    import subprocess
    import sys

    from scalepipe.config import Settings
    from scalepipe.io.warehouse import open_warehouse
    from scalepipe.workflow import history, load_workflow
    from scalepipe.workflow.results import RunResult, StepRun

    file = tmp_path / "minutely.toml"
    file.write_text("schedule = '* * * * *'\ncatchup = true\n"
                    "[steps.say]\nkind = 'run'\ncommand = 'echo {{ ds }}'\n")  # fmt: skip
    now = dt.datetime.now(dt.UTC).replace(second=0, microsecond=0)
    earlier = RunResult("earlier", "minutely", now.date(), {"say": StepRun(kind="run")},
                        scheduled=now - dt.timedelta(minutes=3))  # fmt: skip
    warehouse = open_warehouse(Settings.load().warehouse)
    history.record(warehouse, earlier, ["say"])
    process = subprocess.Popen(
        [sys.executable, "-m", "scalepipe.cli", "workflow", "schedule", str(file)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env=os.environ | {"COLUMNS": "200"},
    )  # fmt: skip
    # The warehouse (a DuckDB file) is read once the scheduler has stopped: DuckDB lets
    # one process at a time open a file for writing.
    said: list[str] = []
    assert process.stdout is not None
    for line in process.stdout:
        said.append(line)
        if sum("say succeeded" in seen for seen in said) == 3:
            break
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=60) == 0
    assert "scheduling minutely (* * * * *, UTC)" in said[0]
    runs = history.read(warehouse, "minutely", runs=10)
    made_up = sorted(runs["scheduled"].dropna())[1:4]
    assert [t.to_pydatetime() for t in made_up] == [
        now - dt.timedelta(minutes=2),
        now - dt.timedelta(minutes=1),
        now,
    ]
    assert load_workflow(file).catchup


def test_a_second_run_of_a_workflow_beside_the_first_is_refused(tmp_path: Path) -> None:
    import subprocess
    import sys
    import time

    file = tmp_path / "slow.toml"
    flag = tmp_path / "started"
    file.write_text(f"[steps.wait]\nkind = 'run'\ncommand = 'touch {flag}; sleep 5'\n")
    first = subprocess.Popen([sys.executable, "-m", "scalepipe.cli", "workflow", "run",
                              str(file), "--json"], stdout=subprocess.DEVNULL)  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while not flag.exists():
            assert time.monotonic() < deadline
            time.sleep(0.05)
        second = scalepipe("workflow", "run", str(file))
        assert second.returncode == 2
        assert "workflow slow is already running (pid" in second.stderr
    finally:
        assert first.wait(timeout=60) == 0
