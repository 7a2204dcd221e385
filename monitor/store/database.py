"""Store stage: the only module importing sqlite_utils.

The schema and its migrations, and every SQL statement: feed state, stories (entries),
clippings, matches and the alert outbox. WAL mode, so analysts can read while the daemon writes.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlite_utils
from sqlite_utils.migrations import Migrations

from monitor.errors import StoreError
from monitor.models import (Alert, Clipping, Digest, FeedState, Match, MatchedTerm,
                            ScheduleDecision, StorySource)

migrations = Migrations("monitor")


@migrations()
def m001_initial(db: sqlite_utils.Database) -> None:
    db["feeds"].create({
        "url": str, "name": str, "title": str, "etag": str, "last_modified": str,
        "last_status": str, "last_error": str, "error_count": int, "last_checked": str,
        "last_success": str, "retry_after_until": str,
    }, pk="url")
    db["entries"].create({
        "id": int, "feed_url": str, "guid": str, "url": str, "clipping_id": str, "first_seen": str,
    }, pk="id")
    db["entries"].create_index(["url"])
    db["entries"].create_index(["guid"])
    db["clippings"].create({
        "id": str, "url": str, "link": str, "title": str, "standfirst": str, "source": str,
        "date": str, "author": str, "body": str, "tags": str, "text": str, "origin": str,
        "fingerprint": str, "feed_url": str, "published": str, "flagged": int, "created_at": str,
    }, pk="id", not_null={"text"})
    db["clippings"].create_index(["created_at"])
    db["matches"].create({
        "id": int, "clipping_id": str, "rule": str, "score": float, "terms": str, "tags": str,
        "created_at": str,
    }, pk="id", foreign_keys=[("clipping_id", "clippings", "id")])
    db["matches"].create_index(["clipping_id", "rule"], unique=True)
    db["alerts"].create({
        "id": int, "key": str, "clipping_id": str, "notifier": str, "rules": str, "status": str,
        "attempts": int, "last_error": str, "next_attempt": str, "created_at": str, "sent_at": str,
    }, pk="id", foreign_keys=[("clipping_id", "clippings", "id")])
    db["alerts"].create_index(["key"], unique=True)
    db["alerts"].create_index(["status"])


@migrations()
def m_issue4_outbox(db: sqlite_utils.Database) -> None:
    """Issue 4: digests (several alerts sent as one message), a receiver's Retry-After kept
    apart from our own backoff, and the backlog flag of stories not alerted on a feed's first poll."""
    db["digests"].create({
        "id": int, "key": str, "notifier": str, "reason": str, "status": str, "attempts": int,
        "last_error": str, "next_attempt": str, "retry_after_until": str, "created_at": str,
        "sent_at": str,
    }, pk="id")
    db["digests"].create_index(["key"], unique=True)
    db["digests"].create_index(["notifier", "status"])
    db["alerts"].add_column("digest_id", int)
    db["alerts"].add_column("retry_after_until", str)
    db["alerts"].create_index(["notifier", "created_at"])
    db["clippings"].add_column("backlog", int, not_null_default=0)


@migrations()
def m_issue5_feed_schedule(db: sqlite_utils.Database) -> None:
    """Issue 5: each feed's timing, backoff and health survive a restart; feeds added by
    command (`monitor feeds add`, OPML import) live here, beside the config's."""
    for column, kind in (
        ("next_check", str), ("interval", float), ("failing_since", str), ("missing_since", str),
        ("median_gap", float), ("newest_entry", str), ("status", str), ("disabled_reason", str),
        ("moved_to", str), ("body_hash", str), ("last_http_status", int),
        # who added the feed: "config" (config.toml) or "command"; the settings of a command feed
        ("origin", str), ("enabled", int), ("interval_setting", float), ("added_at", str),
    ):
        db["feeds"].add_column(column, kind)
    db.execute("update feeds set origin = 'config' where origin is null")


