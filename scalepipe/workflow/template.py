"""The variables a step's settings may name, `{{ ds }}` style (the names Airflow gives
them), filled in from the run's logical date. Only these names: nothing is evaluated."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from typing import Any

from scalepipe.errors import ConfigError

_VARIABLE = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")


def variables(workflow: str, logical_date: dt.date, run_id: str) -> dict[str, str]:
    return {
        "ds": logical_date.isoformat(),
        "ds_nodash": logical_date.strftime("%Y%m%d"),
        "year": f"{logical_date.year:04d}",
        "month": f"{logical_date.month:02d}",
        "day": f"{logical_date.day:02d}",
        "weekday": str(logical_date.weekday()),  # Monday is 0
        "workflow": workflow,
        "run_id": run_id,
    }


def fill(value: Any, known: Mapping[str, str], where: str) -> Any:
    """`value` with every {{ name }} in its strings replaced (lists and tables too)."""
    if isinstance(value, str):

        def replace(found: re.Match[str]) -> str:
            name = found.group(1)
            if name not in known:
                raise ConfigError(
                    f"{where}: unknown variable {{{{ {name} }}}}; known: {', '.join(known)}"
                )
            return known[name]

        return _VARIABLE.sub(replace, value)
    if isinstance(value, list):
        return [fill(item, known, where) for item in value]
    if isinstance(value, dict):
        return {key: fill(item, known, where) for key, item in value.items()}
    return value
