"""When to poll a feed next, from what the feed and the server asked for and how it has fared.

Pure functions: the flow gives them the poll's outcome and the feed's history and stores what
they return. A failing feed backs off exponentially so a dead feed costs almost nothing per pass.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

MIN_INTERVAL = timedelta(minutes=5)
MAX_INTERVAL = timedelta(hours=24)  # whatever a server asks, a feed is polled at least daily
FAILURE_BASE = timedelta(minutes=15)
MAX_BACKOFF = timedelta(hours=24)
MAX_AGE = re.compile(r"(?:^|,)\s*(?:s-)?max-age\s*=\s*(\d+)", re.IGNORECASE)


@dataclass(frozen=True)
class PollHints:
    """What a feed or its server asked for about the next poll."""

    ttl_minutes: int | None = None  # RSS <ttl>, sy:updatePeriod
    cache_control: str | None = None
    expires: str | None = None
    retry_after: datetime | None = None
    date: str | None = None  # the response's Date header, to read Expires against


def next_poll_after_success(now: datetime, hints: PollHints) -> datetime | None:
    """The earliest time the feed should be polled again after a good answer; None means at the
    next scheduled pass. Requests shorter than MIN_INTERVAL are ignored, longer ones than
    MAX_INTERVAL are capped."""
    asked: list[timedelta] = []
    if hints.ttl_minutes:
        asked.append(timedelta(minutes=hints.ttl_minutes))
    if hints.cache_control:
        if "no-cache" in hints.cache_control.lower() or "no-store" in hints.cache_control.lower():
            pass
        else:
            match = MAX_AGE.search(hints.cache_control)
            if match:
                asked.append(timedelta(seconds=int(match.group(1))))
    if hints.expires and not any(a for a in asked):
        expires = _http_date(hints.expires)
        served = _http_date(hints.date) or now
        if expires:
            asked.append(expires - served)
    if hints.retry_after:
        asked.append(hints.retry_after - now)
    wait = max(asked, default=timedelta(0))
    if wait < MIN_INTERVAL:
        return None
    return now + min(wait, MAX_INTERVAL)


def next_poll_after_failure(
    now: datetime, consecutive_failures: int, retry_after: datetime | None = None
) -> datetime:
    """Exponential backoff from FAILURE_BASE (15, 30, 60 min ... up to a day), or Retry-After
    when the server asked for longer."""
    steps = max(0, consecutive_failures - 1)
    backoff = min(FAILURE_BASE * (2 ** min(steps, 16)), MAX_BACKOFF)
    when = now + backoff
    if retry_after is not None:
        when = max(when, min(retry_after, now + MAX_INTERVAL * 7))
    return when


def is_due(
    next_poll_at: datetime | None, now: datetime, slack: timedelta = timedelta(minutes=1)
) -> bool:
    """A feed is due when it has no next poll time or that time is (nearly) here: a scheduled
    pass that starts a few seconds early still polls it."""
    return next_poll_at is None or next_poll_at <= now + slack


def _http_date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)
