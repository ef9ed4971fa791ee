"""A workflow file: named steps with their dependencies, a schedule, retries and
timeouts, read from TOML or YAML and checked key by key, so that a typo is named with
where it is rather than ignored."""

from __future__ import annotations

import graphlib
import re
import tomllib
import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scalepipe.errors import ConfigError

# What each kind of step takes: required keys, then optional ones with their defaults.
KINDS: dict[str, tuple[tuple[str, ...], dict[str, Any]]] = {
    "load": (("source", "table"), {}),
    "train": (
        ("dataset",),
        {
            "recipe": None,
            "source": None,
            "rows": None,
            "seed": 0,
            "model": None,
            "alias": "candidate",
        },
    ),
    "evaluate": (("model", "source"), {"champion": None, "max_rows": 1_000_000}),
    "promote": (
        ("evaluation",),
        {"metric": None, "margin": 0.0, "minimums": {}, "maximums": {}, "alias": "champion"},
    ),
    "score": (("model", "input", "output"), {"keys": None, "on_error": "fail"}),
    "export": (("input", "output"), {}),
    "drift": (
        ("model", "log"),
        {
            "since": None,
            "window": None,
            "stat": "psi",
            "threshold": None,
            "share": 0.5,
            "report": None,
        },
    ),
    "run": (("command",), {}),
}
COMMON = {"kind", "after", "retries", "retry_delay", "timeout", "when", "or_if_missing", "trigger"}
# When a step runs after others (Airflow's trigger rules of the same names): when all of
# them succeeded, or when none of them failed (some were not due, or a gate held).
TRIGGERS = ("all_success", "none_failed")
WORKFLOW_KEYS = {"name", "schedule", "timezone", "catchup", "defaults", "steps"}
DEFAULT_KEYS = {"retries", "retry_delay", "timeout"}
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,62}")
_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|s|m|h)?")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}


@dataclass(frozen=True)
class Step:
    name: str
    kind: str
    params: Mapping[str, Any]
    after: tuple[str, ...] = ()
    retries: int = 0
    retry_delay: float = 10.0  # seconds before the first retry; doubled for each next one
    timeout: float = 3600.0
    when: str | None = None  # a cron expression: run only on the dates it matches
    or_if_missing: str | None = None  # ... or whenever this model URI does not resolve
    trigger: str = "all_success"


@dataclass(frozen=True)
class Workflow:
    name: str
    steps: Mapping[str, Step]
    schedule: str | None = None
    timezone: str = "UTC"
    catchup: bool = False
    source: Path | None = field(default=None, compare=False)
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False)  # as the file says

    def order(self) -> list[str]:
        """The steps, each after the ones it depends on (file order among equals)."""
        sorter = graphlib.TopologicalSorter({name: step.after for name, step in self.steps.items()})
        sorter.prepare()
        ordered: list[str] = []
        while sorter.is_active():
            ready = sorted(sorter.get_ready(), key=list(self.steps).index)
            ordered += ready
            sorter.done(*ready)
        return ordered


def load_workflow(path: Path) -> Workflow:
    """Read and check a workflow file (.toml, .yaml or .yml)."""
    try:
        text = path.read_text()
    except OSError as error:
        raise ConfigError(f"cannot read the workflow file {path}: {error.strerror}") from None
    if path.suffix == ".toml":
        try:
            raw = tomllib.loads(text)
        except tomllib.TOMLDecodeError as error:
            raise ConfigError(f"{path} is not valid TOML: {error}") from None
    elif path.suffix in (".yaml", ".yml"):
        raw = _yaml(text, path)
    else:
        raise ConfigError(f"{path}: a workflow file ends in .toml, .yaml or .yml")
    return parse_workflow(raw, default_name=path.stem, where=str(path), source=path)