@migrations()
def m_issue7_service(db: sqlite_utils.Database) -> None:
    """Health and latency (issue 7). feeds.failing_since comes from issue 5's migration and is
    kept by record_poll. alerts.published_at, the story's publication time (the feed's, else the
    page's date), is kept by a trigger, so it holds whichever code path writes alerts.
    The view alert_latency names the three times of an alert: published, detected (the poll
    that stored the story wrote the alert: created_at) and delivered (sent_at)."""
    db["alerts"].add_column("published_at", str)
    publication = "(select coalesce(c.published, c.date) from clippings c where c.id = {})"
    db.execute(f"update alerts set published_at = {publication.format('alerts.clipping_id')}")
    db.execute(f"""
        create trigger alerts_published_at after insert on alerts
        begin
            update alerts set published_at = {publication.format('new.clipping_id')}
            where id = new.id;
        end""")
    db.execute("""
        create view alert_latency as
        select id, key, clipping_id, notifier, status, published_at,
               created_at as detected_at, sent_at as delivered_at
        from alerts""")
    db["alerts"].create_index(["sent_at"])


# Issue 6: FTS5 stems English words and folds accents, like the rules fold them ("demantele"
# finds "démantelé"); porter leaves words of other languages mostly whole.
FTS_COLUMNS = ("title", "body", "source", "tags")
FTS_TOKENIZE = "porter unicode61 remove_diacritics 2"


@migrations()
def m_issue6_review(db: sqlite_utils.Database) -> None:
    """Issue 6: full-text search over clippings (FTS5, kept in step by triggers), stories (one
    per event) with each clipping's grouping signature, the analysts' marks, raw pages kept as
    evidence with their re-checks, and the story fields of alerts."""
    db["stories"].create({
        "id": int, "title": str, "first_clipping_id": str, "created_at": str, "updated_at": str,
        "clippings": int, "sources": int, "flagged": int,
    }, pk="id")
    # Plain ALTER TABLE: sqlite-utils would rebuild the table to add the foreign key.
    db.execute("ALTER TABLE clippings ADD COLUMN story_id INTEGER REFERENCES stories(id)")
    db.execute("ALTER TABLE clippings ADD COLUMN lang TEXT")
    db["clippings"].create_index(["story_id"])
    db["clippings"].enable_fts(list(FTS_COLUMNS), create_triggers=True, tokenize=FTS_TOKENIZE)
    db["signatures"].create({
        "clipping_id": str, "story_id": int, "at": str, "sketch": str, "shingles": int,
        "title_terms": str, "specifics": str,
    }, pk="clipping_id", foreign_keys=[("clipping_id", "clippings", "id")])
    db["signatures"].create_index(["at"])
    db["marks"].create({
        "clipping_id": str, "label": str, "note": str, "marked_at": str,
    }, pk="clipping_id", foreign_keys=[("clipping_id", "clippings", "id")])
    db["snapshots"].create({
        "id": int, "clipping_id": str, "url": str, "fetched_at": str, "status": int,
        "sha256": str, "size": int, "content_type": str, "raw": bytes, "change": str,
        "text_sha256": str,
    }, pk="id", foreign_keys=[("clipping_id", "clippings", "id")])
    db["snapshots"].create_index(["clipping_id", "fetched_at"])
    db["rechecks"].create({
        "clipping_id": str, "checks": int, "next_check": str, "state": str, "changed_at": str,
        "last_checked": str, "last_error": str,
    }, pk="clipping_id", foreign_keys=[("clipping_id", "clippings", "id")])
    db["rechecks"].create_index(["next_check"])
    db.execute("ALTER TABLE alerts ADD COLUMN story_id INTEGER REFERENCES stories(id)")
    db["alerts"].add_column("grouped_into", int)  # an alert folded into another of its story
    db["alerts"].add_column("is_update", int, not_null_default=0)
    db["alerts"].add_column("not_before", str)  # an update waits for story_update_window
    # One row per clipping for the review site: its rules as a JSON array (an array facet),
    # its day, language, story, mark and the state of its page.
    db.create_view("review", """
        select c.id, c.story_id, substr(coalesce(c.published, c.created_at), 1, 10) as day,
               c.source, c.lang, c.title, c.flagged,
               (select json_group_array(m.rule) from matches m where m.clipping_id = c.id) as rules,
               (select k.label from marks k where k.clipping_id = c.id) as mark,
               (select r.state from rechecks r where r.clipping_id = c.id) as page_state,
               c.link, c.created_at
        from clippings c""")


