"""Schedule stage (pure): a feed's state + what its last poll came to + now -> when to poll next.

    next_check = now + clamp(max(rhythm, Cache-Control / Expires, <ttl>, sy:update*), lo, hi)
                     + jitter                                   on success
               = now + min(interval * 2^(errors-1), hi) * (1 + jitter)   on failure
               and never before a server's Retry-After.

The clock and the random source are arguments, so every rule here is tested without waiting.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import math
import random
import re
import statistics
from collections.abc import Callable, Iterable, Mapping

from monitor.config import ScheduleConfig
from monitor.models import FeedState, PollResult, ScheduleDecision

Random = Callable[[], float]  # a float in [0, 1), like random.random

SILENT_FACTOR = 5  # silent: no story for five times the feed's median gap between stories
RETRY_AFTER_CAP = 7 * 86400.0  # a Retry-After longer than a week is taken as a week
JITTER = 0.1  # of the interval, on success (and at most JITTER_CAP seconds)
JITTER_CAP = 300.0
BACKOFF_JITTER = 0.25
MIN_GAPS = 2  # gaps between dated stories needed before a rhythm is trusted

def _after(seconds: float) -> dt.timedelta:
    """A delay rounded up to the microsecond (a datetime's resolution): rounded to the nearest,
    a delay could land a microsecond before the lower clamp."""
    return dt.timedelta(microseconds=math.ceil(seconds * 1_000_000))


def bounds(interval: float, config: ScheduleConfig) -> tuple[float, float]:
    """The clamps of one feed. Its own interval is always inside them: the bounds limit what
    hints, rhythm and backoff may do, never what the feed's configuration asks for."""
    return min(config.min_interval, interval), max(config.max_interval, interval)


def clamp(value: float, lo: float, hi: float) -> float:
    return min(max(value, lo), hi)


def adaptive_interval(interval: float, median_gap: float | None) -> float:
    """Busy feeds more often, quiet ones less: twice per usual gap between stories, within a
    factor of four of the configured interval. Without a known rhythm, the interval itself."""
    if median_gap is None or median_gap <= 0:
        return interval
    return clamp(median_gap / 2, interval / 4, interval * 4)


def next_check(state: FeedState, result: PollResult, now: dt.datetime, *, interval: float,
               config: ScheduleConfig, rand: Random = random.random) -> ScheduleDecision:
    """Decide when to poll a feed next from its stored state and the poll just made."""
    lo, hi = bounds(interval, config)
    retry_until = None
    if result.retry_after is not None and result.retry_after > 0:
        retry_until = now + dt.timedelta(seconds=min(result.retry_after, max(hi, RETRY_AFTER_CAP)))

    if result.outcome in ("updated", "not_modified"):
        gap = result.median_gap if result.median_gap is not None else state.median_gap
        hints = [h for h in (result.max_age, result.ttl, result.update_period) if h]
        chosen = clamp(max([adaptive_interval(interval, gap), *hints]), lo, hi)
        delay = chosen + rand() * min(JITTER * chosen, JITTER_CAP)
        when = now + _after(delay)
        if retry_until and retry_until > when:
            when = retry_until
        return ScheduleDecision(next_check=when, interval=chosen, error_count=0,
                                status="ok" if result.outcome == "updated" else "not_modified",
                                retry_after_until=retry_until)

    errors = state.error_count + 1
    failing_since = state.failing_since or now
    missing_since = (state.missing_since or now) if result.status == 404 else None
    reason = None
    if result.status == 410:
        reason = "HTTP 410 Gone: the publisher removed this feed"
    elif missing_since is not None and (now - missing_since).total_seconds() >= config.disable_404_after:
        reason = (f"HTTP 404 Not Found since {missing_since.isoformat(timespec='minutes')} "
                  f"(more than {config.disable_404_after / 86400:g} days)")
    if reason:
        return ScheduleDecision(next_check=None, interval=interval, error_count=errors,
                                status="disabled", failing_since=failing_since,
                                missing_since=missing_since, disabled_reason=reason)

    base = min(interval * 2 ** min(errors - 1, 30), hi)
    when = now + _after(max(base, lo) * (1 + BACKOFF_JITTER * rand()))
    if retry_until and retry_until > when:
        when = retry_until
    return ScheduleDecision(next_check=when, interval=base, error_count=errors,
                            status=result.outcome if result.outcome in ("blocked", "broken")
                            else "error",
                            failing_since=failing_since, missing_since=missing_since,
                            retry_after_until=retry_until)


# -- hints ---------------------------------------------------------------------------------------

_MAX_AGE = re.compile(r"(?:^|[,\s])max-age\s*=\s*\"?(\d+)", re.I)


def cache_lifetime(headers: Mapping[str, str], now: dt.datetime) -> float | None:
    """Seconds the response says it stays fresh: Cache-Control max-age, else Expires - Date."""
    control = headers.get("cache-control", "")
    if re.search(r"no-cache|no-store", control, re.I):
        return None
    match = _MAX_AGE.search(control)
    if match:
        return float(match.group(1)) or None
    expires = headers.get("expires")
    if not expires:
        return None
    try:
        until = email.utils.parsedate_to_datetime(expires)
    except (TypeError, ValueError, IndexError):
        return None  # "0", "-1" and other invalid dates mean "already expired"
    if until is None or until.tzinfo is None:
        return None
    reference = now
    if headers.get("date"):
        try:
            reference = email.utils.parsedate_to_datetime(headers["date"]) or now
        except (TypeError, ValueError, IndexError):
            reference = now
        if reference.tzinfo is None:
            reference = now
    seconds = (until - reference).total_seconds()
    return seconds if seconds > 0 else None


# -- rhythm and status ---------------------------------------------------------------------------

def rhythm(dates: Iterable[dt.datetime | None], now: dt.datetime) -> tuple[float | None, dt.datetime | None]:
    """(median seconds between stories, newest story) from the dates a feed gives its entries.
    Dates in the future (more than a day ahead) are ignored as wrong."""
    horizon = now + dt.timedelta(days=1)
    known = sorted({d for d in dates if d is not None and d <= horizon})
    if not known:
        return None, None
    gaps = [(b - a).total_seconds() for a, b in zip(known, known[1:])]
    median = statistics.median(gaps) if len(gaps) >= MIN_GAPS else None
    return median, known[-1]


def is_silent(median_gap: float | None, newest_entry: dt.datetime | None, now: dt.datetime) -> bool:
    """Much quieter than usual: no story for SILENT_FACTOR times its median gap."""
    if not median_gap or newest_entry is None:
        return False
    return (now - newest_entry).total_seconds() > SILENT_FACTOR * median_gap


def feed_status(state: FeedState | None, *, enabled: bool, now: dt.datetime) -> tuple[str, str]:
    """(status, reason) shown by `monitor feeds`: disabled, blocked, error, broken (a watched
    page whose selector or pattern picks nothing any more), silent, ok, new."""
    if not enabled:
        return "disabled", "disabled in the configuration or by `monitor feeds disable`"
    if state is None or state.status is None:
        return "new", "not polled yet"
    if state.disabled_reason:
        return "disabled", state.disabled_reason
    if state.status in ("blocked", "error", "broken"):
        return state.status, ""
    if is_silent(state.median_gap, state.newest_entry, now):
        days = (now - state.newest_entry).total_seconds() / 86400 if state.newest_entry else 0
        return "silent", (f"no story for {days:.1f} days; it usually publishes every "
                          f"{(state.median_gap or 0) / 3600:.1f} hours")
    return "ok", ""
