"""Store stage, read only: the facts that `monitor status`, /healthz and /metrics report.

Read through a read-only connection, so a status check never creates or migrates the database
and is safe beside a running daemon. The file may belong to a newer or older daemon, so
columns added by later migrations are looked up, not assumed. sqlite3 errors become StoreError.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from monitor.errors import StoreError
from monitor.safetext import mask_credentials


@dataclass(frozen=True, slots=True)
class FailingFeed:
    url: str
    name: str
    failing_since: str | None
    error_count: int
    last_error: str | None
    never_succeeded: bool = False  # failing from its first attempt: no grace period


@dataclass(frozen=True, slots=True)
class Component:
    """A part of the daemon that no feed row shows (the extraction pool) and its state."""
    name: str
    state: str  # "ok" or "failing"
    detail: str | None
    since: str | None


@dataclass(frozen=True, slots=True)
class StatusFacts:
    """What the database says about the monitor's health; times as stored (ISO text)."""

    schema_version: int
    last_poll: str | None
    feeds_polled: int  # feeds polled since ``live_since``
    failing: tuple[FailingFeed, ...]  # of those, the ones whose last poll failed
    components: tuple[Component, ...]  # the daemon's parts, as it last wrote them
    pending_alerts: int
    oldest_pending: str | None
    failed_alerts: int  # failed since ``day_ago``
    clippings: int
    flagged: int
    # (published, detected, delivered) of each alert sent since ``day_ago``
    sent_alerts: tuple[tuple[str | None, str | None, str | None], ...]
    sending_alerts: int = 0  # claimed by a process for sending, not marked yet
    lapsed_claims: int = 0  # of those, the ones whose claim's deadline has passed


@dataclass(frozen=True, slots=True)
class LabelCounts:
    """The per-label gauges of /metrics."""

    matches_by_rule: tuple[tuple[str, int], ...]
    alerts_by_notifier_status: tuple[tuple[str, str, int], ...]


@contextmanager
def _read_only(path: Path) -> Iterator[sqlite3.Connection]:
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=10)
    except sqlite3.Error as e:
        raise StoreError(f"cannot read the database {path}: {e}") from e
    try:
        conn.execute("pragma busy_timeout = 10000")
        yield conn
    except sqlite3.Error as e:
        raise StoreError(f"cannot read the database {path}: {e}") from e
    finally:
        conn.close()


def _columns(conn: sqlite3.Connection, table: str) -> set[str]:
    return {row[1] for row in conn.execute(f"pragma table_info([{table}])")}


def status_facts(path: Path, *, live_since: dt.datetime, day_ago: dt.datetime,
                 now: dt.datetime | None = None) -> StatusFacts:
    """The health facts of the database at ``path``. StoreError when it cannot be read."""
    now = now or dt.datetime.now(dt.timezone.utc)
    live = live_since.isoformat(timespec="seconds")
    day = day_ago.isoformat(timespec="seconds")
    with _read_only(path) as conn:
        version = int(conn.execute("pragma user_version").fetchone()[0])
        last_poll = conn.execute("select max(last_checked) from feeds").fetchone()[0]
        polled = conn.execute("select count(*) from feeds where last_checked >= ?",
                              [live]).fetchone()[0]
        feed_columns = _columns(conn, "feeds")
        since = "failing_since" if "failing_since" in feed_columns else "null"
        never = "last_success is null" if "last_success" in feed_columns else "0"
        # Shown by `monitor status` and /healthz: a URL's user:password@ masked.
        failing = tuple(FailingFeed(mask_credentials(url), name or "", since_, count or 0,
                                    mask_credentials(error) if error else error, bool(first))
                        for url, name, since_, count, error, first in conn.execute(
            f"select url, name, {since}, error_count, last_error, {never} from feeds "
            "where error_count > 0 and last_checked >= ? order by url", [live]))
        components = tuple(Component(*row) for row in conn.execute(
            "select name, state, detail, since from components order by name")
        ) if _columns(conn, "components") else ()
        pending = conn.execute(
            "select count(*) from alerts where status = 'pending'").fetchone()[0]
        # An alert being sent is not delivered yet: it counts for the oldest undelivered one.
        oldest = conn.execute("select min(created_at) from alerts where status in "
                              "('pending', 'sending')").fetchone()[0]
        sending = lapsed = 0
        if "claimed_until" in _columns(conn, "alerts"):
            sending, lapsed = conn.execute(
                "select count(*), coalesce(sum(claimed_until < ?), 0) from alerts "
                "where status = 'sending'",
                [now.astimezone(dt.timezone.utc).isoformat(timespec="seconds")]).fetchone()
        failed = conn.execute("select count(*) from alerts where status = 'failed' and "
                              "coalesce(next_attempt, created_at) >= ?", [day]).fetchone()[0]
        clippings, flagged = conn.execute(
            "select count(*), coalesce(sum(flagged), 0) from clippings").fetchone()
        published = "published_at" if "published_at" in _columns(conn, "alerts") else "null"
        sent = tuple((p, d, s) for p, d, s in conn.execute(
            f"select {published}, created_at, sent_at from alerts "
            "where status = 'sent' and sent_at >= ?", [day]))
    return StatusFacts(schema_version=version, last_poll=last_poll, feeds_polled=int(polled),
                       failing=failing, components=components, pending_alerts=int(pending), oldest_pending=oldest,
                       failed_alerts=int(failed), clippings=int(clippings),
                       flagged=int(flagged), sent_alerts=sent,
                       sending_alerts=int(sending), lapsed_claims=int(lapsed))


def label_counts(path: Path) -> LabelCounts:
    """Matches per rule and alerts per notifier and status. StoreError when unreadable."""
    with _read_only(path) as conn:
        rules = tuple((str(rule), int(count)) for rule, count in conn.execute(
            "select rule, count(*) from matches group by rule"))
        alerts = tuple((str(n), str(s), int(c)) for n, s, c in conn.execute(
            "select notifier, status, count(*) from alerts group by notifier, status"))
    return LabelCounts(rules, alerts)
