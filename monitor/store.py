"""Store stage: the only module importing sqlite_utils.

The schema and its migrations, and every SQL statement: feed state, stories (entries),
clippings, matches and the alert outbox. WAL mode, so analysts can read while the daemon writes.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlite_utils
from sqlite_utils.migrations import Migrations

from monitor.errors import StoreError
from monitor.models import Alert, Clipping, Match, MatchedTerm

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
def m_issue7_service(db: sqlite_utils.Database) -> None:
    """Health and latency (issue 7). Two derived columns, kept by triggers so that they hold
    whichever code path writes feeds and alerts:
    - feeds.failing_since: when the current run of errors began (null while the feed works);
    - alerts.published_at: the story's publication time (the feed's, else the page's date).
    The view alert_latency names the three times of an alert: published, detected (the poll
    that stored the story wrote the alert: created_at) and delivered (sent_at)."""
    db["feeds"].add_column("failing_since", str)
    db.execute("update feeds set failing_since = last_checked where error_count > 0")
    db.execute("""
        create trigger feeds_failing_since_insert after insert on feeds
        when coalesce(new.error_count, 0) > 0
        begin
            update feeds set failing_since = new.last_checked where url = new.url;
        end""")
    db.execute("""
        create trigger feeds_failing_since_update after update of error_count on feeds
        begin
            update feeds set failing_since = case
                when coalesce(new.error_count, 0) = 0 then null
                when coalesce(old.error_count, 0) > 0 and old.failing_since is not null
                    then old.failing_since
                else new.last_checked end
            where url = new.url;
        end""")
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


SCHEMA_VERSION = len(migrations._migrations)


def _iso(when: dt.datetime | None) -> str | None:
    return when.astimezone(dt.timezone.utc).isoformat(timespec="seconds") if when else None


def _from_iso(text: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(text) if text else None


@dataclass(frozen=True, slots=True)
class FeedRow:
    url: str
    name: str
    etag: str | None
    last_modified: str | None
    error_count: int
    last_status: str | None
    last_error: str | None
    last_checked: str | None
    retry_after_until: dt.datetime | None


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

    def close(self) -> None:
        self.db.close()

    @property
    def schema_version(self) -> int:
        return int(self.db.execute("PRAGMA user_version").fetchone()[0])

    # -- feeds -------------------------------------------------------------------------------

    def feed(self, url: str) -> FeedRow | None:
        rows = list(self.db.query("select * from feeds where url = ?", [url]))
        if not rows:
            return None
        r = rows[0]
        return FeedRow(url=r["url"], name=r["name"] or "", etag=r["etag"],
                       last_modified=r["last_modified"], error_count=r["error_count"] or 0,
                       last_status=r["last_status"], last_error=r["last_error"],
                       last_checked=r["last_checked"],
                       retry_after_until=_from_iso(r["retry_after_until"]))

    def record_feed_success(self, url: str, name: str, *, now: dt.datetime, status: str,
                            title: str = "", etag: str | None = None,
                            last_modified: str | None = None, problem: str | None = None) -> None:
        record: dict[str, Any] = {
            "url": url, "name": name, "last_status": status, "last_error": problem,
            "error_count": 0, "last_checked": _iso(now), "last_success": _iso(now),
            "retry_after_until": None,
        }
        if status != "not_modified":
            record.update(etag=etag, last_modified=last_modified)
            if title:
                record["title"] = title
        self.db["feeds"].upsert(record, pk="url")

    def record_feed_error(self, url: str, name: str, *, now: dt.datetime, error: str,
                          retry_after_until: dt.datetime | None = None) -> None:
        previous = self.feed(url)
        self.db["feeds"].upsert({
            "url": url, "name": name, "last_status": "error", "last_error": error,
            "error_count": (previous.error_count if previous else 0) + 1,
            "last_checked": _iso(now), "retry_after_until": _iso(retry_after_until),
        }, pk="url")

    def feeds(self) -> list[dict[str, Any]]:
        return list(self.db.query("select * from feeds order by url"))

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
                  alerts: dict[str, tuple[str, ...]], now: dt.datetime) -> bool:
        """Store a story, its clipping, its matches and its alerts in one transaction.
        ``alerts`` maps a notifier to the rules that route to it. False if it was there already."""
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
        sql = "select * from alerts where status = 'pending'"
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
                            next_attempt: dt.datetime) -> None:
        self.db.execute("update alerts set status = ?, attempts = attempts + 1, last_error = ?, "
                        "next_attempt = ? where id = ? and status = 'pending'",
                        ["failed" if permanent else "pending", error, _iso(next_attempt), alert_id])
        self.db.conn.commit()

    def alerts(self) -> list[dict[str, Any]]:
        return list(self.db.query("select * from alerts order by id"))