def parse_workflow(
    raw: Any, *, default_name: str, where: str = "the workflow", source: Path | None = None
) -> Workflow:
    table = _table(raw, where)
    _known(table, WORKFLOW_KEYS, where)
    name = table.get("name", default_name)
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ConfigError(f"{where}: name must be letters, digits, _ or - (got {name!r})")
    schedule = table.get("schedule")
    if schedule is not None:
        check_cron(schedule, f"{where}: schedule")
    timezone = table.get("timezone", "UTC")
    try:
        zoneinfo.ZoneInfo(timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, TypeError):
        raise ConfigError(f"{where}: timezone {timezone!r} is not a known time zone") from None
    catchup = table.get("catchup", False)
    if not isinstance(catchup, bool):
        raise ConfigError(f"{where}: catchup must be true or false")
    defaults = _table(table.get("defaults", {}), f"{where} [defaults]")
    _known(defaults, DEFAULT_KEYS, f"{where} [defaults]")
    steps_table = _table(table.get("steps"), f"{where} [steps]")
    if not steps_table:
        raise ConfigError(f"{where}: a workflow needs at least one step under [steps]")
    steps = {
        step_name: _step(step_name, body, defaults, f"{where} [steps.{step_name}]")
        for step_name, body in steps_table.items()
    }
    for step in steps.values():
        for needed in step.after:
            if needed not in steps:
                raise ConfigError(
                    f"{where} [steps.{step.name}]: after names {needed!r}, which is not a step"
                )
    workflow = Workflow(name, steps, schedule, timezone, catchup, source, {**table, "name": name})
    try:
        workflow.order()
    except graphlib.CycleError as error:
        cycle = " -> ".join(error.args[1])
        raise ConfigError(f"{where}: the steps depend on each other in a circle: {cycle}") from None
    return workflow


def _step(name: str, body: Any, defaults: Mapping[str, Any], where: str) -> Step:
    if not _NAME.fullmatch(name):
        raise ConfigError(f"{where}: a step name is letters, digits, _ or -")
    body = _table(body, where)
    kind = body.get("kind")
    if kind not in KINDS:
        raise ConfigError(f"{where}: kind must be one of {', '.join(KINDS)} (got {kind!r})")
    required, optional = KINDS[kind]
    _known(body, COMMON | set(required) | set(optional), where)
    missing = [key for key in required if key not in body]
    if missing:
        raise ConfigError(f"{where}: a {kind} step needs {', '.join(missing)}")
    params = {**optional, **{key: body[key] for key in (*required, *optional) if key in body}}
    after = body.get("after", [])
    if isinstance(after, str):
        after = [after]
    if not isinstance(after, list) or not all(isinstance(item, str) for item in after):
        raise ConfigError(f"{where}: after is a step name or a list of them")
    merged = {**defaults, **{key: body[key] for key in DEFAULT_KEYS if key in body}}
    retries = merged.get("retries", 0)
    if not isinstance(retries, int) or isinstance(retries, bool) or not 0 <= retries <= 20:
        raise ConfigError(f"{where}: retries must be a whole number from 0 to 20")
    when = body.get("when")
    if when is not None:
        check_cron(when, f"{where}: when")
    return Step(
        name=name,
        kind=kind,
        params=params,
        after=tuple(after),
        retries=retries,
        retry_delay=parse_duration(merged.get("retry_delay", "10s"), f"{where}: retry_delay"),
        timeout=parse_duration(merged.get("timeout", "1h"), f"{where}: timeout"),
        when=when,
        or_if_missing=_optional_text(body.get("or_if_missing"), f"{where}: or_if_missing"),
        trigger=_trigger(body.get("trigger", "all_success"), f"{where}: trigger"),
    )


def _trigger(value: Any, where: str) -> str:
    if value not in TRIGGERS:
        raise ConfigError(f"{where} must be one of {', '.join(TRIGGERS)} (got {value!r})")
    return str(value)


def _optional_text(value: Any, where: str) -> str | None:
    if value is not None and not isinstance(value, str):
        raise ConfigError(f"{where} must be text")
    return value


def parse_duration(value: Any, where: str) -> float:
    """Seconds from 30, 2.5, "30s", "500ms", "10m" or "1h"."""
    if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
        return float(value)
    found = _DURATION.fullmatch(value.strip()) if isinstance(value, str) else None
    if found is None:
        raise ConfigError(
            f"{where} must be seconds or a duration like 30s, 10m, 1h (got {value!r})"
        )
    return float(found.group(1)) * _UNITS[found.group(2)]


def check_cron(expression: Any, where: str) -> str:
    from croniter import croniter

    if not isinstance(expression, str) or not croniter.is_valid(expression):
        raise ConfigError(
            f"{where} must be a cron expression like '0 6 * * *' (got {expression!r})"
        )
    return expression


def _table(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ConfigError(f"{where} must be a table of keys and values")
    return value


def _known(table: Mapping[str, Any], known: set[str], where: str) -> None:
    unknown = sorted(set(table) - known)
    if unknown:
        raise ConfigError(
            f"{where}: unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}"
        )


def _yaml(text: str, path: Path) -> Any:
    try:
        import yaml
    except ImportError:
        raise ConfigError(
            "YAML workflow files need PyYAML: pip install 'scalepipe[workflow]'"
        ) from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise ConfigError(f"{path} is not valid YAML: {error}") from None
