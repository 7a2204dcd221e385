"""Full-text search over the clippings: SQLite FTS5 on title, body, source and tags, kept in
step with the clippings table by the triggers that sqlite-utils made (monitor.store.schema,
m_issue6_review), ranked by FTS5's own bm25; and the rows `monitor export` writes. SQL on the
Store's connection, as in monitor.store.archive.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from monitor.units import parse_duration
from monitor.errors import MonitorError
from monitor.models import ClippingRecord
from monitor.store.database import Store

OPEN, CLOSE = "«", "»"  # as `monitor explain` marks terms
SNIPPET_TOKENS = 16
SORTS = ("best", "newest")

QUERY_HELP = ("words match whole words, accents and case ignored (English words also match "
              "their plurals); \"a phrase\"; prefix*; AND, OR, NOT in upper case; NEAR(a b, 5); "
              "title: body: source: tags: for one field; quote a word with punctuation: "
              "\"anti-piracy\"")


@dataclass(frozen=True, slots=True)
class Hit:
    id: str
    title: str  # with the matched words marked « »
    source: str
    date: str | None
    url: str
    flagged: bool
    rules: tuple[str, ...]
    snippet: str  # a passage of the body around the matched words, marked « »
    rank: float  # bm25: lower is better
    story_id: int | None

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "title": self.title, "source": self.source, "date": self.date,
                "url": self.url, "flagged": self.flagged, "rules": list(self.rules),
                "snippet": self.snippet, "rank": round(self.rank, 4), "story_id": self.story_id}


def since_cutoff(value: str, now: dt.datetime) -> str:
    """``--since``: a duration back from now ("7d", "12h") or a date ("2026-11-01"), as the
    ISO text the store compares with."""
    text = value.strip()
    try:
        day = dt.date.fromisoformat(text)
    except ValueError:
        try:
            seconds = parse_duration(text)
        except ValueError:
            raise MonitorError(f"--since: expected a duration such as 7d or 12h, or a date "
                               f"such as 2026-11-01, got {value!r}") from None
        moment = now - dt.timedelta(seconds=seconds)
    else:
        moment = dt.datetime.combine(day, dt.time(), tzinfo=dt.timezone.utc)
    return moment.astimezone(dt.timezone.utc).isoformat(timespec="seconds")


def filters(*, flagged: bool = False, since: str | None = None, source: str | None = None,
            rule: str | None = None, alias: str = "c") -> tuple[str, list[Any]]:
    """SQL conditions (joined by AND, or "1") and their parameters for the common filters of
    `search` and `export`: flagged, published (else first seen) since, source, rule."""
    where, params = [], []
    if flagged:
        where.append(f"{alias}.flagged = 1")
    if since:
        where.append(f"coalesce({alias}.published, {alias}.created_at) >= ?")
        params.append(since)
    if source:
        where.append(f"{alias}.source = ? collate nocase")
        params.append(source)
    if rule:
        where.append(f"exists (select 1 from matches m where m.clipping_id = {alias}.id "
                     "and m.rule = ?)")
        params.append(rule)
    return " and ".join(where) or "1", params


def search(store: Store, query: str, *, flagged: bool = False, since: str | None = None,
           source: str | None = None, rule: str | None = None, sort: str = "best",
           limit: int = 20) -> list[Hit]:
    """Clippings matching an FTS5 query, best first (bm25) or newest first."""
    if not query.strip():
        raise MonitorError("empty search: give words to look for (" + QUERY_HELP + ")")
    where, params = filters(flagged=flagged, since=since, source=source, rule=rule)
    order = ("rank" if sort == "best"
             else "coalesce(c.published, c.created_at) desc, c.created_at desc")
    sql = (f"select c.id, c.title, c.source, c.date, c.link, c.flagged, c.story_id, "
           f"highlight(clippings_fts, 0, '{OPEN}', '{CLOSE}') as marked_title, "
           f"snippet(clippings_fts, 1, '{OPEN}', '{CLOSE}', '…', {SNIPPET_TOKENS}) as snippet, "
           f"bm25(clippings_fts) as rank, "
           f"(select json_group_array(m.rule) from matches m where m.clipping_id = c.id) as rules "
           f"from clippings_fts join clippings c on c.rowid = clippings_fts.rowid "
           f"where clippings_fts match ? and {where} order by {order} limit ?")
    try:
        rows = list(store.db.query(sql, [query, *params, limit]))
    except sqlite3.OperationalError as e:
        raise _query_error(query, e) from None
    return [Hit(id=r["id"], title=r["marked_title"] or r["title"] or "", source=r["source"] or "",
                date=r["date"], url=r["link"] or "", flagged=bool(r["flagged"]),
                rules=tuple(json.loads(r["rules"] or "[]")), snippet=" ".join(
                    (r["snippet"] or "").split()), rank=float(r["rank"]), story_id=r["story_id"])
            for r in rows]


def count_matches(store: Store, query: str, *, flagged: bool = False, since: str | None = None,
                  source: str | None = None, rule: str | None = None) -> int:
    """How many clippings ``search`` would find without its limit."""
    where, params = filters(flagged=flagged, since=since, source=source, rule=rule)
    sql = ("select count(*) from clippings_fts join clippings c on c.rowid = clippings_fts.rowid "
           f"where clippings_fts match ? and {where}")
    try:
        return int(store.db.execute(sql, [query, *params]).fetchone()[0])
    except sqlite3.OperationalError as e:
        raise _query_error(query, e) from None


def _query_error(query: str, e: sqlite3.OperationalError) -> MonitorError:
    reason = str(e).removeprefix("fts5: ")
    if reason == 'syntax error near ""':
        reason = "the query ends too early (an operator or a parenthesis without its pair)"
    elif reason.startswith("no such column"):
        reason += (" (a word before ':' or after '-' is read as a field name; quote a word "
                   "with punctuation)")
    return MonitorError(f"cannot search for {query!r}: {reason}. The search language: "
                        f"{QUERY_HELP}")


def export_rows(store: Store, *, flagged: bool = False, since: str | None = None,
                rule: str | None = None) -> Iterator[ClippingRecord]:
    """The clippings to export, oldest first (the order they arrived), each with its rules and
    its analyst's mark."""
    where, params = filters(flagged=flagged, since=since, rule=rule)
    sql = (f"select c.*, (select json_group_array(m.rule) from matches m "
           f"where m.clipping_id = c.id) as rules, (select k.label from marks k "
           f"where k.clipping_id = c.id) as mark from clippings c where {where} "
           f"order by c.created_at, c.rowid")
    for r in store.db.query(sql, params):
        yield ClippingRecord(
            id=r["id"], story_id=r["story_id"], url=r["link"], title=r["title"],
            standfirst=r["standfirst"], source=r["source"], date=r["date"], author=r["author"],
            lang=r["lang"], flagged=bool(r["flagged"]),
            rules=tuple(json.loads(r["rules"] or "[]")), tags=tuple(json.loads(r["tags"] or "[]")),
            origin=r["origin"], published=r["published"], created_at=r["created_at"],
            mark=r["mark"], body=r["body"], text=r["text"])
