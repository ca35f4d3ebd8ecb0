"""When a feed is polled next."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import pairwise

import pytest

from extractors.polling import (
    MAX_BACKOFF,
    MAX_INTERVAL,
    PollBounds,
    PollHints,
    adaptive_interval,
    current_interval,
    is_due,
    next_poll_after_failure,
    next_poll_after_success,
)

NOW = datetime(2026, 1, 10, 12, 0, tzinfo=UTC)


def test_no_hints_means_next_scheduled_pass() -> None:
    assert next_poll_after_success(NOW, PollHints()) is None


def test_short_requests_are_ignored() -> None:
    assert next_poll_after_success(NOW, PollHints(cache_control="max-age=60")) is None


@pytest.mark.parametrize(
    ("hints", "expected"),
    [
        (PollHints(ttl_minutes=60), timedelta(minutes=60)),
        (PollHints(cache_control="public, max-age=1800"), timedelta(minutes=30)),
        (PollHints(cache_control="s-maxage=10, max-age=3600"), timedelta(hours=1)),
        (PollHints(ttl_minutes=30, cache_control="max-age=7200"), timedelta(hours=2)),
        (
            PollHints(
                expires="Sat, 10 Jan 2026 13:00:00 GMT", date="Sat, 10 Jan 2026 12:00:00 GMT"
            ),
            timedelta(hours=1),
        ),
        (PollHints(retry_after=NOW + timedelta(hours=3)), timedelta(hours=3)),
        (PollHints(ttl_minutes=60 * 24 * 30), MAX_INTERVAL),
    ],
)
def test_latest_request_wins_within_bounds(hints: PollHints, expected: timedelta) -> None:
    assert next_poll_after_success(NOW, hints) == NOW + expected


def test_no_store_is_not_a_max_age() -> None:
    assert next_poll_after_success(NOW, PollHints(cache_control="no-store")) is None


def test_failures_back_off_exponentially_up_to_a_day() -> None:
    waits = [next_poll_after_failure(NOW, n) - NOW for n in range(1, 12)]
    assert waits[0] == timedelta(minutes=15)
    assert waits[1] == timedelta(minutes=30)
    assert all(b >= a for a, b in pairwise(waits))
    assert waits[-1] == MAX_BACKOFF


def test_retry_after_longer_than_backoff_is_honoured() -> None:
    later = NOW + timedelta(hours=5)
    assert next_poll_after_failure(NOW, 1, retry_after=later) == later
    assert next_poll_after_failure(NOW, 1, retry_after=NOW) == NOW + timedelta(minutes=15)


def test_due() -> None:
    assert is_due(None, NOW)
    assert is_due(NOW + timedelta(seconds=30), NOW)  # a pass that starts a little early
    assert not is_due(NOW + timedelta(minutes=10), NOW)


# Adaptive polling ---------------------------------------------------------------------------

HOUR = timedelta(hours=1)
BOUNDS = PollBounds(min_interval=timedelta(minutes=10), max_interval=timedelta(hours=12))


@pytest.mark.parametrize(
    ("new", "total", "expected"),
    [
        (0, 20, HOUR * 1.5),  # nothing new: later
        (0, 0, HOUR * 1.5),  # a 304 or an unchanged body
        (1, 20, HOUR * 0.75),  # some new: a little sooner
        (9, 20, HOUR * 0.75),
        (10, 20, HOUR * 0.5),  # half new: twice as often
        (19, 20, HOUR * 0.5),
        (20, 20, BOUNDS.min_interval),  # all new: items may have been missed
        (25, 20, BOUNDS.min_interval),  # more new than carried (another feed's copies)
    ],
)
def test_adaptive_interval_follows_the_share_of_new_entries(
    new: int, total: int, expected: timedelta
) -> None:
    assert adaptive_interval(HOUR, new, total, BOUNDS) == expected


def test_adaptive_interval_stays_within_bounds() -> None:
    assert adaptive_interval(timedelta(hours=10), 0, 20, BOUNDS) == BOUNDS.max_interval
    assert adaptive_interval(timedelta(minutes=12), 5, 5, BOUNDS) == BOUNDS.min_interval
    assert adaptive_interval(timedelta(minutes=12), 10, 20, BOUNDS) == BOUNDS.min_interval


def test_a_dead_feed_drifts_to_the_longest_interval_and_a_busy_one_to_the_shortest() -> None:
    interval = BOUNDS.min_interval
    for _ in range(12):
        interval = adaptive_interval(interval, 0, 30, BOUNDS)
    assert interval == BOUNDS.max_interval
    for _ in range(3):
        interval = adaptive_interval(interval, 16, 30, BOUNDS)
    assert interval == timedelta(hours=1.5)
    assert adaptive_interval(interval, 30, 30, BOUNDS) == BOUNDS.min_interval


@pytest.mark.parametrize(
    ("last", "next_at", "failures", "expected"),
    [
        (NOW, NOW + 2 * HOUR, 0, 2 * HOUR),
        (NOW, NOW + 30 * HOUR, 0, BOUNDS.max_interval),
        (NOW, NOW + timedelta(minutes=1), 0, BOUNDS.min_interval),
        (NOW, None, 0, BOUNDS.min_interval),  # polled at every pass
        (None, None, 0, BOUNDS.min_interval),  # never polled
        (NOW, NOW + 2 * HOUR, 3, BOUNDS.min_interval),  # that was a backoff, not a schedule
    ],
)
def test_current_interval(
    last: datetime | None, next_at: datetime | None, failures: int, expected: timedelta
) -> None:
    assert current_interval(last, next_at, failures, BOUNDS) == expected


def test_the_later_of_the_adaptive_interval_and_the_servers_request_wins() -> None:
    ttl = PollHints(ttl_minutes=60)
    assert next_poll_after_success(NOW, ttl, BOUNDS, interval=2 * HOUR) == NOW + 2 * HOUR
    assert next_poll_after_success(NOW, ttl, BOUNDS, interval=HOUR / 4) == NOW + HOUR
    assert next_poll_after_success(NOW, PollHints(), BOUNDS, interval=20 * HOUR) == NOW + 12 * HOUR
    assert next_poll_after_success(NOW, PollHints(), BOUNDS, interval=timedelta(minutes=5)) is None
