"""Health: the database and thresholds -> a verdict (healthy, degraded, down) with its reasons.

``gather()`` reads the facts from the SQLite file, read-only (it never creates or migrates the
database, so `monitor status` is safe beside a running daemon); ``assess()`` is the pure verdict;
``latency()`` the median and 95th percentile of an alert's publication, detection and delivery.
The facts are read by monitor.store.health, through a read-only connection.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from monitor.config import Config, StatusConfig
from monitor.errors import StoreError
from monitor.store.feedset import config_feeds
from monitor.store.health import Component, FailingFeed, status_facts

HEALTHY, DEGRADED, DOWN = "healthy", "degraded", "down"
EXIT_CODES = {HEALTHY: 0, DEGRADED: 1, DOWN: 2}
DAY = dt.timedelta(days=1)
MIN_STALE = 600.0  # the default stale_after is never under 10 minutes


@dataclass(frozen=True, slots=True)
class Spread:
    """Seconds between two times of an alert, over the alerts of the last day."""
    count: int
    median: float | None
    p95: float | None


@dataclass(frozen=True, slots=True)
class Latency:
    published_to_detected: Spread
    detected_to_delivered: Spread
    published_to_delivered: Spread


@dataclass(frozen=True, slots=True)
class Facts:
    database: str
    database_bytes: int
    schema_version: int
    last_poll: str | None
    feeds_polled: int                 # feeds polled within the stale window: the live ones
    failing: tuple[FailingFeed, ...]  # live feeds whose last poll failed
    components: tuple[Component, ...]  # the daemon's parts (the extraction pool)
    pending_alerts: int
    oldest_pending: str | None
    failed_alerts_last_day: int
    clippings: int
    flagged: int
    latency: Latency
    sending_alerts: int = 0  # claimed for sending, not marked yet
    lapsed_claims: int = 0  # of those, the ones whose claim lapsed: their process died mid-send


@dataclass(frozen=True, slots=True)
class Status:
    status: str
    reasons: tuple[str, ...]
    facts: Facts | None
    checked_at: str
    thresholds: dict[str, Any] = field(default_factory=dict)

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.status]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def parse_time(text: str | None) -> dt.datetime | None:
    """An ISO time from the database; a bare date (a page's publication date) is no time."""
    if not text or len(text) <= 10:
        return None
    try:
        when = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=dt.timezone.utc)


