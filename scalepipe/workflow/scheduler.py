"""The built-in scheduler: runs a workflow at each time its cron schedule gives, in its
time zone, one run at a time. Each run's logical date is the date of its scheduled time.
After downtime (the scheduler stopped, or a run outlasting the next due time), the runs
missed are made up in order with catch-up, and dropped without it. The next due time is
always computed from the schedule, never by adding up sleeps, so it does not drift."""

from __future__ import annotations

import datetime as dt
import time
import zoneinfo
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from scalepipe.errors import ConfigError
from scalepipe.workflow.spec import Workflow


@dataclass(frozen=True)
class Firing:
    due: dt.datetime  # the scheduled time, in the workflow's time zone
    started: dt.datetime
    missed: int  # due times dropped before this one (no catch-up)

    @property
    def logical_date(self) -> dt.date:
        return self.due.date()


class Clock:
    """The real clock; tests and benchmarks pass one they move themselves."""

    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC)

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


class ManualClock(Clock):
    """A clock that moves only when told, or by the scheduler's sleeps: a day of a
    schedule runs in milliseconds (the tests and benchmarks/workflow.py use it)."""

    def __init__(self, start: dt.datetime) -> None:
        self.time = start

    def now(self) -> dt.datetime:
        return self.time

    def sleep(self, seconds: float) -> None:
        self.time += dt.timedelta(seconds=seconds)


def due_times(workflow: Workflow, after: dt.datetime) -> Iterator[dt.datetime]:
    """The schedule's times after `after`, in the workflow's time zone."""
    from croniter import croniter

    if workflow.schedule is None:
        raise ConfigError(f"workflow {workflow.name} has no schedule")
    zone = zoneinfo.ZoneInfo(workflow.timezone)
    cron = croniter(workflow.schedule, after.astimezone(zone))
    while True:
        yield cron.get_next(dt.datetime)


def schedule(
    workflow: Workflow,
    run: Callable[[Firing], None],
    *,
    clock: Clock | None = None,
    since: dt.datetime | None = None,
    catchup: bool | None = None,
    until: dt.datetime | None = None,
    stop: Callable[[], bool] = lambda: False,
) -> None:
    """Call `run` at each due time from `since` (default: now) until `until` or `stop()`.
    Calls never overlap: `run` returns before the next one is made."""
    clock = clock or Clock()
    catchup = workflow.catchup if catchup is None else catchup
    times = due_times(workflow, since or clock.now())
    due = next(times)
    while not stop() and (until is None or due <= until):
        now = clock.now()
        if due > now:
            clock.sleep(min((due - now).total_seconds(), 1.0))  # wakes to check stop()
            continue
        missed = 0
        if not catchup:  # only the latest of the due times already past
            following = next(times)
            while following <= now:
                due, following, missed = following, next(times), missed + 1
            if until is not None and due > until:
                break
        else:
            following = next(times)
        run(Firing(due=due, started=now, missed=missed))
        due = following
