"""The built-in scheduler on a fake clock: a day of runs on time, downtime made up or
dropped, runs that never overlap."""

from __future__ import annotations

import datetime as dt
import itertools

from scalepipe.workflow import parse_workflow
from scalepipe.workflow.scheduler import Firing, ManualClock, schedule

UTC = dt.UTC


def every(cron: str, timezone: str = "UTC", catchup: bool = False) -> object:
    return parse_workflow({"schedule": cron, "timezone": timezone, "catchup": catchup,
                           "steps": {"a": {"kind": "run", "command": "true"}}},
                          default_name="w")  # fmt: skip


def test_a_day_of_quarter_hours_starts_each_run_on_time_with_runs_that_take_time() -> None:
    start = dt.datetime(2026, 12, 1, 0, 0, 3, tzinfo=UTC)
    clock = ManualClock(start)
    fired: list[Firing] = []

    def run(firing: Firing) -> None:
        fired.append(firing)
        clock.time += dt.timedelta(seconds=37.25)  # each run takes a while

    schedule(every("*/15 * * * *"), run, clock=clock,  # type: ignore[arg-type]
             until=start + dt.timedelta(days=1))  # fmt: skip
    assert len(fired) == 96
    drift = [(f.started - f.due).total_seconds() for f in fired]
    assert max(drift) < 1.0  # the scheduler wakes at least once a second
    assert fired[0].due == dt.datetime(2026, 12, 1, 0, 15, tzinfo=UTC)
    assert fired[-1].due == dt.datetime(2026, 12, 2, 0, 0, tzinfo=UTC)


def test_after_downtime_the_missed_runs_are_made_up_in_order_or_dropped() -> None:
    since = dt.datetime(2026, 12, 1, 5, 0, tzinfo=UTC)
    for catchup, expected in ((True, [1, 2, 3, 4]), (False, [4])):
        clock = ManualClock(dt.datetime(2026, 12, 4, 12, 0, tzinfo=UTC))  # back after 3 days
        fired: list[Firing] = []
        schedule(every("0 6 * * *", catchup=catchup), fired.append, clock=clock,  # type: ignore[arg-type]
                 since=since, until=clock.time)  # fmt: skip
        assert [f.due.day for f in fired] == expected
        assert [f.logical_date.isoformat() for f in fired][-1] == "2026-12-04"
    assert fired[0].missed == 3


def test_a_run_longer_than_the_interval_never_overlaps_the_next() -> None:
    clock = ManualClock(dt.datetime(2026, 12, 1, 0, 0, tzinfo=UTC))
    spans: list[tuple[dt.datetime, dt.datetime]] = []

    def slow(firing: Firing) -> None:
        begun = clock.time
        clock.time += dt.timedelta(minutes=25)  # the interval is 10 minutes
        spans.append((begun, clock.time))

    schedule(every("*/10 * * * *"), slow, clock=clock,  # type: ignore[arg-type]
             until=dt.datetime(2026, 12, 1, 2, 0, tzinfo=UTC))  # fmt: skip
    assert all(end <= next_start for (_, end), (next_start, _) in itertools.pairwise(spans))
    assert len(spans) == 5  # the due times missed while running are dropped (no catch-up)


def test_the_schedule_follows_the_workflows_time_zone_across_a_clock_change() -> None:
    clock = ManualClock(dt.datetime(2026, 3, 27, 12, 0, tzinfo=UTC))
    fired: list[Firing] = []
    schedule(every("0 6 * * *", timezone="Europe/Paris"), fired.append, clock=clock,  # type: ignore[arg-type]
             until=dt.datetime(2026, 3, 30, 12, 0, tzinfo=UTC))  # fmt: skip
    # 06:00 in Paris: 05:00 UTC before summer time (from 02:00 on 29 March), 04:00 after.
    assert [f.due.astimezone(UTC).hour for f in fired] == [5, 4, 4]
    assert [f.logical_date.day for f in fired] == [28, 29, 30]
