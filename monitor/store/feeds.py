"""Store stage, the feeds: each feed's state between polls (FeedState), its poll outcomes
(FeedUpdate, buffered), and the feeds added by command. Records in, records out (FeedRow)."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Mapping
from typing import Any

from monitor.models import FeedRow, FeedState, FeedUpdate
from monitor.store.base import Part, from_iso, immediate, iso


def feed_state(r: Mapping[str, Any]) -> FeedState:
    """A row of ``feeds`` (or a part of one) as the scheduler's FeedState."""
    def number(key: str) -> float | None:
        return float(r[key]) if r.get(key) is not None else None

    return FeedState(
        url=r["url"], etag=r.get("etag"), last_modified=r.get("last_modified"),
        error_count=r.get("error_count") or 0,
        retry_after_until=from_iso(r.get("retry_after_until")),
        next_check=from_iso(r.get("next_check")), interval=number("interval"),
        failing_since=from_iso(r.get("failing_since")),
        missing_since=from_iso(r.get("missing_since")), median_gap=number("median_gap"),
        newest_entry=from_iso(r.get("newest_entry")), status=r.get("status"),
        disabled_reason=r.get("disabled_reason"), moved_to=r.get("moved_to"),
        body_hash=r.get("body_hash"))


def feed_row(r: Mapping[str, Any]) -> FeedRow:
    enabled = r.get("enabled")
    interval = r.get("interval_setting")
    return FeedRow(
        state=feed_state(r), name=r.get("name") or "", title=r.get("title") or "",
        origin=r.get("origin") or "config", enabled=True if enabled is None else bool(enabled),
        interval_setting=float(interval) if interval is not None else None,
        added_at=from_iso(r.get("added_at")), last_status=r.get("last_status"),
        last_error=r.get("last_error"), last_checked=from_iso(r.get("last_checked")),
        last_success=from_iso(r.get("last_success")),
        last_http_status=r.get("last_http_status"), kind=r.get("kind") or "feed",
        selector=r.get("selector") or "", pattern=r.get("pattern") or "")