def percentile(values: Sequence[float], q: float) -> float | None:
    """The nearest-rank percentile (q in 0..100) of ``values``; None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def spread(values: Sequence[float]) -> Spread:
    if not values:
        return Spread(0, None, None)
    ordered = sorted(values)
    n = len(ordered)
    median = ordered[n // 2] if n % 2 else (ordered[n // 2 - 1] + ordered[n // 2]) / 2
    return Spread(n, median, percentile(ordered, 95))


def latency(rows: Sequence[tuple[str | None, str | None, str | None]]) -> Latency:
    """(published, detected, delivered) per alert -> the three spreads. A publication time
    later than detection (a feed's wrong clock or time zone) is left out rather than counted
    as zero; a publication known only by its date is left out too."""
    to_detected: list[float] = []
    to_delivered: list[float] = []
    end_to_end: list[float] = []
    for published, detected, delivered in rows:
        p, d, s = parse_time(published), parse_time(detected), parse_time(delivered)
        if d and s and s >= d:
            to_delivered.append((s - d).total_seconds())
        if p and d and d >= p:
            to_detected.append((d - p).total_seconds())
            if s and s >= d:
                end_to_end.append((s - p).total_seconds())
    return Latency(spread(to_detected), spread(to_delivered), spread(end_to_end))


def stale_after(config: Config) -> float:
    """[status] stale_after, else three times the longest poll interval (10 minutes at least)."""
    if config.status.stale_after:
        return config.status.stale_after
    intervals = [f.interval or config.interval for f in config_feeds(config)
                 if f.enabled] or [config.interval]
    return max(3 * max(intervals), MIN_STALE)


def gather(config: Config, now: dt.datetime) -> Facts:
    """Read the facts; raises StoreError or OSError when the database cannot be read."""
    path = config.database
    if not path.exists():
        raise FileNotFoundError(f"no database at {path} (the daemon has not run yet?)")
    size = sum(p.stat().st_size for p in (path, Path(f"{path}-wal")) if p.exists())
    read = status_facts(path, live_since=now - dt.timedelta(seconds=stale_after(config)),
                        day_ago=now - DAY, now=now)
    return Facts(database=str(path), database_bytes=size, schema_version=read.schema_version,
                 last_poll=read.last_poll, feeds_polled=read.feeds_polled, failing=read.failing,
                 components=read.components,
                 pending_alerts=read.pending_alerts, oldest_pending=read.oldest_pending,
                 failed_alerts_last_day=read.failed_alerts, clippings=read.clippings,
                 flagged=read.flagged, latency=latency(read.sent_alerts),
                 sending_alerts=read.sending_alerts, lapsed_claims=read.lapsed_claims)


def _ago(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f}{unit}"
    return f"{seconds:.0f}s"


def assess(facts: Facts, limits: StatusConfig, stale: float, now: dt.datetime) -> tuple[str, list[str]]:
    """The verdict and its reasons (pure). Down: no poll within ``stale`` seconds, or every live
    feed failing. Degraded: some feed failing, the extraction pool failing, an alert pending
    longer than pending_after, or more than failed_alerts failed alerts in a day. A feed is
    failing once it has failed for failing_after; one that never succeeded, from its first
    failed attempt (it has no working past to give it the benefit of the doubt)."""
    down: list[str] = []
    degraded: list[str] = []
    last = parse_time(facts.last_poll)
    if last is None:
        down.append("no feed was ever polled")
    elif (now - last).total_seconds() > stale:
        down.append(f"no poll for {_ago((now - last).total_seconds())} (stale_after {_ago(stale)})")
    long_failing = [f for f in facts.failing
                    if (since := parse_time(f.failing_since)) is not None
                    and (now - since).total_seconds() >= limits.failing_after]
    never_worked = [f for f in facts.failing if f.never_succeeded and f not in long_failing]
    failing = len(long_failing) + len(never_worked)
    if failing:
        parts = []
        if long_failing:
            parts.append(f"{len(long_failing)} failing for more than {_ago(limits.failing_after)}")
        if never_worked:
            parts.append(f"{len(never_worked)} failing since their first poll")
        message = f"{failing} of {facts.feeds_polled} feeds failing: {', '.join(parts)}"
        (down if failing >= facts.feeds_polled else degraded).append(message)
    for part in facts.components:
        if part.state != "ok":
            degraded.append(f"{part.name} {part.state} since {part.since}: {part.detail}")
    oldest = parse_time(facts.oldest_pending)
    if oldest and (now - oldest).total_seconds() > limits.pending_after:
        degraded.append(f"an alert pending for {_ago((now - oldest).total_seconds())} "
                        f"(pending_after {_ago(limits.pending_after)})")
    if facts.lapsed_claims:
        degraded.append(f"{facts.lapsed_claims} alerts left 'sending' by a process that ended "
                        "before marking them (their claim lapsed): the next delivery pass sends "
                        "them again, with the same key")
    if facts.failed_alerts_last_day > limits.failed_alerts:
        degraded.append(f"{facts.failed_alerts_last_day} failed alerts in the last day "
                        f"(failed_alerts {limits.failed_alerts})")
    if down:
        return DOWN, down + degraded
    if degraded:
        return DEGRADED, degraded
    return HEALTHY, []


def check(config: Config, now: dt.datetime | None = None) -> Status:
    """The status of the monitor using ``config``: what `monitor status` and /healthz report."""
    now = now or dt.datetime.now(dt.timezone.utc)
    stale = stale_after(config)
    limits = config.status
    thresholds = {"stale_after": stale, "failing_after": limits.failing_after,
                  "pending_after": limits.pending_after, "failed_alerts": limits.failed_alerts}
    checked = now.isoformat(timespec="seconds")
    try:
        facts = gather(config, now)
    except (StoreError, OSError) as e:
        return Status(DOWN, (f"database unreadable: {e}",), None, checked, thresholds)
    verdict, reasons = assess(facts, limits, stale, now)
    return Status(verdict, tuple(reasons), facts, checked, thresholds)
