"""When a feed is polled next."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from extractors.polling import (
    MAX_BACKOFF,
    MAX_INTERVAL,
    PollHints,
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
    assert all(b >= a for a, b in zip(waits, waits[1:], strict=False))
    assert waits[-1] == MAX_BACKOFF


def test_retry_after_longer_than_backoff_is_honoured() -> None:
    later = NOW + timedelta(hours=5)
    assert next_poll_after_failure(NOW, 1, retry_after=later) == later
    assert next_poll_after_failure(NOW, 1, retry_after=NOW) == NOW + timedelta(minutes=15)


def test_due() -> None:
    assert is_due(None, NOW)
    assert is_due(NOW + timedelta(seconds=30), NOW)  # a pass that starts a little early
    assert not is_due(NOW + timedelta(minutes=10), NOW)
