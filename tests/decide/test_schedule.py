"""schedule.next_check and its helpers: pure, table-driven and property tests (no I/O, no waiting)."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from monitor.config import ScheduleConfig
from monitor.models import FeedState, PollResult
from monitor.decide.schedule import (adaptive_interval, bounds, cache_lifetime, feed_status, is_silent,
                              next_check, rhythm)
from monitor.parse.feeds import ttl_seconds, update_period_seconds

NOW = dt.datetime(2026, 11, 3, 12, 0, tzinfo=dt.timezone.utc)
BOUNDS = ScheduleConfig(min_interval=300, max_interval=6 * 3600, disable_404_after=3 * 86400)
STATE = FeedState(url="https://example.org/feed")


def zero() -> float:
    return 0.0


def almost_one() -> float:
    return 0.999999


def wait(decision) -> float:
    return (decision.next_check - NOW).total_seconds()


@pytest.mark.parametrize("result, expected", [
    (PollResult("updated"), 900),  # no hint, no rhythm: the interval
    (PollResult("not_modified"), 900),
    (PollResult("updated", max_age=3600), 3600),  # Cache-Control: come back in an hour
    (PollResult("updated", max_age=60), 900),  # a shorter hint never makes us poll faster
    (PollResult("updated", ttl=7200), 7200),  # RSS <ttl>
    (PollResult("updated", update_period=86400), 6 * 3600),  # sy:updatePeriod daily, clamped
    (PollResult("updated", max_age=10 * 86400), 6 * 3600),  # clamped to max_interval
    (PollResult("updated", median_gap=600), 300),  # busy feed: twice per gap, >= min_interval
    (PollResult("updated", median_gap=4 * 3600), 3600),  # quiet: at most 4x the interval
    (PollResult("updated", median_gap=3600), 1800),
])
def test_success_intervals(result: PollResult, expected: float) -> None:
    decision = next_check(STATE, result, NOW, interval=900, config=BOUNDS, rand=zero)
    assert decision.interval == expected
    assert wait(decision) == expected
    assert decision.error_count == 0 and decision.disabled_reason is None


def test_jitter_only_adds_and_is_bounded() -> None:
    low = next_check(STATE, PollResult("updated"), NOW, interval=900, config=BOUNDS, rand=zero)
    high = next_check(STATE, PollResult("updated"), NOW, interval=900, config=BOUNDS, rand=almost_one)
    assert wait(low) == 900
    assert 900 < wait(high) <= 900 * 1.1


def test_the_rhythm_of_earlier_polls_is_kept_on_a_304() -> None:
    state = FeedState(url=STATE.url, median_gap=600)
    decision = next_check(state, PollResult("not_modified"), NOW, interval=900, config=BOUNDS, rand=zero)
    assert decision.interval == 300


def test_backoff_doubles_with_jitter_up_to_the_bound() -> None:
    state = STATE
    waits = []
    for _ in range(8):
        decision = next_check(state, PollResult("error", status=500, error="HTTP 500"), NOW,
                              interval=900, config=BOUNDS, rand=zero)
        waits.append(wait(decision))
        state = FeedState(url=STATE.url, error_count=decision.error_count,
                          failing_since=decision.failing_since)
    assert waits == [900, 1800, 3600, 7200, 14400, 21600, 21600, 21600]
    jittered = next_check(FeedState(url=STATE.url, error_count=1), PollResult("error"), NOW,
                          interval=900, config=BOUNDS, rand=almost_one)
    assert 1800 < wait(jittered) <= 1800 * 1.25
    assert state.failing_since == NOW  # the first failure of the run is remembered


def test_success_resets_the_backoff() -> None:
    state = FeedState(url=STATE.url, error_count=5, failing_since=NOW - dt.timedelta(hours=3))
    decision = next_check(state, PollResult("updated"), NOW, interval=900, config=BOUNDS, rand=zero)
    assert decision.error_count == 0 and decision.failing_since is None and wait(decision) == 900


def test_retry_after_wins_over_a_shorter_backoff_and_is_recorded() -> None:
    decision = next_check(STATE, PollResult("error", status=429, retry_after=7200), NOW,
                          interval=900, config=BOUNDS, rand=zero)
    assert wait(decision) == 7200
    assert decision.retry_after_until == NOW + dt.timedelta(seconds=7200)
    capped = next_check(STATE, PollResult("error", status=503, retry_after=10**9), NOW,
                        interval=900, config=BOUNDS, rand=zero)
    assert wait(capped) == 7 * 86400


def test_blocked_is_its_own_status() -> None:
    decision = next_check(STATE, PollResult("blocked", status=403), NOW, interval=900,
                          config=BOUNDS, rand=zero)
    assert decision.status == "blocked" and decision.error_count == 1


def test_410_disables_at_once() -> None:
    decision = next_check(STATE, PollResult("error", status=410), NOW, interval=900, config=BOUNDS)
    assert decision.next_check is None and decision.status == "disabled"
    assert "410" in (decision.disabled_reason or "")


def test_404_disables_only_after_days() -> None:
    first = next_check(STATE, PollResult("error", status=404), NOW, interval=900, config=BOUNDS)
    assert first.status == "error" and first.missing_since == NOW
    later = NOW + dt.timedelta(days=2, hours=23)
    state = FeedState(url=STATE.url, error_count=40, missing_since=NOW)
    still = next_check(state, PollResult("error", status=404), later, interval=900, config=BOUNDS)
    assert still.status == "error"
    gone = next_check(state, PollResult("error", status=404), NOW + dt.timedelta(days=3),
                      interval=900, config=BOUNDS)
    assert gone.status == "disabled" and "404" in (gone.disabled_reason or "")
    # a 500 in between starts the count again
    other = next_check(state, PollResult("error", status=500), later, interval=900, config=BOUNDS)
    assert other.missing_since is None


@given(interval=st.floats(1, 7 * 86400), errors=st.integers(0, 100),
       outcome=st.sampled_from(["updated", "not_modified", "error", "blocked"]),
       hint=st.none() | st.floats(0, 365 * 86400), gap=st.none() | st.floats(0.001, 365 * 86400),
       noise=st.floats(0, 0.999999))
@example(interval=1.01953125, errors=0, outcome="updated", hint=None, gap=None, noise=0.0)
def test_every_decision_stays_within_the_clamps(interval: float, errors: int, outcome: str,
                                               hint: float | None, gap: float | None,
                                               noise: float) -> None:
    lo, hi = bounds(interval, BOUNDS)
    state = FeedState(url=STATE.url, error_count=errors)
    result = PollResult(outcome, status=500 if outcome == "error" else 200, max_age=hint,
                        median_gap=gap)
    decision = next_check(state, result, NOW, interval=interval, config=BOUNDS, rand=lambda: noise)
    assert decision.next_check is not None
    assert lo <= decision.interval <= hi
    assert lo <= wait(decision) <= hi * 1.25 + 1e-6
    assert lo <= interval <= hi  # the feed's own interval is always allowed


def test_adaptive_interval_follows_the_rhythm_within_a_factor_of_four() -> None:
    assert adaptive_interval(900, None) == 900
    assert adaptive_interval(900, 60) == 225
    assert adaptive_interval(900, 10**6) == 3600


def test_cache_lifetime_from_headers() -> None:
    assert cache_lifetime({"cache-control": "public, max-age=600"}, NOW) == 600
    assert cache_lifetime({"cache-control": "no-cache, max-age=600"}, NOW) is None
    assert cache_lifetime({"expires": "Tue, 03 Nov 2026 13:00:00 GMT"}, NOW) == 3600
    assert cache_lifetime({"expires": "Tue, 03 Nov 2026 13:00:00 GMT",
                           "date": "Tue, 03 Nov 2026 12:30:00 GMT"}, NOW) == 1800
    assert cache_lifetime({"expires": "0"}, NOW) is None
    assert cache_lifetime({"expires": "Mon, 02 Nov 2026 13:00:00 GMT"}, NOW) is None
    assert cache_lifetime({}, NOW) is None


def test_feed_level_hints() -> None:
    assert ttl_seconds("60") == 3600
    assert ttl_seconds("soon") is None and ttl_seconds(None) is None and ttl_seconds("-5") is None
    assert update_period_seconds("hourly", "2") == 1800
    assert update_period_seconds(None, "4") == 86400 / 4  # daily by default
    assert update_period_seconds("weekly", None) == 7 * 86400
    assert update_period_seconds(None, None) is None
    assert update_period_seconds("fortnightly", "1") is None


def test_rhythm_and_silence() -> None:
    dates = [NOW - dt.timedelta(hours=h) for h in (1, 3, 5, 7)]
    gap, newest = rhythm([*dates, None, NOW + dt.timedelta(days=30)], NOW)
    assert gap == 7200 and newest == dates[0]
    assert rhythm([NOW], NOW) == (None, NOW)  # one story is no rhythm
    assert rhythm([], NOW) == (None, None)
    assert not is_silent(7200, NOW - dt.timedelta(hours=9), NOW)
    assert is_silent(7200, NOW - dt.timedelta(hours=11), NOW)
    assert not is_silent(None, NOW - dt.timedelta(days=300), NOW)


def test_feed_status_labels() -> None:
    assert feed_status(None, enabled=True, now=NOW)[0] == "new"
    assert feed_status(STATE, enabled=False, now=NOW)[0] == "disabled"
    gone = FeedState(url=STATE.url, status="disabled", disabled_reason="HTTP 410 Gone")
    assert feed_status(gone, enabled=True, now=NOW) == ("disabled", "HTTP 410 Gone")
    assert feed_status(FeedState(url=STATE.url, status="blocked"), enabled=True, now=NOW)[0] == "blocked"
    quiet = FeedState(url=STATE.url, status="not_modified", median_gap=3600,
                      newest_entry=NOW - dt.timedelta(days=2))
    status, reason = feed_status(quiet, enabled=True, now=NOW)
    assert status == "silent" and "2.0 days" in reason
    assert feed_status(FeedState(url=STATE.url, status="ok"), enabled=True, now=NOW)[0] == "ok"
