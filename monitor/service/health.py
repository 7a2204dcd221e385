"""Health: the database and thresholds -> a verdict (healthy, degraded, down) with its reasons.

``gather()`` reads the facts from the SQLite file, read-only (it never creates or migrates the
database, so `monitor status` is safe beside a running daemon); ``assess()`` is the pure verdict;
``latency()`` the median and 95th percentile of an alert's publication, detection and delivery.
The read queries live here rather than in store.py: they span the whole database and must work
on a file that a newer or older daemon owns (columns are looked up, not assumed).
"""

from __future__ import annotations

import datetime as dt
import math
import sqlite3
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from monitor.config import Config, StatusConfig

HEALTHY, DEGRADED, DOWN = "healthy", "degraded", "down"
EXIT_CODES = {HEALTHY: 0, DEGRADED: 1, DOWN: 2}
DAY = dt.timedelta(days=1)
MIN_STALE = 600.0  # the default stale_after is never under 10 minutes


@dataclass(frozen=True, slots=True)
class FailingFeed:
    url: str
    name: str
    failing_since: str | None
    error_count: int
    last_error: str | None


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
    pending_alerts: int
    oldest_pending: str | None
    failed_alerts_last_day: int
    clippings: int
    flagged: int
    latency: Latency


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
    intervals = [f.interval or config.interval for f in config.feeds if f.enabled] or [config.interval]
    return max(3 * max(intervals), MIN_STALE)


def _columns(conn: sqlite3.Connection, table: str) -> set[str]:
    return {row[1] for row in conn.execute(f"pragma table_info([{table}])")}


def gather(config: Config, now: dt.datetime) -> Facts:
    """Read the facts; raises sqlite3.Error or OSError when the database cannot be read."""
    path = config.database
    if not path.exists():
        raise FileNotFoundError(f"no database at {path} (the daemon has not run yet?)")
    size = sum(p.stat().st_size for p in (path, Path(f"{path}-wal")) if p.exists())
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=10)
    try:
        conn.execute("pragma busy_timeout = 10000")
        version = int(conn.execute("pragma user_version").fetchone()[0])
        live_since = (now - dt.timedelta(seconds=stale_after(config))).isoformat(timespec="seconds")
        feed_columns = _columns(conn, "feeds")
        since = "failing_since" if "failing_since" in feed_columns else "null"
        last_poll = conn.execute("select max(last_checked) from feeds").fetchone()[0]
        polled = conn.execute("select count(*) from feeds where last_checked >= ?",
                              [live_since]).fetchone()[0]
        failing = tuple(FailingFeed(url, name or "", since_, count or 0, error) for
                        url, name, since_, count, error in conn.execute(
            f"select url, name, {since}, error_count, last_error from feeds "
            "where error_count > 0 and last_checked >= ? order by url", [live_since]))
        pending, oldest = conn.execute(
            "select count(*), min(created_at) from alerts where status = 'pending'").fetchone()
        day_ago = (now - DAY).isoformat(timespec="seconds")
        failed = conn.execute("select count(*) from alerts where status = 'failed' and "
                              "coalesce(next_attempt, created_at) >= ?", [day_ago]).fetchone()[0]
        clippings, flagged = conn.execute(
            "select count(*), coalesce(sum(flagged), 0) from clippings").fetchone()
        published = "published_at" if "published_at" in _columns(conn, "alerts") else "null"
        rows = conn.execute(f"select {published}, created_at, sent_at from alerts "
                            "where status = 'sent' and sent_at >= ?", [day_ago]).fetchall()
    finally:
        conn.close()
    return Facts(database=str(path), database_bytes=size, schema_version=version,
                 last_poll=last_poll, feeds_polled=polled, failing=failing,
                 pending_alerts=pending, oldest_pending=oldest, failed_alerts_last_day=failed,
                 clippings=clippings, flagged=int(flagged), latency=latency(rows))


def _ago(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f}{unit}"
    return f"{seconds:.0f}s"


def assess(facts: Facts, limits: StatusConfig, stale: float, now: dt.datetime) -> tuple[str, list[str]]:
    """The verdict and its reasons (pure). Down: no poll within ``stale`` seconds, or every live
    feed failing for longer than failing_after. Degraded: some feed failing that long, an alert
    pending longer than pending_after, or more than failed_alerts failed alerts in a day."""
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
    if long_failing:
        message = (f"{len(long_failing)} of {facts.feeds_polled} feeds failing for more than "
                   f"{_ago(limits.failing_after)}")
        (down if len(long_failing) >= facts.feeds_polled else degraded).append(message)
    oldest = parse_time(facts.oldest_pending)
    if oldest and (now - oldest).total_seconds() > limits.pending_after:
        degraded.append(f"an alert pending for {_ago((now - oldest).total_seconds())} "
                        f"(pending_after {_ago(limits.pending_after)})")
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
    except (sqlite3.Error, OSError) as e:
        return Status(DOWN, (f"database unreadable: {e}",), None, checked, thresholds)
    verdict, reasons = assess(facts, limits, stale, now)
    return Status(verdict, tuple(reasons), facts, checked, thresholds)
