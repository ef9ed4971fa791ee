"""Workflow files: what a user writes, and the errors that name what is wrong."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from scalepipe.errors import ConfigError
from scalepipe.workflow import load_workflow, parse_workflow
from scalepipe.workflow.template import fill, variables

EXAMPLE = Path(__file__).parents[2] / "examples" / "ch5_workflow.toml"


def parsed(steps: dict[str, Any], **top: Any) -> Any:
    return parse_workflow({"steps": steps, **top}, default_name="w", where="w.toml")


def test_the_books_workflow_reads_with_its_schedule_and_order() -> None:
    workflow = load_workflow(EXAMPLE)
    assert workflow.name == "natality" and workflow.schedule == "0 6 * * *"
    assert workflow.order() == ["load_new_births", "retrain", "evaluate", "promote", "score"]
    retrain = workflow.steps["retrain"]
    assert (retrain.retries, retrain.retry_delay, retrain.timeout) == (2, 30.0, 1800.0)
    assert retrain.when == "0 6 * * 1" and retrain.or_if_missing == "natality@champion"
    assert workflow.steps["score"].trigger == "none_failed"


def test_the_same_workflow_in_yaml(tmp_path: Path) -> None:
    file = tmp_path / "nightly.yaml"
    file.write_text(
        "schedule: '30 2 * * *'\ntimezone: Europe/Paris\nsteps:\n"
        "  hello: {kind: run, command: 'echo {{ ds }}', timeout: 5m}\n"
    )
    workflow = load_workflow(file)
    assert (workflow.name, workflow.timezone) == ("nightly", "Europe/Paris")
    assert workflow.steps["hello"].timeout == 300.0


@pytest.mark.parametrize(
    ("steps", "top", "message"),
    [
        ({"a": {"kind": "run", "comand": "true"}}, {},
         r"w.toml \[steps.a\]: unknown key\(s\) comand; known: after, command,"),
        ({"a": {"kind": "shell", "command": "true"}}, {},
         r"\[steps.a\]: kind must be one of load, train, evaluate, promote, score, export, "
         r"drift, run"),
        ({"a": {"kind": "score", "model": "m"}}, {},
         r"\[steps.a\]: a score step needs input, output"),
        ({"a": {"kind": "run", "command": "true", "after": ["b"]}}, {},
         r"\[steps.a\]: after names 'b', which is not a step"),
        ({"a": {"kind": "run", "command": "true", "after": "b"},
          "b": {"kind": "run", "command": "true", "after": "a"}}, {},
         "the steps depend on each other in a circle: (a -> b -> a|b -> a -> b)"),
        ({"a": {"kind": "run", "command": "true"}}, {"schedule": "every day"},
         "w.toml: schedule must be a cron expression like '0 6 \\* \\* \\*' \\(got 'every day'\\)"),
        ({"a": {"kind": "run", "command": "true"}}, {"timezone": "Mars/Olympus"},
         "timezone 'Mars/Olympus' is not a known time zone"),
        ({"a": {"kind": "run", "command": "true", "timeout": "soon"}}, {},
         r"\[steps.a\]: timeout must be seconds or a duration like 30s, 10m, 1h \(got 'soon'\)"),
        ({"a": {"kind": "run", "command": "true", "retries": -1}}, {},
         "retries must be a whole number from 0 to 20"),
        ({"a": {"kind": "run", "command": "true", "trigger": "always"}}, {},
         "trigger must be one of all_success, none_failed"),
        ({}, {}, r"a workflow needs at least one step under \[steps\]"),
        ({"a": {"kind": "run", "command": "true"}}, {"schedul": "0 6 * * *"},
         r"w.toml: unknown key\(s\) schedul"),
    ],
)  # fmt: skip
def test_a_mistake_is_named_with_where_it_is(
    steps: dict[str, Any], top: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        parsed(steps, **top)


def test_a_file_that_is_not_toml_says_where(tmp_path: Path) -> None:
    file = tmp_path / "broken.toml"
    file.write_text("[steps.a\nkind = 'run'")
    with pytest.raises(ConfigError, match=r"broken\.toml is not valid TOML"):
        load_workflow(file)


def test_variables_fill_every_string_and_nothing_is_evaluated() -> None:
    import datetime as dt

    known = variables("natality", dt.date(2026, 11, 30), "run-1")
    filled = fill(
        {"source": "x?seed={{ ds_nodash }}", "cmd": ["echo", "{{ds}}"], "n": 3}, known, "s"
    )
    assert filled == {"source": "x?seed=20261130", "cmd": ["echo", "2026-11-30"], "n": 3}
    assert known["weekday"] == "0"  # a Monday
    with pytest.raises(ConfigError, match=r"unknown variable \{\{ __import__ \}\}"):
        fill("{{ __import__ }}", known, "s")
    assert fill("{{ ds.__class__ }}", known, "s") == "{{ ds.__class__ }}"  # not a variable