@migrations()
def m_issue6_grouping_index(db: sqlite_utils.Database) -> None:
    """Issue 6, the cost of grouping: the keys and words each clipping's signature is found
    under (monitor.grouping.sketch_keys and index_terms), so that a new clipping is compared
    with the few stored ones sharing one instead of every one of the last 14 days; filled from
    the signatures already stored. ``at``: the signature's time, in seconds since the epoch.
    No foreign key: one to clippings would make retention keep every clipping, and rows whose
    signature is gone are never read (monitor.archive joins them to signatures)."""
    from monitor.store import archive  # it imports this module

    db.execute("CREATE TABLE signature_keys (key INTEGER NOT NULL, at INTEGER NOT NULL, "
               "clipping_id TEXT NOT NULL, PRIMARY KEY (key, at, clipping_id)) WITHOUT ROWID")
    db.execute("CREATE TABLE signature_terms (term TEXT NOT NULL, at INTEGER NOT NULL, "
               "clipping_id TEXT NOT NULL, PRIMARY KEY (term, at, clipping_id)) WITHOUT ROWID")
    keys: list[tuple[int, int, str]] = []
    terms: list[tuple[str, int, str]] = []

    def write() -> None:
        archive.write_index_rows(db.conn, keys, terms)
        keys.clear()
        terms.clear()

    for row in db.query("SELECT * FROM signatures"):
        new_keys, new_terms = archive.index_rows(row["clipping_id"], archive.decode_signature(row))
        keys.extend(new_keys)
        terms.extend(new_terms)
        if len(keys) + len(terms) > 50_000:
            write()
    write()


SCHEMA_VERSION = len(migrations._migrations)


def _iso(when: dt.datetime | None) -> str | None:
    return when.astimezone(dt.timezone.utc).isoformat(timespec="seconds") if when else None


