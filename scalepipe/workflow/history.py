"""The run history: one row per step of every run, in a warehouse table."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from scalepipe.io.warehouse import Warehouse, check_identifier

if TYPE_CHECKING:
    import pandas as pd

    from scalepipe.workflow.results import RunResult

TABLE = "workflow_runs"


def record(warehouse: Warehouse, run: RunResult, steps: Sequence[str]) -> None:
    """Add (or, for the same run and step, replace) the steps' rows, in one write."""
    import pyarrow as pa

    rows = [_row(run, step) for step in steps]
    if not rows:
        return
    table = pa.Table.from_pylist(rows, schema=_schema())
    warehouse.append(TABLE, [table], replacing=("row_id", [row["row_id"] for row in rows]))


def _row(run: RunResult, step: str) -> dict[str, Any]:
    done = run.steps[step]
    outcome = done.outcome
    took = (done.ended - done.started).total_seconds() if done.started and done.ended else None
    return {
        "run_id": run.run_id,
        "workflow": run.workflow,
        "logical_date": run.logical_date.isoformat(),
        "step": step,
        "kind": done.kind,
        "status": done.status,
        "attempts": done.attempts,
        "started": done.started,
        "ended": done.ended,
        "seconds": took,
        "rows": outcome.rows if outcome else None,
        "model_version": outcome.model_version if outcome else None,
        "metrics": json.dumps(outcome.metrics) if outcome and outcome.metrics else None,
        "detail": outcome.detail if outcome else done.note,
        "error": done.error,
        "scheduled": run.scheduled,
        "row_id": f"{run.run_id}/{step}",
    }


def _schema() -> Any:
    import pyarrow as pa

    return pa.schema([
        ("run_id", pa.string()), ("workflow", pa.string()), ("logical_date", pa.string()),
        ("step", pa.string()), ("kind", pa.string()), ("status", pa.string()),
        ("attempts", pa.int64()), ("started", pa.timestamp("us", tz="UTC")),
        ("ended", pa.timestamp("us", tz="UTC")), ("seconds", pa.float64()),
        ("rows", pa.int64()), ("model_version", pa.int64()), ("metrics", pa.string()),
        ("detail", pa.string()), ("error", pa.string()),
        ("scheduled", pa.timestamp("us", tz="UTC")), ("row_id", pa.string()),
    ])  # fmt: skip


def read(warehouse: Warehouse, workflow: str | None = None, *, runs: int = 10) -> pd.DataFrame:
    """The steps of the latest `runs` runs (of `workflow`, or of every workflow)."""
    if TABLE not in warehouse.tables():
        import pandas as pd

        return pd.DataFrame(columns=_schema().names)
    where = f"WHERE workflow = '{_quoted(workflow)}'" if workflow else ""
    return warehouse.query(
        f"WITH latest AS (SELECT run_id, min(started) AS first FROM {check_identifier(TABLE)} "
        f"{where} GROUP BY run_id ORDER BY first DESC LIMIT {int(runs)}) "
        f"SELECT h.* FROM {TABLE} h JOIN latest USING (run_id) ORDER BY latest.first, h.started"
    )


def last_scheduled(warehouse: Warehouse, workflow: str) -> dt.datetime | None:
    """The due time of the latest run the scheduler started, if any."""
    if TABLE not in warehouse.tables():
        return None
    found = warehouse.query(
        f"SELECT max(scheduled) AS last FROM {TABLE} WHERE workflow = '{_quoted(workflow)}'"
    )["last"].iloc[0]
    return None if found is None or found != found else found.to_pydatetime()


def _quoted(text: str) -> str:
    return text.replace("'", "''")


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)
