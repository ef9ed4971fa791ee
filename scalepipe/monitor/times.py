"""Times and spans as users write them: `--since 2026-12-01T06:00` or `--since 24h`,
`--window 1h30m`. Nothing here needs pyarrow: the model server imports the monitor
package, and its image has no pyarrow."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from scalepipe.monitor.drift import MonitorError

_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*([smhdw])")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def duration(text: str) -> timedelta:
    """`90s`, `15m`, `1h`, `7d`, `2w` (or several: `1h30m`)."""
    found = _DURATION.findall(text.strip().lower())
    if not found or _DURATION.sub("", text.strip().lower()).strip():
        raise MonitorError(f"a duration is like 90s, 15m, 1h, 7d or 2w, not {text!r}")
    return sum((timedelta(**{_UNITS[unit]: float(amount)}) for amount, unit in found), timedelta())


def moment(text: str, now: datetime | None = None) -> datetime:
    """An ISO 8601 time (UTC when it names no zone), or a duration ago (`24h`)."""
    now = now or datetime.now(UTC)
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return now - duration(text)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
