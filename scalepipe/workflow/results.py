"""What a run of a workflow did, step by step: what the runner fills in, the history
records and the command line shows."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from scalepipe.workflow.steps import Outcome

SUCCEEDED, FAILED, SKIPPED, NOT_DUE, HELD, RUNNING, WAITING = (
    "succeeded", "failed", "skipped", "not due", "held", "running", "waiting",
)  # fmt: skip
# The run is ok when every step ended so: held is a quality gate that kept the champion.
LETS_NEXT_RUN = (SUCCEEDED, NOT_DUE, HELD)


@dataclass
class StepRun:
    kind: str
    status: str = WAITING
    attempts: int = 0
    started: dt.datetime | None = None
    ended: dt.datetime | None = None
    outcome: Outcome | None = None
    error: str | None = None
    note: str = ""


@dataclass
class RunResult:
    run_id: str
    workflow: str
    logical_date: dt.date
    steps: dict[str, StepRun] = field(default_factory=dict)
    scheduled: dt.datetime | None = None  # the due time, for a run the scheduler started

    @property
    def ok(self) -> bool:
        return all(step.status in LETS_NEXT_RUN for step in self.steps.values())