def _from_iso(text: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(text) if text else None


@dataclass(frozen=True, slots=True)
class StoredClipping:
    id: str
    clipping: Clipping
    text: str
    origin: str
    flagged: bool
    rules: tuple[str, ...]
    created_at: str


class Store:
    """One SQLite database. Every method is a short statement or one transaction."""

    def __init__(self, path: Path) -> None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(str(path), timeout=30)
            self.db = sqlite_utils.Database(conn)
            self.db.enable_wal()
            self.db.execute("PRAGMA foreign_keys = ON")
            self.db.execute("PRAGMA busy_timeout = 30000")
            migrations.apply(self.db)
            self.db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        except (sqlite3.Error, OSError) as e:
            raise StoreError(f"cannot open the database {path}: {e}") from e
        self.path = path
        self._pending: dict[str, dict[str, Any]] = {}  # buffered poll records (issue 5)
        self._pending_since = 0.0

    def close(self) -> None:
        self.flush()
        self.db.close()

    @property
    def schema_version(self) -> int:
        return int(self.db.execute("PRAGMA user_version").fetchone()[0])

    # -- feeds -------------------------------------------------------------------------------

    def feeds(self) -> list[dict[str, Any]]:
        self.flush()
        return list(self.db.query("select * from feeds order by url"))

    # -- feed schedule and health (issue 5) ---------------------------------------------------
    # Poll outcomes are buffered and written in one transaction per batch: one commit per feed
    # would bound a cycle of 10,000 unchanged feeds by the disk's fsyncs. Losing a batch in a
    # crash only means those feeds are polled again a little early.

    FLUSH_EVERY = 500  # poll records
    FLUSH_AFTER = 1.0  # seconds

    def _buffer(self) -> dict[str, dict[str, Any]]:
        return self._pending

    @staticmethod
    def _state(r: dict[str, Any]) -> FeedState:
        def number(key: str) -> float | None:
            return float(r[key]) if r.get(key) is not None else None

        return FeedState(
            url=r["url"], etag=r.get("etag"), last_modified=r.get("last_modified"),
            error_count=r.get("error_count") or 0,
            retry_after_until=_from_iso(r.get("retry_after_until")),
            next_check=_from_iso(r.get("next_check")), interval=number("interval"),
            failing_since=_from_iso(r.get("failing_since")),
            missing_since=_from_iso(r.get("missing_since")), median_gap=number("median_gap"),
            newest_entry=_from_iso(r.get("newest_entry")), status=r.get("status"),
            disabled_reason=r.get("disabled_reason"), moved_to=r.get("moved_to"),
            body_hash=r.get("body_hash"))

    def feed_row(self, url: str) -> dict[str, Any] | None:
        """The stored row of a feed, with any buffered poll outcome applied."""
        # Read once per poll: the plain cursor, not sqlite-utils' query(), whose per-call work
        # costs as much as the lookup (bench/run.py).
        cursor = self.db.conn.execute("select * from feeds where url = ?", [url])
        found = cursor.fetchone()
        pending = self._buffer().get(url)
        if found is None and pending is None:
            return None
        row = dict(zip([c[0] for c in cursor.description], found)) if found else {"url": url}
        row.update(pending or {})
        return row

    def feed_state(self, url: str) -> FeedState | None:
        row = self.feed_row(url)
        return self._state(row) if row else None

    def feed_rows(self) -> dict[str, dict[str, Any]]:
        self.flush()
        return {r["url"]: dict(r) for r in self.db.query("select * from feeds")}

    def record_poll(self, url: str, *, name: str, now: dt.datetime, outcome: str,
                    decision: ScheduleDecision, http_status: int | None = None,
                    error: str | None = None, etag: str | None = None,
                    last_modified: str | None = None, title: str = "",
                    moved_to: str | None = None, body_hash: str | None = None,
                    median_gap: float | None = None,
                    newest_entry: dt.datetime | None = None) -> None:
        """Record one poll and the schedule decided from it (buffered; see flush)."""
        changes: dict[str, Any] = {
            "name": name, "last_status": outcome, "last_error": error, "last_checked": _iso(now),
            "last_http_status": http_status, "error_count": decision.error_count,
            "next_check": _iso(decision.next_check), "interval": decision.interval,
            "status": decision.status, "failing_since": _iso(decision.failing_since),
            "missing_since": _iso(decision.missing_since),
            "retry_after_until": _iso(decision.retry_after_until),
        }
        if decision.disabled_reason:
            changes["disabled_reason"] = decision.disabled_reason
        if outcome in ("updated", "not_modified"):
            changes["last_success"] = _iso(now)
        if etag is not None or outcome == "updated":
            changes["etag"] = etag
        if last_modified is not None or outcome == "updated":
            changes["last_modified"] = last_modified
        if title:
            changes["title"] = title
        if moved_to:
            changes["moved_to"] = moved_to
        if body_hash is not None:
            changes["body_hash"] = body_hash
        if median_gap is not None:
            changes["median_gap"] = median_gap
        if newest_entry is not None:
            changes["newest_entry"] = _iso(newest_entry)
        pending = self._buffer()
        if not pending:
            self._pending_since = time.monotonic()
        pending.setdefault(url, {}).update(changes)
        if len(pending) >= self.FLUSH_EVERY or time.monotonic() - self._pending_since > self.FLUSH_AFTER:
            self.flush()

    def flush(self) -> None:
        """Write the buffered poll records in one transaction."""
        pending = self._buffer()
        if not pending:
            return
        self._pending = {}
        with self.db.atomic():
            for url, changes in pending.items():
                self.db.execute("insert or ignore into feeds (url, origin) values (?, 'config')", [url])
                columns = ", ".join(f"[{c}] = ?" for c in changes)
                self.db.execute(f"update feeds set {columns} where url = ?", [*changes.values(), url])

    def add_feed(self, url: str, *, name: str = "", interval: float | None = None,
                 now: dt.datetime, title: str = "") -> bool:
        """A feed added by command. False when the database has it already."""
        self.flush()
        with self.db.atomic():
            row = self.db.execute("select origin from feeds where url = ?", [url]).fetchone()
            if row is not None and row[0] == "command":
                return False
            if row is None:
                self.db.execute("insert into feeds (url) values (?)", [url])
            self.db.execute(
                "update feeds set origin = 'command', name = ?, title = coalesce(nullif(?, ''), title), "
                "interval_setting = ?, enabled = 1, added_at = ? where url = ?",
                [name, title, interval, _iso(now), url])
        return True

    def set_feed_enabled(self, url: str, enabled: bool) -> bool:
        """Enable or disable a feed; enabling also clears a disable the monitor decided
        (410, 404 for days) and its backoff, so the next cycle polls it. False: unknown feed."""
        self.flush()
        with self.db.atomic():
            cursor = self.db.execute(
                "update feeds set enabled = ? where url = ? and origin = 'command'",
                [int(enabled), url])
            if enabled:
                cursor = self.db.execute(
                    "update feeds set disabled_reason = null, error_count = 0, failing_since = null, "
                    "missing_since = null, next_check = null, retry_after_until = null, "
                    "status = case when status = 'disabled' then null else status end "
                    "where url = ?", [url])
        return bool(cursor.rowcount)

    def command_feeds(self) -> list[dict[str, Any]]:
        """Feeds added by command, oldest first."""
        return list(self.db.query(
            "select * from feeds where origin = 'command' order by added_at, url"))

    # -- stories -----------------------------------------------------------------------------

    def is_seen(self, url: str | None, guid: str | None) -> bool:
        """A story was seen if its canonical URL or its guid was."""
        if url and self.db.execute("select 1 from entries where url = ? limit 1", [url]).fetchone():
            return True
        if guid and self.db.execute("select 1 from entries where guid = ? limit 1", [guid]).fetchone():
            return True
        return False

    def add_story(self, *, clipping_id: str, clipping: Clipping, text: str, origin: str,
                  fingerprint: str, feed_url: str, guid: str | None, canonical: str,
                  published: dt.datetime | None, matches: Sequence[Match],
                  alerts: dict[str, tuple[str, ...]], now: dt.datetime,
                  backlog: bool = False) -> bool:
        """Store a story, its clipping, its matches and its alerts in one transaction.
        ``alerts`` maps a notifier to the rules that route to it. False if it was there already.
        ``backlog``: an old story found on a feed's first poll, stored but not alerted (issue 4)."""
        with self.db.atomic():
            existing = self.db.execute("select 1 from clippings where id = ?", [clipping_id]).fetchone()
            self.db["entries"].insert({"feed_url": feed_url, "guid": guid, "url": canonical,
                                       "clipping_id": clipping_id, "first_seen": _iso(now)})
            if existing:
                return False
            self.db["clippings"].insert({
                "id": clipping_id, "url": canonical, "link": clipping.url, "title": clipping.title,
                "standfirst": clipping.standfirst, "source": clipping.source,
                "date": clipping.date.isoformat() if clipping.date else None,
                "author": clipping.author, "body": clipping.body, "tags": json.dumps(clipping.tags),
                "text": text, "origin": origin, "fingerprint": fingerprint, "feed_url": feed_url,
                "published": _iso(published), "flagged": int(bool(matches)), "created_at": _iso(now),
                "backlog": int(backlog),
            })
            for m in matches:
                self.db["matches"].insert({
                    "clipping_id": clipping_id, "rule": m.rule, "score": m.score,
                    "terms": json.dumps([[t.text, t.field, t.start, t.end] for t in m.terms]),
                    "tags": json.dumps(m.tags), "created_at": _iso(now),
                })
            for notifier, rules in alerts.items():
                self.db["alerts"].insert({
                    "key": f"{clipping_id}-{notifier}", "clipping_id": clipping_id,
                    "notifier": notifier, "rules": json.dumps(rules), "status": "pending",
                    "attempts": 0, "created_at": _iso(now), "next_attempt": _iso(now),
                }, ignore=True)
        return True

    def _matches(self, clipping_id: str) -> list[Match]:
        rows = self.db.query("select * from matches where clipping_id = ? order by score desc, rule",
                             [clipping_id])
        return [Match(rule=r["rule"], score=r["score"],
                      terms=tuple(MatchedTerm(*t) for t in json.loads(r["terms"])),
                      tags=tuple(json.loads(r["tags"]))) for r in rows]

    def clipping(self, clipping_id: str) -> StoredClipping | None:
        rows = list(self.db.query("select * from clippings where id = ?", [clipping_id]))
        return self._stored(rows[0]) if rows else None

    def _stored(self, r: dict[str, Any]) -> StoredClipping:
        clipping = Clipping(
            title=r["title"] or "", standfirst=r["standfirst"] or "", source=r["source"] or "",
            url=r["link"] or "", date=dt.date.fromisoformat(r["date"]) if r["date"] else None,
            author=r["author"] or "", body=r["body"] or "", tags=tuple(json.loads(r["tags"] or "[]")))
        rules = tuple(m.rule for m in self._matches(r["id"]))
        return StoredClipping(id=r["id"], clipping=clipping, text=r["text"], origin=r["origin"],
                              flagged=bool(r["flagged"]), rules=rules, created_at=r["created_at"])

    def clippings(self, *, flagged: bool = False, limit: int | None = None) -> Iterator[StoredClipping]:
        """Newest first: by publication date, then by time first seen."""
        sql = "select * from clippings"
        if flagged:
            sql += " where flagged = 1"
        sql += " order by coalesce(published, created_at) desc, created_at desc, id"
        params: list[Any] = []
        if limit is not None:
            sql += " limit ?"
            params.append(limit)
        for r in self.db.query(sql, params):
            yield self._stored(r)

    def count(self, table: str) -> int:
        return int(self.db.execute(f"select count(*) from [{table}]").fetchone()[0])

    # -- the alert outbox --------------------------------------------------------------------

    def pending_alerts(self, *, now: dt.datetime | None = None) -> list[Alert]:
        """Pending alerts, oldest first; with ``now``, only those whose backoff has passed."""
        # An alert gathered into a digest is sent with it, not on its own (issue 4).
        sql = "select * from alerts where status = 'pending' and digest_id is null"
        params: list[Any] = []
        if now is not None:
            sql += " and (next_attempt is null or next_attempt <= ?)"
            params.append(_iso(now))
        alerts = []
        for r in self.db.query(sql + " order by id", params):
            stored = self.clipping(r["clipping_id"])
            if stored is None:
                continue
            rules = set(json.loads(r["rules"]))
            alerts.append(Alert(
                id=r["id"], key=r["key"], notifier=r["notifier"], clipping_id=r["clipping_id"],
                clipping=stored.clipping,
                matches=tuple(m for m in self._matches(r["clipping_id"]) if m.rule in rules),
                origin=stored.origin, created_at=dt.datetime.fromisoformat(r["created_at"]),
                attempts=r["attempts"]))
        return alerts

    def mark_sent(self, alert_id: int, *, now: dt.datetime) -> None:
        self.db.execute("update alerts set status = 'sent', sent_at = ?, attempts = attempts + 1, "
                        "last_error = null where id = ? and status = 'pending'", [_iso(now), alert_id])
        self.db.conn.commit()

    def mark_failed_attempt(self, alert_id: int, *, error: str, permanent: bool,
                            next_attempt: dt.datetime,
                            retry_after_until: dt.datetime | None = None) -> None:
        """``retry_after_until``: the receiver's Retry-After, which even a forced pass honours."""
        self.db.execute("update alerts set status = ?, attempts = attempts + 1, last_error = ?, "
                        "next_attempt = ?, retry_after_until = ? where id = ? and status = 'pending'",
                        ["failed" if permanent else "pending", error, _iso(next_attempt),
                         _iso(retry_after_until), alert_id])
        self.db.conn.commit()

    def alerts(self) -> list[dict[str, Any]]:
        return list(self.db.query("select * from alerts order by id"))

    # -- the outbox: digests, Retry-After, listing and retry (issue 4) -----------------------

    def _alert_from_row(self, r: dict[str, Any]) -> Alert | None:
        stored = self.clipping(r["clipping_id"])
        if stored is None:
            return None
        rules = set(json.loads(r["rules"]))
        return Alert(
            id=r["id"], key=r["key"], notifier=r["notifier"], clipping_id=r["clipping_id"],
            clipping=stored.clipping,
            matches=tuple(m for m in self._matches(r["clipping_id"]) if m.rule in rules),
            origin=stored.origin, created_at=dt.datetime.fromisoformat(r["created_at"]),
            attempts=r["attempts"], story_id=r.get("story_id"),
            sources=self.story_sources(r.get("story_id")), update=bool(r.get("is_update")))

    def story_sources(self, story_id: int | None) -> tuple[StorySource, ...]:
        """Every clipping of a story, first seen first (issue 6)."""
        if story_id is None:
            return ()
        return tuple(StorySource(clipping_id=r["id"], title=r["title"] or "",
                                 source=r["source"] or "", url=r["link"] or "",
                                 date=dt.date.fromisoformat(r["date"]) if r["date"] else None)
                     for r in self.db.query("select id, title, source, link, date from clippings "
                                            "where story_id = ? order by created_at, id",
                                            [story_id]))

    def due_alerts(self, notifier: str, *, now: dt.datetime, force: bool = False) -> list[Alert]:
        """A notifier's pending alerts not in a digest, oldest first, whose backoff has passed
        (``force``: whatever the backoff) and whose receiver's Retry-After has passed (always)."""
        # Issue 6: a story's update waits for its story_update_window (not_before), even forced.
        sql = ("select * from alerts where status = 'pending' and digest_id is null "
               "and notifier = ? and (retry_after_until is null or retry_after_until <= ?) "
               "and (not_before is null or not_before <= ?)")
        params: list[Any] = [notifier, _iso(now), _iso(now)]
        if not force:
            sql += " and (next_attempt is null or next_attempt <= ?)"
            params.append(_iso(now))
        alerts = (self._alert_from_row(r) for r in self.db.query(sql + " order by id", params))
        return [a for a in alerts if a is not None]

    def waiting_alerts(self, notifier: str) -> int:
        """How many of a notifier's pending alerts are not in a digest yet."""
        return int(self.db.execute(
            "select count(*) from alerts where status = 'pending' and digest_id is null "
            "and notifier = ?", [notifier]).fetchone()[0])

    def oldest_waiting(self, notifier: str) -> dt.datetime | None:
        row = self.db.execute("select min(created_at) from alerts where status = 'pending' "
                              "and digest_id is null and notifier = ?", [notifier]).fetchone()
        return _from_iso(row[0])

    def sent_alone_since(self, notifier: str, since: dt.datetime) -> int:
        """Alerts a notifier sent one by one (not in a digest) since ``since`` (flood control)."""
        return int(self.db.execute("select count(*) from alerts where notifier = ? and status = "
                                   "'sent' and digest_id is null and sent_at > ?",
                                   [notifier, _iso(since)]).fetchone()[0])

    def last_digest_at(self, notifier: str) -> dt.datetime | None:
        row = self.db.execute("select max(created_at) from digests where notifier = ?",
                              [notifier]).fetchone()
        return _from_iso(row[0])

    def create_digest(self, notifier: str, *, reason: str, now: dt.datetime) -> int | None:
        """Gather every pending alert of ``notifier`` not yet in a digest into a new one, in one
        transaction; its id, or None when there was nothing to gather."""
        with self.db.atomic():
            ids = [r[0] for r in self.db.execute(
                "select id from alerts where status = 'pending' and digest_id is null "
                "and notifier = ? and (not_before is null or not_before <= ?) order by id",
                [notifier, _iso(now)]).fetchall()]
            if not ids:
                return None
            stamp = now.astimezone(dt.timezone.utc).strftime("%Y%m%dT%H%M%S")
            digest_id = self.db["digests"].insert({
                "key": f"digest-{stamp}-{ids[0]}-{notifier}", "notifier": notifier,
                "reason": reason, "status": "pending", "attempts": 0, "created_at": _iso(now),
                "next_attempt": _iso(now),
            }).last_pk
            self.db.execute(
                f"update alerts set digest_id = ? where id in ({', '.join('?' * len(ids))})",
                [digest_id, *ids])
        return int(digest_id)

    def _digest_from_row(self, r: dict[str, Any]) -> Digest:
        rows = self.db.query("select * from alerts where digest_id = ? order by id", [r["id"]])
        alerts = [a for a in (self._alert_from_row(row) for row in rows) if a is not None]
        alerts.sort(key=lambda a: (a.clipping.date or a.created_at.date(), a.created_at, a.id),
                    reverse=True)
        return Digest(id=r["id"], key=r["key"], notifier=r["notifier"], alerts=tuple(alerts),
                      reason=r["reason"], created_at=dt.datetime.fromisoformat(r["created_at"]),
                      attempts=r["attempts"])

    def due_digests(self, notifier: str, *, now: dt.datetime, force: bool = False) -> list[Digest]:
        sql = ("select * from digests where status = 'pending' and notifier = ? "
               "and (retry_after_until is null or retry_after_until <= ?)")
        params: list[Any] = [notifier, _iso(now)]
        if not force:
            sql += " and (next_attempt is null or next_attempt <= ?)"
            params.append(_iso(now))
        return [self._digest_from_row(r) for r in self.db.query(sql + " order by id", params)]

    def mark_digest_sent(self, digest_id: int, *, now: dt.datetime) -> None:
        with self.db.atomic():
            self.db.execute("update digests set status = 'sent', sent_at = ?, attempts = "
                            "attempts + 1, last_error = null where id = ? and status = 'pending'",
                            [_iso(now), digest_id])
            self.db.execute("update alerts set status = 'sent', sent_at = ?, attempts = attempts "
                            "+ 1, last_error = null where digest_id = ? and status = 'pending'",
                            [_iso(now), digest_id])

    def mark_digest_failed_attempt(self, digest_id: int, *, error: str, permanent: bool,
                                   next_attempt: dt.datetime,
                                   retry_after_until: dt.datetime | None = None) -> None:
        status = "failed" if permanent else "pending"
        with self.db.atomic():
            self.db.execute("update digests set status = ?, attempts = attempts + 1, "
                            "last_error = ?, next_attempt = ?, retry_after_until = ? "
                            "where id = ? and status = 'pending'",
                            [status, error, _iso(next_attempt), _iso(retry_after_until), digest_id])
            self.db.execute("update alerts set status = ?, attempts = attempts + 1, "
                            "last_error = ? where digest_id = ? and status = 'pending'",
                            [status, f"digest {digest_id}: {error}", digest_id])

    def defer_notifier(self, notifier: str, until: dt.datetime) -> None:
        """A receiver's Retry-After holds for everything pending for that notifier."""
        with self.db.atomic():
            for table in ("alerts", "digests"):
                self.db.execute(f"update {table} set retry_after_until = ? where notifier = ? "
                                "and status = 'pending' and (retry_after_until is null or "
                                "retry_after_until < ?)", [_iso(until), notifier, _iso(until)])

    def alert_rows(self, *, status: str | None = None,
                   limit: int | None = None) -> list[dict[str, Any]]:
        """Alerts newest first, with their story's title and source, for `monitor alerts`."""
        sql = ("select a.id, a.key, a.notifier, a.status, a.attempts, a.last_error, "
               "a.next_attempt, a.retry_after_until, a.created_at, a.sent_at, a.digest_id, "
               "a.rules, a.clipping_id, c.title, c.source, c.link from alerts a "
               "left join clippings c on c.id = a.clipping_id")
        params: list[Any] = []
        if status:
            sql += " where a.status = ?"
            params.append(status)
        sql += " order by a.id desc"
        if limit is not None:
            sql += " limit ?"
            params.append(limit)
        rows = []
        for r in self.db.query(sql, params):
            r["rules"] = json.loads(r["rules"] or "[]")
            rows.append(r)
        return rows

    def find_alert(self, ref: str) -> dict[str, Any] | None:
        """An alert by its number or its key."""
        sql = "select * from alerts where " + ("id = ?" if ref.isdigit() else "key = ?")
        rows = list(self.db.query(sql, [int(ref) if ref.isdigit() else ref]))
        return rows[0] if rows else None

    def retry_alert(self, alert_id: int, *, now: dt.datetime) -> str:
        """Queue an alert again now. A failed one leaves its digest and starts afresh; a pending
        one (and its digest) is tried at the next pass. Returns the status it had."""
        rows = list(self.db.query("select * from alerts where id = ?", [alert_id]))
        if not rows:
            raise StoreError(f"no alert {alert_id}")
        row = rows[0]
        with self.db.atomic():
            if row["status"] == "failed":
                self.db.execute("update alerts set status = 'pending', attempts = 0, "
                                "last_error = null, next_attempt = ?, retry_after_until = null, "
                                "digest_id = null where id = ?", [_iso(now), alert_id])
            elif row["status"] == "pending":
                self.db.execute("update alerts set next_attempt = ?, retry_after_until = null "
                                "where id = ?", [_iso(now), alert_id])
                if row["digest_id"] is not None:
                    self.db.execute("update digests set next_attempt = ?, retry_after_until = "
                                    "null where id = ? and status = 'pending'",
                                    [_iso(now), row["digest_id"]])
        return str(row["status"])

    def digest(self, digest_id: int) -> Digest | None:
        rows = list(self.db.query("select * from digests where id = ?", [digest_id]))
        return self._digest_from_row(rows[0]) if rows else None

    def pending_by_notifier(self) -> dict[str, int]:
        """How many alerts are pending, by notifier."""
        return {name: int(count) for name, count in self.db.execute(
            "select notifier, count(*) from alerts where status = 'pending' group by notifier"
        ).fetchall()}

    def polled_before(self, url: str) -> bool:
        """Whether a feed was ever fetched successfully (issue 4: its first poll's old stories
        are backlog)."""
        return self.db.execute("select 1 from feeds where url = ? and last_success is not null",
                               [url]).fetchone() is not None
