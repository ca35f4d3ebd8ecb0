"""Schedules as the configuration writes them: a cron expression or an interval such as "15m"."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta

INTERVAL = re.compile(r"^\s*(\d+)\s*([smhd])\s*$")
UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
CRON_FIELD = re.compile(r"^[\d*/,\-A-Za-z?]+$")


class ScheduleError(ValueError):
    """A schedule string is neither a 5-field cron expression nor an interval like "15m"."""


@dataclass(frozen=True)
class Schedule:
    cron: str | None = None
    interval: timedelta | None = None


def parse_schedule(value: str) -> Schedule:
    """Parse "*/15 * * * *" (cron) or "15m"/"1h"/"30s"/"1d" (interval)."""
    match = INTERVAL.match(value)
    if match:
        seconds = int(match.group(1)) * UNIT_SECONDS[match.group(2)]
        if seconds < 60:
            raise ScheduleError(f"interval {value!r} is shorter than a minute.")
        return Schedule(interval=timedelta(seconds=seconds))
    fields = value.split()
    if len(fields) != 5 or not all(CRON_FIELD.match(f) for f in fields):
        raise ScheduleError(
            f'{value!r} is neither a cron expression (5 fields, e.g. "*/15 * * * *") '
            'nor an interval (e.g. "15m").'
        )
    return Schedule(cron=" ".join(fields))