class Feeds(Part):
    """Feed state and poll outcomes; Store sets ``_pending`` (the buffered poll records)."""

    # Poll outcomes are buffered and written in one transaction per batch: one commit per feed
    # would bound a cycle of 10,000 unchanged feeds by the disk's fsyncs. Losing a batch in a
    # crash only means those feeds are polled again a little early.

    FLUSH_EVERY = 500  # poll records
    FLUSH_AFTER = 1.0  # seconds

    _pending: dict[str, dict[str, Any]]
    _pending_since: float

    def _row(self, url: str) -> dict[str, Any] | None:
        """The stored row of a feed, with any buffered poll outcome applied."""
        # Read once per poll: the plain cursor, not sqlite-utils' query(), whose per-call work
        # costs as much as the lookup (bench/run.py).
        cursor = self.db.conn.execute("select * from feeds where url = ?", [url])
        found = cursor.fetchone()
        pending = self._pending.get(url)
        if found is None and pending is None:
            return None
        row = dict(zip([c[0] for c in cursor.description], found)) if found else {"url": url}
        row.update(pending or {})
        return row

    def feeds(self) -> list[FeedRow]:
        """Every feed the database knows, by URL."""
        self.flush()
        return [feed_row(r) for r in self.db.query("select * from feeds order by url")]

    def feed(self, url: str) -> FeedRow | None:
        row = self._row(url)
        return feed_row(row) if row else None

    def feed_state(self, url: str) -> FeedState | None:
        row = self._row(url)
        return feed_state(row) if row else None

    def poll_start(self, url: str) -> tuple[FeedState | None, bool]:
        """What a poll starts from, in one read: the feed's state, and whether it was ever
        fetched successfully (on its first poll, old stories are backlog)."""
        row = self._row(url)
        if row is None:
            return None, False
        return feed_state(row), row.get("last_success") is not None

    def disabled_feeds(self) -> set[str]:
        """The URLs of the feeds the monitor disabled (410 Gone, 404 for days)."""
        self.flush()
        return {url for (url,) in self.db.conn.execute(
            "select url from feeds where disabled_reason is not null")}

    def feed_rows(self) -> dict[str, FeedRow]:
        """Every feed the database knows, by URL."""
        return {f.url: f for f in self.feeds()}

    def command_feeds(self) -> list[FeedRow]:
        """Feeds added by command, oldest first."""
        self.flush()
        return [feed_row(r) for r in self.db.query(
            "select * from feeds where origin = 'command' order by added_at, url")]

    def record_poll(self, update: FeedUpdate) -> None:
        """Record one poll and the schedule decided from it (buffered; see flush)."""
        decision = update.decision
        changes: dict[str, Any] = {
            "name": update.name, "last_status": update.outcome, "last_error": update.error,
            "last_checked": iso(update.checked_at), "last_http_status": update.http_status,
            "error_count": decision.error_count, "next_check": iso(decision.next_check),
            "interval": decision.interval, "status": decision.status,
            "failing_since": iso(decision.failing_since),
            "missing_since": iso(decision.missing_since),
            "retry_after_until": iso(decision.retry_after_until),
        }
        if decision.disabled_reason:
            changes["disabled_reason"] = decision.disabled_reason
        if update.outcome in ("updated", "not_modified") and not update.partial:
            changes["last_success"] = iso(update.checked_at)
        if update.etag is not None or update.outcome == "updated":
            changes["etag"] = update.etag
        if update.last_modified is not None or update.outcome == "updated":
            changes["last_modified"] = update.last_modified
        if update.title:
            changes["title"] = update.title
        if update.moved_to:
            changes["moved_to"] = update.moved_to
        if update.body_hash is not None:
            changes["body_hash"] = update.body_hash
        if update.median_gap is not None:
            changes["median_gap"] = update.median_gap
        if update.newest_entry is not None:
            changes["newest_entry"] = iso(update.newest_entry)
        pending = self._pending
        if not pending:
            self._pending_since = time.monotonic()
        pending.setdefault(update.url, {}).update(changes)
        if (len(pending) >= self.FLUSH_EVERY
                or time.monotonic() - self._pending_since > self.FLUSH_AFTER):
            self.flush()

    def flush(self) -> None:
        """Write the buffered poll records in one transaction."""
        pending = self._pending
        if not pending:
            return
        self._pending = {}
        # One statement per set of columns, not two per feed: the polls of a cycle of
        # unchanged feeds all change the same columns.
        updates: dict[tuple[str, ...], list[list[Any]]] = {}
        for url, changes in pending.items():
            updates.setdefault(tuple(changes), []).append([*changes.values(), url])
        with immediate(self.db):
            self.db.conn.executemany(
                "insert or ignore into feeds (url, origin) values (?, 'config')",
                [(url,) for url in pending])
            for columns, rows in updates.items():
                assignments = ", ".join(f"[{c}] = ?" for c in columns)
                self.db.conn.executemany(f"update feeds set {assignments} where url = ?", rows)

    def add_feed(self, url: str, *, name: str = "", interval: float | None = None,
                 now: dt.datetime, title: str = "", kind: str = "feed", selector: str = "",
                 pattern: str = "") -> bool:
        """A feed added by command (a watched page: ``kind`` "page", with its selector and
        pattern). False when the database has it already."""
        self.flush()
        with immediate(self.db):
            row = self.db.execute("select origin from feeds where url = ?", [url]).fetchone()
            if row is not None and row[0] == "command":
                return False
            if row is None:
                self.db.execute("insert into feeds (url) values (?)", [url])
            self.db.execute(
                "update feeds set origin = 'command', name = ?, "
                "title = coalesce(nullif(?, ''), title), "
                "interval_setting = ?, enabled = 1, added_at = ?, kind = ?, selector = ?, "
                "pattern = ? where url = ?",
                [name, title, interval, iso(now), kind, selector, pattern, url])
        return True

    def set_feed_enabled(self, url: str, enabled: bool) -> bool:
        """Enable or disable a feed; enabling also clears a disable the monitor decided
        (410, 404 for days) and its backoff, so the next cycle polls it. False: unknown feed."""
        self.flush()
        with immediate(self.db):
            cursor = self.db.execute(
                "update feeds set enabled = ? where url = ? and origin = 'command'",
                [int(enabled), url])
            if enabled:
                cursor = self.db.execute(
                    "update feeds set disabled_reason = null, error_count = 0, "
                    "failing_since = null, missing_since = null, next_check = null, "
                    "retry_after_until = null, "
                    "status = case when status = 'disabled' then null else status end "
                    "where url = ?", [url])
        return bool(cursor.rowcount)
