"""Store stage, the stories: entries seen, clippings, their matches and the alerts routed from
them, written together (NewStory in); clippings read back as StoredClipping records."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from monitor.errors import AmbiguousId, UnknownId
from monitor.models import (MIN_PREFIX, SHORT_ID, Clipping, Match, MatchedTerm, NewStory,
                            StorySource)
from monitor.parse.identity import canonical_url
from monitor.store.base import Part, immediate, insert_row, iso

_HEX = frozenset("0123456789abcdef")
CANDIDATES_SHOWN = 10


@dataclass(frozen=True, slots=True)
class StoredClipping:
    id: str
    clipping: Clipping
    text: str
    origin: str
    flagged: bool
    rules: tuple[str, ...]
    created_at: str


class Stories(Part):
    def is_seen(self, url: str | None, guid: str | None) -> bool:
        """A story was seen if its canonical URL or its guid was. Text SQLite cannot take (a
        feed's lone surrogate) was never stored, so never seen: storing it fails later, on
        that entry alone."""
        try:
            if url and self.db.execute("select 1 from entries where url = ? limit 1",
                                       [url]).fetchone():
                return True
            if guid and self.db.execute("select 1 from entries where guid = ? limit 1",
                                        [guid]).fetchone():
                return True
        except UnicodeEncodeError:
            return False
        return False

    def add_story(self, story: NewStory, *, now: dt.datetime) -> bool:
        """Store a story, its clipping, its matches and its alerts in one transaction.
        False if it was there already. A backlog story is stored but not alerted."""
        with immediate(self.db):
            existing = self.db.execute("select 1 from clippings where id = ?",
                                       [story.clipping_id]).fetchone()
            insert_row(self.db, "entries", {"feed_url": story.feed_url, "guid": story.guid,
                                       "url": story.canonical, "clipping_id": story.clipping_id,
                                       "first_seen": iso(now)})
            if existing:
                return False
            clipping = story.clipping
            insert_row(self.db, "clippings", {
                "id": story.clipping_id, "url": story.canonical, "link": clipping.url,
                "title": clipping.title, "standfirst": clipping.standfirst,
                "source": clipping.source,
                "date": clipping.date.isoformat() if clipping.date else None,
                "author": clipping.author, "body": clipping.body,
                "tags": json.dumps(clipping.tags), "text": story.text, "origin": story.origin,
                "fingerprint": story.fingerprint, "feed_url": story.feed_url,
                "published": iso(story.published), "flagged": int(bool(story.matches)),
                "created_at": iso(now), "backlog": int(story.backlog),
                "extract_error": story.extract_error,
            })
            for m in story.matches:
                insert_row(self.db, "matches", {
                    "clipping_id": story.clipping_id, "rule": m.rule, "score": m.score,
                    "terms": json.dumps([[t.text, t.field, t.start, t.end] for t in m.terms]),
                    "tags": json.dumps(m.tags), "created_at": iso(now),
                    "watches": json.dumps(m.watches) if m.watches else None,
                })
            for notifier, rules in story.alerts.items():
                insert_row(self.db, "alerts", {
                    "key": f"{story.clipping_id}-{notifier}", "clipping_id": story.clipping_id,
                    "notifier": notifier, "rules": json.dumps(rules), "status": "pending",
                    "attempts": 0, "created_at": iso(now), "next_attempt": iso(now),
                }, verb="insert or ignore")
        return True

    def _matches(self, clipping_id: str) -> list[Match]:
        rows = self.db.query("select * from matches where clipping_id = ? "
                             "order by score desc, rule", [clipping_id])
        return [Match(rule=r["rule"], score=r["score"],
                      terms=tuple(MatchedTerm(*t) for t in json.loads(r["terms"])),
                      tags=tuple(json.loads(r["tags"])),
                      watches=tuple(json.loads(r["watches"] or "[]"))) for r in rows]

    def resolve_clipping(self, ref: str) -> str:
        """The full id of the one clipping ``ref`` names: its id, a prefix of it (at least
        MIN_PREFIX hex digits, any case) or its article's URL (as the feed gave it, or
        canonical). UnknownId if none does, AmbiguousId (with candidates) if several do."""
        ref = ref.strip()
        if "://" in ref:
            rows = self.db.execute(
                "select id, title from clippings where url = ? or link = ? union "
                "select c.id, c.title from entries e join clippings c on c.id = e.clipping_id "
                "where e.url = ? order by id", [canonical_url(ref), ref, canonical_url(ref)]
            ).fetchall()
            what = f"no clipping of the article {ref!r}"
        else:
            prefix = ref.lower()
            if len(prefix) < MIN_PREFIX or not set(prefix) <= _HEX:
                raise UnknownId(f"no clipping with id {ref!r}: give at least {MIN_PREFIX} hex "
                                "digits of an id, or the article's URL (see `monitor list`)",
                                ref=ref)
            # A range on the primary key's index: every id that starts with the prefix sorts
            # between it and the prefix followed by the digit after "f".
            rows = self.db.execute(
                "select id, title from clippings where id >= ? and id < ? order by id limit ?",
                [prefix, prefix + "g", CANDIDATES_SHOWN + 1]).fetchall()
            what = f"no clipping with id {ref!r}"
        if not rows:
            raise UnknownId(f"{what} (see `monitor list`)", ref=ref)
        if len(rows) > 1:
            more = "more than " if len(rows) > CANDIDATES_SHOWN else ""
            raise AmbiguousId(f"{ref!r} names {more}{min(len(rows), CANDIDATES_SHOWN)} "
                              f"clippings; give more of the id (each listing shows "
                              f"{SHORT_ID} digits)", ref=ref,
                              candidates=tuple((r[0], r[1] or "") for r in
                                               rows[:CANDIDATES_SHOWN]))
        return str(rows[0][0])

    def clipping(self, clipping_id: str) -> StoredClipping | None:
        rows = list(self.db.query("select * from clippings where id = ?", [clipping_id]))
        return self._stored(rows[0]) if rows else None

    def _stored(self, r: Mapping[str, Any]) -> StoredClipping:
        clipping = Clipping(
            title=r["title"] or "", standfirst=r["standfirst"] or "", source=r["source"] or "",
            url=r["link"] or "", date=dt.date.fromisoformat(r["date"]) if r["date"] else None,
            author=r["author"] or "", body=r["body"] or "",
            tags=tuple(json.loads(r["tags"] or "[]")))
        rules = tuple(m.rule for m in self._matches(r["id"]))
        return StoredClipping(id=r["id"], clipping=clipping, text=r["text"], origin=r["origin"],
                              flagged=bool(r["flagged"]), rules=rules,
                              created_at=r["created_at"])

    def clippings(self, *, flagged: bool = False,
                  limit: int | None = None) -> Iterator[StoredClipping]:
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

    def story_of(self, clipping_id: str) -> int | None:
        """The story (one per event) a clipping belongs to."""
        row = self.db.execute("select story_id from clippings where id = ?",
                              [clipping_id]).fetchone()
        return int(row[0]) if row and row[0] is not None else None

    def story_sources(self, story_id: int | None) -> tuple[StorySource, ...]:
        """Every clipping of a story, first seen first."""
        if story_id is None:
            return ()
        return tuple(StorySource(clipping_id=r["id"], title=r["title"] or "",
                                 source=r["source"] or "", url=r["link"] or "",
                                 date=dt.date.fromisoformat(r["date"]) if r["date"] else None)
                     for r in self.db.query("select id, title, source, link, date from clippings "
                                            "where story_id = ? order by created_at, id",
                                            [story_id]))
