"""Store stage, the alert outbox: alerts (one per story and notifier) and digests, their
delivery state, backoff and a receiver's Retry-After. Alert and Digest records out; AlertRow
for listing.

pending -> sending (claimed, by one statement whose row count says who won) -> sent | pending
(a transient failure) | failed. A claim lapses at its ``claimed_until``: release_expired_claims
puts what a dead process left back to pending. So however many processes deliver from one
database, an alert is sent by one at a time.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import secrets
from collections.abc import Mapping
from typing import Any

from monitor.errors import StoreError
from monitor.models import Alert, AlertRow, Digest
from monitor.store.base import from_iso, immediate, inserted_id, iso
from monitor.store.stories import Stories


def _alert_row(r: Mapping[str, Any]) -> AlertRow:
    return AlertRow(
        id=r["id"], key=r["key"], notifier=r["notifier"], status=r["status"],
        attempts=r["attempts"], last_error=r["last_error"],
        next_attempt=from_iso(r["next_attempt"]),
        retry_after_until=from_iso(r["retry_after_until"]),
        created_at=dt.datetime.fromisoformat(r["created_at"]),
        sent_at=from_iso(r["sent_at"]), digest_id=r["digest_id"],
        rules=tuple(json.loads(r["rules"] or "[]")), clipping_id=r["clipping_id"],
        title=r["title"], source=r["source"], link=r["link"],
        claimed_until=from_iso(r["claimed_until"]), claimed_by=r["claimed_by"])


def new_claimant() -> str:
    """Who claims: this process, and a random part so that a pid used again is not taken for
    the process that had it before."""
    return f"{os.getpid()}-{secrets.token_hex(4)}"

# A mark after a send: from this process's claim, or from pending when the claim lapsed and was
# released meanwhile (what we sent is then not sent again). Never over another's live claim.
_OURS = "(status = 'pending' or (status = 'sending' and claimed_by = ?))"


class Outbox(Stories):
    """The outbox reads the stories its alerts are about, hence a Stories. ``claimant`` names
    this process in its claims (Store sets it)."""

    claimant: str

    def claim_alert(self, alert_id: int, *, until: dt.datetime) -> bool:
        """Take a pending alert (not in a digest) for sending, until ``until``. One statement:
        of several processes claiming it, exactly one sees True."""
        cursor = self.db.execute(
            "update alerts set status = 'sending', claimed_until = ?, claimed_by = ? "
            "where id = ? and status = 'pending' and digest_id is null",
            [iso(until), self.claimant, alert_id])
        self.db.conn.commit()
        return cursor.rowcount == 1

    def claim_digest(self, digest_id: int, *, until: dt.datetime) -> bool:
        """As claim_alert, for a digest (its alerts stay pending under it)."""
        cursor = self.db.execute(
            "update digests set status = 'sending', claimed_until = ?, claimed_by = ? "
            "where id = ? and status = 'pending'", [iso(until), self.claimant, digest_id])
        self.db.conn.commit()
        return cursor.rowcount == 1

    def release_expired_claims(self, *, now: dt.datetime) -> list[tuple[str, str, str]]:
        """Claims whose deadline has passed (their process died, or overran), put back to
        pending, to be sent again with the same key. (kind, key, claimed_by) of each."""
        released = []
        with immediate(self.db):
            for kind, table in (("alert", "alerts"), ("digest", "digests")):
                where = f"from {table} where status = 'sending' and claimed_until <= ?"
                released += [(kind, r[0], r[1] or "?") for r in self.db.execute(
                    f"select key, claimed_by {where}", [iso(now)]).fetchall()]
                self.db.execute(f"update {table} set status = 'pending', claimed_until = null "
                                "where status = 'sending' and claimed_until <= ?", [iso(now)])
        return released

    def sending_alerts(self) -> int:
        """Alerts claimed and not yet marked (digests' alerts not counted)."""
        return int(self.db.execute(
            "select count(*) from alerts where status = 'sending'").fetchone()[0])

    def pending_alerts(self, *, now: dt.datetime | None = None) -> list[Alert]:
        """Pending alerts, oldest first; with ``now``, only those whose backoff has passed."""
        # An alert gathered into a digest is sent with it, not on its own.
        sql = "select * from alerts where status = 'pending' and digest_id is null"
        params: list[Any] = []
        if now is not None:
            sql += " and (next_attempt is null or next_attempt <= ?)"
            params.append(iso(now))
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
                        f"last_error = null, claimed_until = null where id = ? and {_OURS}",
                        [iso(now), alert_id, self.claimant])
        self.db.conn.commit()

    def mark_failed_attempt(self, alert_id: int, *, error: str, permanent: bool,
                            next_attempt: dt.datetime,
                            retry_after_until: dt.datetime | None = None) -> None:
        """``retry_after_until``: the receiver's Retry-After, which even a forced pass honours."""
        self.db.execute("update alerts set status = ?, attempts = attempts + 1, last_error = ?, "
                        "next_attempt = ?, retry_after_until = ?, claimed_until = null "
                        f"where id = ? and {_OURS}",
                        ["failed" if permanent else "pending", error, iso(next_attempt),
                         iso(retry_after_until), alert_id, self.claimant])
        self.db.conn.commit()

    def _alert_from_row(self, r: Mapping[str, Any]) -> Alert | None:
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

    def due_alerts(self, notifier: str, *, now: dt.datetime, force: bool = False) -> list[Alert]:
        """A notifier's pending alerts not in a digest, oldest first, whose backoff has passed
        (``force``: whatever the backoff) and whose receiver's Retry-After has passed (always)."""
        # A story's update waits for its story_update_window (not_before), even forced.
        sql = ("select * from alerts where status = 'pending' and digest_id is null "
               "and notifier = ? and (retry_after_until is null or retry_after_until <= ?) "
               "and (not_before is null or not_before <= ?)")
        params: list[Any] = [notifier, iso(now), iso(now)]
        if not force:
            sql += " and (next_attempt is null or next_attempt <= ?)"
            params.append(iso(now))
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
        return from_iso(row[0])

    def sent_alone_since(self, notifier: str, since: dt.datetime) -> int:
        """Alerts a notifier sent one by one (not in a digest) since ``since`` (flood control)."""
        return int(self.db.execute("select count(*) from alerts where notifier = ? and status = "
                                   "'sent' and digest_id is null and sent_at > ?",
                                   [notifier, iso(since)]).fetchone()[0])

    def last_digest_at(self, notifier: str) -> dt.datetime | None:
        row = self.db.execute("select max(created_at) from digests where notifier = ?",
                              [notifier]).fetchone()
        return from_iso(row[0])

    def create_digest(self, notifier: str, *, reason: str, now: dt.datetime) -> int | None:
        """Gather every pending alert of ``notifier`` not yet in a digest into a new one, in one
        transaction; its id, or None when there was nothing to gather."""
        # Immediate: an alert another process claims meanwhile must not join the digest too.
        with immediate(self.db):
            ids = [r[0] for r in self.db.execute(
                "select id from alerts where status = 'pending' and digest_id is null "
                "and notifier = ? and (not_before is null or not_before <= ?) order by id",
                [notifier, iso(now)]).fetchall()]
            if not ids:
                return None
            stamp = now.astimezone(dt.timezone.utc).strftime("%Y%m%dT%H%M%S")
            digest_id = inserted_id(self.db.table("digests").insert({
                "key": f"digest-{stamp}-{ids[0]}-{notifier}", "notifier": notifier,
                "reason": reason, "status": "pending", "attempts": 0, "created_at": iso(now),
                "next_attempt": iso(now),
            }))
            self.db.execute(
                f"update alerts set digest_id = ? where id in ({', '.join('?' * len(ids))}) "
                "and status = 'pending' and digest_id is null", [digest_id, *ids])
        return digest_id

    def _digest_from_row(self, r: Mapping[str, Any]) -> Digest:
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
        params: list[Any] = [notifier, iso(now)]
        if not force:
            sql += " and (next_attempt is null or next_attempt <= ?)"
            params.append(iso(now))
        return [self._digest_from_row(r) for r in self.db.query(sql + " order by id", params)]

    def mark_digest_sent(self, digest_id: int, *, now: dt.datetime) -> None:
        with immediate(self.db):
            self.db.execute("update digests set status = 'sent', sent_at = ?, attempts = "
                            "attempts + 1, last_error = null, claimed_until = null "
                            f"where id = ? and {_OURS}", [iso(now), digest_id, self.claimant])
            self.db.execute("update alerts set status = 'sent', sent_at = ?, attempts = attempts "
                            "+ 1, last_error = null where digest_id = ? and status = 'pending'",
                            [iso(now), digest_id])

    def mark_digest_failed_attempt(self, digest_id: int, *, error: str, permanent: bool,
                                   next_attempt: dt.datetime,
                                   retry_after_until: dt.datetime | None = None) -> None:
        status = "failed" if permanent else "pending"
        with immediate(self.db):
            self.db.execute("update digests set status = ?, attempts = attempts + 1, "
                            "last_error = ?, next_attempt = ?, retry_after_until = ?, "
                            f"claimed_until = null where id = ? and {_OURS}",
                            [status, error, iso(next_attempt), iso(retry_after_until), digest_id,
                             self.claimant])
            self.db.execute("update alerts set status = ?, attempts = attempts + 1, "
                            "last_error = ? where digest_id = ? and status = 'pending'",
                            [status, f"digest {digest_id}: {error}", digest_id])

    def defer_notifier(self, notifier: str, until: dt.datetime) -> None:
        """A receiver's Retry-After holds for everything pending for that notifier."""
        with immediate(self.db):
            for table in ("alerts", "digests"):
                self.db.execute(f"update {table} set retry_after_until = ? where notifier = ? "
                                "and status = 'pending' and (retry_after_until is null or "
                                "retry_after_until < ?)", [iso(until), notifier, iso(until)])

    _ALERT_ROWS = ("select a.id, a.key, a.notifier, a.status, a.attempts, a.last_error, "
                   "a.next_attempt, a.retry_after_until, a.created_at, a.sent_at, a.digest_id, "
                   "a.rules, a.clipping_id, c.title, c.source, c.link, a.claimed_until, "
                   "a.claimed_by from alerts a "
                   "left join clippings c on c.id = a.clipping_id")

    def alert_rows(self, *, status: str | None = None, limit: int | None = None,
                   newest_first: bool = True, clipping_id: str | None = None) -> list[AlertRow]:
        """Alerts newest first (else oldest first), with their story's title and source, for
        `monitor alerts`; with ``clipping_id``, that clipping's alone."""
        sql = self._ALERT_ROWS
        where: list[str] = []
        params: list[Any] = []
        if status:
            where.append("a.status = ?")
            params.append(status)
        if clipping_id is not None:
            where.append("a.clipping_id = ?")
            params.append(clipping_id)
        if where:
            sql += " where " + " and ".join(where)
        sql += " order by a.id desc" if newest_first else " order by a.id"
        if limit is not None:
            sql += " limit ?"
            params.append(limit)
        return [_alert_row(r) for r in self.db.query(sql, params)]

    def alerts(self) -> list[AlertRow]:
        """Every alert, oldest first."""
        return self.alert_rows(newest_first=False)

    def find_alert(self, ref: str) -> AlertRow | None:
        """An alert by its number or its key."""
        sql = self._ALERT_ROWS + " where " + ("a.id = ?" if ref.isdigit() else "a.key = ?")
        rows = list(self.db.query(sql, [int(ref) if ref.isdigit() else ref]))
        return _alert_row(rows[0]) if rows else None

    def retry_alert(self, alert_id: int, *, now: dt.datetime) -> str:
        """Queue an alert again now. A failed one leaves its digest and starts afresh; a pending
        one (and its digest) is tried at the next pass; one being sent whose claim lapsed is
        pending again. Returns the status it had. StoreError for an alert being sent: another
        process holds it until its claim's deadline."""
        with immediate(self.db):
            rows = list(self.db.query("select * from alerts where id = ?", [alert_id]))
            if not rows:
                raise StoreError(f"no alert {alert_id}")
            row = rows[0]
            if row["status"] == "sending" and (row["claimed_until"] or "") > (iso(now) or ""):
                pid = (row["claimed_by"] or "?").split("-", 1)[0]
                raise StoreError(f"alert {alert_id} is being sent by process {pid} (claimed until "
                                 f"{row['claimed_until']}); if that process died, it is sent "
                                 "again once the claim lapses")
            if row["status"] == "failed":
                self.db.execute("update alerts set status = 'pending', attempts = 0, "
                                "last_error = null, next_attempt = ?, retry_after_until = null, "
                                "digest_id = null where id = ?", [iso(now), alert_id])
            elif row["status"] in ("pending", "sending"):
                self.db.execute("update alerts set status = 'pending', claimed_until = null, "
                                "next_attempt = ?, retry_after_until = null where id = ?",
                                [iso(now), alert_id])
                if row["digest_id"] is not None:
                    self.db.execute("update digests set next_attempt = ?, retry_after_until = "
                                    "null where id = ? and status = 'pending'",
                                    [iso(now), row["digest_id"]])
        return str(row["status"])

    def digest(self, digest_id: int) -> Digest | None:
        rows = list(self.db.query("select * from digests where id = ?", [digest_id]))
        return self._digest_from_row(rows[0]) if rows else None

    def pending_by_notifier(self) -> dict[str, int]:
        """How many alerts are pending, by notifier."""
        return {name: int(count) for name, count in self.db.execute(
            "select notifier, count(*) from alerts where status = 'pending' group by notifier"
        ).fetchall()}
