"""Stories in the store: each new clipping joins the story of the event it reports,
and its alerts become the story's first alert, an update, or part of an alert still waiting.

record_story(store, settings, NewStory, now=...):    one transaction (Store.batch)
    store the story, clipping, matches and alerts (Store.add_story)
    guess the language; compute the grouping signature (monitor.decide.grouping), without
    the lines and names its outlet repeats on its pages (outlet_marks)
    look up the clippings that share one of its keys or, within story_window, one of its
    words (signature_keys, signature_terms), compare it with the likeliest of them: the best
    matching story that it joins by its first report or a majority of its reports, else a new
    one; index its own keys and words
    for each alert queued for this clipping, per notifier:
        the story had no alert there              -> the story's first alert (as before)
        the story's alerts did not name its rule  -> an update, sent now
        or any of its event tags
        an alert of the story is still waiting    -> folded into it ("grouped"): when it is
                                                     sent it lists every source of the story
        the story's alert was sent                -> an update, held until story_update_window
                                                     after the last message (or, with updates
                                                     off, grouped and not sent)
    keep the raw page as evidence (monitor.store.evidence)

SQL on the Store's connection: grouping spans the stories and the outbox, so it is written
over Store's parts rather than as one of them.
"""

from __future__ import annotations

import datetime as dt
import heapq
import json
import weakref
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from operator import itemgetter
from typing import Any, Protocol

from monitor.decide.grouping import (OUTLET_TERM_MIN, OUTLET_TERM_SHARE, Signature,
                                     compare, index_terms, line_marks, may_match, probe_keys,
                                     signature, without_lines, without_terms)
from monitor.parse.language import guess_language
from monitor.models import Alert, Clipping, FetchResult, NewStory
from monitor.store.base import insert_row
from monitor.store.database import Store
from monitor.store.recent import RecentIndex
from monitor.store.signatures import (decode_signature, encode_signature, index_rows, seconds,
                                      write_index_rows)

CANDIDATE_AGE = dt.timedelta(days=14)  # syndicated copies are looked for this far back
CANDIDATES_MAX = 5000  # the exhaustive scan (scan_story) compares at most this many
# Candidates through the index (find_story): what one new clipping reads and compares is
# bounded, whatever the store holds (bench/bench_grouping.py). A key or word that many clippings
# share (boilerplate, a name in every story of the week) yields only its newest clippings.
KEY_POSTINGS = 20  # clippings read per sketch key
TERM_POSTINGS = 50  # clippings read per word, within story_window
COMPARED_BY_KEYS = 12  # those sharing the most keys
COMPARED_BY_TERMS = 12  # those sharing the rarest words
# Joins do not chain: a clipping joins a story when it matches the story's first report or a
# majority of its reports, of which the newest STORY_MEMBERS are compared.
STORY_MEMBERS = 30
# An outlet's boilerplate is looked for among its newest OUTLET_PAGES clippings of OUTLET_AGE.
OUTLET_PAGES = 20
OUTLET_AGE = CANDIDATE_AGE
# Signatures never change once stored: the recently decoded ones are kept per open store.
CACHE_MAX = 4096
_decoded: weakref.WeakKeyDictionary[Store, OrderedDict[str, Signature]] = \
    weakref.WeakKeyDictionary()
# The index's rows of the last MEMORY_SPAN are also held in memory, per open store (RecentIndex):
# twice CANDIDATE_AGE, so that a story published up to CANDIDATE_AGE ago still finds in memory
# every clipping its keys look back to. Older reads go to the tables.
MEMORY_SPAN = 2 * CANDIDATE_AGE
PRUNE_EVERY = 86_400  # seconds the horizon may lag before the memory is pruned
_recent: weakref.WeakKeyDictionary[Store, RecentIndex] = weakref.WeakKeyDictionary()


class TextFactsLike(Protocol):
    """What a worker computed of a clipping's text (monitor.pipeline.analysis.TextAnalysis, or
    a PageAnalysis), described here as the store reads it."""

    @property
    def lang(self) -> str: ...
    @property
    def signature(self) -> Signature: ...
    @property
    def lines(self) -> dict[str, int]: ...


class PageAnalysisLike(TextFactsLike, Protocol):
    """What the store keeps of a page's analysis (monitor.pipeline.analysis.PageAnalysis,
    made in a worker process): the text's facts and the page packed for the evidence."""

    @property
    def compressed(self) -> bytes: ...
    @property
    def sha256(self) -> str: ...


def _iso(when: dt.datetime) -> str:
    return when.astimezone(dt.timezone.utc).isoformat(timespec="seconds")


@dataclass(frozen=True, slots=True)
class StorySettings:
    window: dt.timedelta  # story_window
    update_window: dt.timedelta | None  # story_update_window; None: no update alerts
    rechecks: tuple[float, ...] = ()  # evidence_rechecks, seconds after the first fetch


def settings_of(config: Any) -> StorySettings:
    uw = config.story_update_window
    return StorySettings(window=dt.timedelta(seconds=config.story_window),
                         update_window=dt.timedelta(seconds=uw) if uw is not None else None,
                         rechecks=tuple(config.evidence_rechecks))


def _signatures(store: Store, ids: Sequence[str]) -> dict[str, Signature]:
    """The stored signatures of these clippings, decoded (those still stored)."""
    cache = _decoded.setdefault(store, OrderedDict())
    missing = [i for i in dict.fromkeys(ids) if i not in cache]
    for start in range(0, len(missing), 500):
        chunk = missing[start:start + 500]
        for full in store.db.query("select * from signatures where clipping_id in "
                                   f"({', '.join('?' * len(chunk))})", chunk):
            cache[full["clipping_id"]] = decode_signature(full)
    found: dict[str, Signature] = {}
    for i in ids:
        if i in cache:
            cache.move_to_end(i)
            found[i] = cache[i]
    while len(cache) > max(CACHE_MAX, len(found)):
        cache.popitem(last=False)
    return found


def _postings(store: Store, table: str, column: str, values: Iterable[Any], lo: int, hi: int,
              limit: int) -> list[tuple[Any, str]]:
    """(value, clipping_id) of the ``limit`` newest clippings indexed under each value, with
    ``at`` between lo and hi: one index range per value, read from its end."""
    values = sorted(set(values))
    found: list[tuple[Any, str]] = []
    one = (f"select * from (select {column}, clipping_id from {table} where {column} = ? "
           "and at between ? and ? order by at desc limit ?)")
    for start in range(0, len(values), 200):  # SQLite allows 500 terms in a compound select
        chunk = values[start:start + 200]
        params = [p for v in chunk for p in (v, lo, hi, limit)]
        found += [(r[0], r[1]) for r in
                  store.db.execute(" union all ".join([one] * len(chunk)), params).fetchall()]
    return found


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _data_version(store: Store) -> int:
    # changes when another connection commits, never for this one's own commits
    return int(store.db.execute("pragma data_version").fetchone()[0])


def _last_rowid(store: Store) -> int:
    return int(store.db.execute("select coalesce(max(rowid), 0) from signatures").fetchone()[0])


def recent_index(store: Store, now: dt.datetime | None = None) -> RecentIndex:
    """The store's index in memory: built from the tables on first use, then kept in step:
    this store's own writes are added as they are made (and taken back if their transaction
    rolls back), another connection's clippings read from ``signatures`` when the database's
    data_version says one committed; pruned of what is older than MEMORY_SPAN before ``now``."""
    horizon = seconds((now or _utcnow()) - MEMORY_SPAN)
    index = _recent.get(store)
    if index is None:
        index = _recent[store] = RecentIndex(horizon)
        index.version, index.watermark = _data_version(store), _last_rowid(store)
        # one (at, clipping_id) object per clipping, shared by all its postings, as when added
        shared: dict[tuple[int, str], tuple[int, str]] = {}
        for key, at, cid in store.db.execute(
                "select key, at, clipping_id from signature_keys where at >= ?", [horizon]):
            index.keys.add(key, shared.setdefault((at, cid), (at, cid)))
        for term, at, cid in store.db.execute(
                "select term, at, clipping_id from signature_terms where at >= ?", [horizon]):
            index.terms.add(term, shared.setdefault((at, cid), (at, cid)))
        store.on_commit(_committed(store, index))
        return index
    if _data_version(store) != index.version:
        _catch_up(store, index)
    if horizon - index.horizon > PRUNE_EVERY:
        index.prune(horizon)
    return index


def _catch_up(store: Store, index: RecentIndex) -> None:
    """Add the clippings another connection stored since ``index.watermark`` (reading this
    store's own ones again adds nothing: they are there already)."""
    index.version = _data_version(store)
    for row in store.db.query("select rowid, * from signatures where rowid > ?",
                              [index.watermark]):
        sig = decode_signature(row)
        keys, terms = index_rows(row["clipping_id"], sig)
        index.add(row["clipping_id"], seconds(sig.at), [k for k, _, _ in keys],
                  [t for t, _, _ in terms])


def _committed(store: Store, index: RecentIndex) -> Callable[[], None]:
    def committed() -> None:
        # With no other connection's commit since the last look, every clipping committed is
        # in memory: the next catch-up starts after them. Only then, since a rolled-back
        # rowid may be taken again by another connection's clipping.
        if _data_version(store) == index.version:
            index.watermark = _last_rowid(store)
    return committed


def candidates(store: Store, sig: Signature, window: dt.timedelta,
               exclude: str = "", *, now: dt.datetime | None = None,
               memory: bool = True) -> list[str]:
    """The stored clippings worth comparing with ``sig``, at most COMPARED_BY_KEYS +
    COMPARED_BY_TERMS: within CANDIDATE_AGE, those sharing the most sketch keys (near-duplicates,
    any age); within ``window``, those sharing its rarest words (reworded reports).
    Read from the index in memory (``recent_index``) where it reaches back far enough, else
    from the tables; ``memory=False``: from the tables (what the tests compare it with)."""
    index = recent_index(store, now) if memory else None
    lo, hi = seconds(sig.at - CANDIDATE_AGE), seconds(sig.at + CANDIDATE_AGE)
    if index is not None and index.covers(lo):
        key_postings = index.keys.newest(probe_keys(sig), lo, hi, KEY_POSTINGS)
    else:
        key_postings = _postings(store, "signature_keys", "key", probe_keys(sig), lo, hi,
                                 KEY_POSTINGS)
    by_keys = Counter(map(itemgetter(1), key_postings))
    by_keys.pop(exclude, None)  # the others keep their order, most_common's tie-break
    chosen = [cid for cid, _ in by_keys.most_common(COMPARED_BY_KEYS)]
    taken = set(chosen)
    lo, hi = seconds(sig.at - window), seconds(sig.at + window)
    postings: list[tuple[Any, str]]
    if index is not None and index.covers(lo):
        postings = list(index.terms.newest(index_terms(sig), lo, hi, TERM_POSTINGS))
    else:
        postings = _postings(store, "signature_terms", "term", index_terms(sig), lo, hi,
                             TERM_POSTINGS)
    per_term = Counter(map(itemgetter(0), postings))
    by_terms: dict[str, float] = {}
    for term, cid in postings:  # a word that few clippings have counts for more
        if cid != exclude and cid not in taken:
            by_terms[cid] = by_terms.get(cid, 0.0) + 1 / per_term[term]
    # Counter.most_common's own ordering, on float counts
    best = heapq.nlargest(COMPARED_BY_TERMS, by_terms.items(), key=itemgetter(1))
    return chosen + [cid for cid, _ in best]


Ranked = tuple[tuple[bool, float], int, str]  # (rank, story, reason)


def _ranked(sig: Signature, window: dt.timedelta,
            others: Iterable[tuple[Signature, int, str]]) -> list[tuple[Ranked, set[str]]]:
    """The stories of the clippings among ``others`` (signature, story, clipping) that match
    ``sig``, best first (syndicated copies first, then the most similar), each with the
    clippings of it that matched."""
    best: dict[int, Ranked] = {}
    matched: dict[int, set[str]] = {}
    hashes = frozenset(sig.sketch)
    for other, story_id, clipping_id in others:
        if not may_match(sig, hashes, other, window):
            continue
        verdict = compare(sig, other, window)
        if not verdict.same:
            continue
        rank = (verdict.reason == "syndicated", verdict.title + verdict.specifics)
        matched.setdefault(story_id, set()).add(clipping_id)
        if story_id not in best or rank > best[story_id][0]:
            best[story_id] = (rank, story_id, verdict.reason)
    order = sorted(best.values(), key=lambda r: r[0], reverse=True)
    return [(r, matched[r[1]]) for r in order]


def _admitted(store: Store, sig: Signature, window: dt.timedelta, story_id: int,
              matched: set[str]) -> bool:
    """Whether ``sig`` may join this story: it matches the story's first report, or a majority
    of its reports (the newest STORY_MEMBERS). Matching any one member is not enough: A joined
    by B, B by C, C by D... would chain clippings of different events into one story."""
    row = store.db.execute("select first_clipping_id from stories where id = ?",
                           [story_id]).fetchone()
    first = row[0] if row else None
    if first in matched:
        return True
    # through clippings' index on story_id (signatures have none)
    members = [r[0] for r in store.db.execute(
        "select id from clippings where story_id = ? order by created_at desc limit ?",
        [story_id, STORY_MEMBERS])]
    sigs = _signatures(store, members + ([first] if first else []))
    if first in sigs and compare(sig, sigs[first], window).same:
        return True
    members = [m for m in members if m in sigs]
    agree = sum(1 for m in members if m in matched or compare(sig, sigs[m], window).same)
    return agree * 2 > len(members)


def _choose(store: Store, sig: Signature, window: dt.timedelta,
            others: Iterable[tuple[Signature, int, str]]) -> tuple[int | None, str]:
    """The best-ranked matching story that admits ``sig`` (``_admitted``); (None, "new")."""
    for (_, story_id, reason), matched in _ranked(sig, window, others):
        if _admitted(store, sig, window, story_id, matched):
            return story_id, reason
    return None, "new"


def _stories(store: Store, ids: Sequence[str]) -> dict[str, int]:
    found: dict[str, int] = {}
    for start in range(0, len(ids), 500):
        chunk = list(ids[start:start + 500])
        found.update(store.db.execute(
            "select clipping_id, story_id from signatures where story_id is not null and "
            f"clipping_id in ({', '.join('?' * len(chunk))})", chunk).fetchall())
    return found


def find_story(store: Store, sig: Signature, window: dt.timedelta,
               exclude: str = "", *, now: dt.datetime | None = None) -> tuple[int | None, str]:
    """The story of the stored clipping that best matches ``sig`` (syndicated copies first,
    then the most similar), and the reason; (None, "new") when none does. Compares ``sig``
    with its candidates only (``candidates``): scan_story compares it with every clipping."""
    ids = candidates(store, sig, window, exclude, now=now)
    stories = _stories(store, ids)
    sigs = _signatures(store, [i for i in ids if i in stories])
    others = sorted(((sigs[i], stories[i], i) for i in sigs), key=lambda o: o[0].at,
                    reverse=True)
    return _choose(store, sig, window, others)


def scan_story(store: Store, sig: Signature, window: dt.timedelta,
               exclude: str = "", *, now: dt.datetime | None = None) -> tuple[int | None, str]:
    """find_story by comparing ``sig`` with every clipping stored within CANDIDATE_AGE (up to
    CANDIDATES_MAX): the reference the index is measured against (bench/bench_grouping.py and
    the tests), at a cost that grows with the store. ``now`` is find_story's, unused: it reads
    no memory."""
    rows = list(store.db.query(
        "select clipping_id, story_id from signatures where at between ? and ? "
        "and clipping_id != ? and story_id is not null order by at desc limit ?",
        [_iso(sig.at - CANDIDATE_AGE), _iso(sig.at + CANDIDATE_AGE), exclude, CANDIDATES_MAX]))
    sigs = _signatures(store, [r["clipping_id"] for r in rows])
    return _choose(store, sig, window, ((sigs[r["clipping_id"]], r["story_id"], r["clipping_id"])
                                        for r in rows if r["clipping_id"] in sigs))


def index_signature(store: Store, clipping_id: str, sig: Signature, *,
                    now: dt.datetime | None = None) -> None:
    """Store the keys and words a clipping is found under (the migration m_issue6_grouping_index
    indexes the signatures stored before it), in the tables and in memory."""
    index = recent_index(store, now)  # made before its rows are written: it reads committed ones
    keys, terms = index_rows(clipping_id, sig)
    write_index_rows(store.db.conn, keys, terms)
    undo = index.add(clipping_id, seconds(sig.at), [k for k, _, _ in keys],
                     [t for t, _, _ in terms])
    if undo is not None:
        store.undo_on_rollback(undo)


def _refresh_story(store: Store, story_id: int, now: dt.datetime) -> None:
    store.db.execute(
        "update stories set updated_at = ?, "
        "clippings = (select count(*) from clippings where story_id = ?), "
        "sources = (select count(distinct source) from clippings where story_id = ?), "
        "flagged = (select coalesce(max(flagged), 0) from clippings where story_id = ?) "
        "where id = ?", [_iso(now), story_id, story_id, story_id, story_id])


# A clipping's marks (its lines and names, about a hundred) are looked up OUTLET_CHUNK at a
# time, one range read per mark as before, in one statement: its text is always the same, so it
# is compiled once (the statement cache), and a clipping costs a few calls, not one per mark.
OUTLET_CHUNK = 16
# Counted in SQL, the distinct stories from the list of their ids (a clipping without a
# signature counts as one story of its own): count(distinct) builds a temporary B-tree per mark,
# which cost four times the rest of the statement.
_OUTLET_ONE = ("select ?, count(*), group_concat(coalesce(s.story_id, -1)) from (select "
               "clipping_id from outlet_marks where source = ? and mark = ? and at between ? and ? "
               "and clipping_id != ? order by at desc limit ?) m "
               "left join signatures s on s.clipping_id = m.clipping_id")
_OUTLET_CHUNK_SQL = " union all ".join([_OUTLET_ONE] * OUTLET_CHUNK)


def _outlet_counts(store: Store, source: str, marks: Iterable[str], at: dt.datetime,
                   exclude: str) -> tuple[Counter[str], Counter[str]]:
    """How many of the outlet's newest OUTLET_PAGES clippings within OUTLET_AGE before ``at``
    carry each mark ("" counts its clippings), and in how many distinct stories."""
    lo, hi = seconds(at - OUTLET_AGE), seconds(at)
    wanted: list[str | None] = list(set(marks) | {""})
    # the last chunk filled with NULL marks, which no row has (mark is NOT NULL)
    wanted += [None] * (-len(wanted) % OUTLET_CHUNK)
    pages: Counter[str] = Counter()
    stories: Counter[str] = Counter()
    conn = store.db.conn
    for start in range(0, len(wanted), OUTLET_CHUNK):
        params = [p for mark in wanted[start:start + OUTLET_CHUNK]
                  for p in (mark, source, mark, lo, hi, exclude, OUTLET_PAGES)]
        for mark, found, story_ids in conn.execute(_OUTLET_CHUNK_SQL, params).fetchall():
            if found:
                pages[mark] = found
                stories[mark] = len(set(story_ids.split(",")))
    return pages, stories


def outlet_boilerplate(store: Store, clipping_id: str, clipping: Clipping, sig: Signature,
                       at: dt.datetime, lines: dict[str, int] | None = None) -> Signature:
    """``sig`` without what the outlet repeats on its pages: the lines found on its recent
    clippings of two stories or more (a footer, an intro, a "related" list; a line found in
    one story only is a copy of that story's text, as a feed of copies carries it), recomputed
    without them, and the names on most of its clippings (its own name, a discount code).
    Records this clipping's lines and names for the next ones. ``lines``: line_marks of the
    clipping's body, when computed already (in a worker)."""
    if lines is None:
        lines = line_marks(clipping.body)
    line_mark = {f"l{h}": line for line, h in lines.items()}
    names = [f"t{t}" for t in sig.specifics]
    pages, stories = _outlet_counts(store, clipping.source, [*line_mark, *names], at,
                                    clipping_id)
    repeated = [line for mark, line in line_mark.items() if stories[mark] >= 2]
    stripped = sig
    if repeated:
        stripped = signature(clipping.title, without_lines(clipping.body, repeated), sig.at)
    common = frozenset(t for t in stripped.specifics if pages[f"t{t}"] >= max(
        OUTLET_TERM_MIN, OUTLET_TERM_SHARE * pages[""]))
    stripped = without_terms(stripped, common)
    stamp = seconds(at)
    store.db.conn.executemany(
        "insert or ignore into outlet_marks (source, mark, at, clipping_id) values (?, ?, ?, ?)",
        [(clipping.source, m, stamp, clipping_id) for m in ["", *line_mark, *names]])
    return stripped


def attach(store: Store, settings: StorySettings, clipping_id: str, clipping: Clipping,
           at: dt.datetime, now: dt.datetime, *,
           facts: TextFactsLike | None = None) -> tuple[int, str]:
    """Give a just-stored clipping its language, signature and story, and sort its alerts.
    Call inside the transaction that stored it. Returns the story and why it was chosen.
    ``facts``: the clipping's language, signature (whatever its ``at``) and line marks, when
    computed already (in a worker: monitor.pipeline.analysis); else they are computed here."""
    if facts is None:
        sig = signature(clipping.title, clipping.body, at)
        lang = guess_language(f"{clipping.title}\n{clipping.body}")
        lines = None
    else:
        sig, lang, lines = replace(facts.signature, at=at), facts.lang, facts.lines
    sig = outlet_boilerplate(store, clipping_id, clipping, sig, at, lines)
    story_id, reason = find_story(store, sig, settings.window, exclude=clipping_id, now=now)
    if story_id is None:
        story_id = insert_row(store.db, "stories", {
            "title": clipping.title, "first_clipping_id": clipping_id, "created_at": _iso(now),
            "updated_at": _iso(now), "clippings": 0, "sources": 0, "flagged": 0})
    store.db.execute("update clippings set story_id = ?, lang = ? where id = ?",
                     [story_id, lang, clipping_id])
    insert_row(store.db, "signatures", {"clipping_id": clipping_id, "story_id": story_id,
                                        **encode_signature(sig)}, verb="insert or replace")
    index_signature(store, clipping_id, sig, now=now)
    _refresh_story(store, story_id, now)
    _sort_alerts(store, settings, clipping_id, story_id, joined=reason != "new", now=now)
    return story_id, reason


def _covered(store: Store, clipping_id: str, rules: Sequence[str],
             alerted: Sequence[str]) -> bool:
    """Whether the story's alerts to a notifier (of the clippings ``alerted``) already covered
    what this clipping's alert would say: each of its rules, and one of the event tags
    (takedown, raid, arrest...) of its matches for them. A clipping that brings a new rule, or
    only kinds of event the story's alerts never named, alerts whatever the grouping said."""
    if not alerted:
        return False
    marks = ", ".join("?" * len(alerted))
    seen = store.db.execute(f"select rule, tags from matches where clipping_id in ({marks})",
                            list(alerted)).fetchall()
    seen_rules = {r[0] for r in seen}
    seen_tags = {t for r in seen for t in json.loads(r[1] or "[]")}
    mine = store.db.execute("select rule, tags from matches where clipping_id = ?",
                            [clipping_id]).fetchall()
    tags = {t for r in mine if r[0] in rules for t in json.loads(r[1] or "[]")}
    return set(rules) <= seen_rules and (not tags or bool(tags & seen_tags))


def _sort_alerts(store: Store, settings: StorySettings, clipping_id: str, story_id: int,
                 *, joined: bool, now: dt.datetime) -> None:
    for row in list(store.db.query("select id, notifier, rules from alerts where "
                                   "clipping_id = ? and status = 'pending'", [clipping_id])):
        store.db.execute("update alerts set story_id = ? where id = ?", [story_id, row["id"]])
        if not joined:
            continue
        others = list(store.db.query(
            "select id, clipping_id, status, sent_at from alerts where story_id = ? and "
            "notifier = ? and id != ? and status in ('pending', 'sending', 'sent', 'grouped') "
            "order by id",
            [story_id, row["notifier"], row["id"]]))
        # One being sent ('sending') still takes it: release_uncovered makes it an update.
        waiting = [o for o in others if o["status"] in ("pending", "sending")]
        sent = [o for o in others if o["status"] == "sent"]
        if not waiting and not sent:
            continue  # the story's earlier alerts failed for good: this one goes as its first
        if not _covered(store, clipping_id, json.loads(row["rules"] or "[]"),
                        [o["clipping_id"] for o in others]):
            # What the story's alert said does not cover it: it goes out now, as an update
            # of the story, rather than folded into a message that would not say it.
            store.db.execute("update alerts set is_update = 1, not_before = ? where id = ?",
                             [_iso(now), row["id"]])
        elif waiting:
            _group(store, row["id"], waiting[0]["id"])
        elif settings.update_window is None:
            _group(store, row["id"], sent[-1]["id"])
        else:
            last = max(dt.datetime.fromisoformat(o["sent_at"]) for o in sent)
            store.db.execute("update alerts set is_update = 1, not_before = ? where id = ?",
                             [_iso(max(now, last + settings.update_window)), row["id"]])


def _group(store: Store, alert_id: int, into: int) -> None:
    store.db.execute("update alerts set status = 'grouped', grouped_into = ?, next_attempt = null "
                     "where id = ?", [into, alert_id])


def release_uncovered(store: Store, alert: Alert, *, now: dt.datetime,
                      update_window: dt.timedelta | None) -> int:
    """After ``alert`` was sent: alerts grouped into it whose clipping its message did not list
    (they joined the story while it was being sent) wait as an update instead. Their number."""
    covered = {s.clipping_id for s in alert.sources} | {alert.clipping_id}
    rows = [r for r in store.db.query("select id, clipping_id from alerts where grouped_into = ? "
                                      "and status = 'grouped'", [alert.id])
            if r["clipping_id"] not in covered]
    if update_window is None:
        return 0
    with store.db.atomic():
        for r in rows:
            store.db.execute("update alerts set status = 'pending', grouped_into = null, "
                             "is_update = 1, not_before = ?, next_attempt = ? where id = ?",
                             [_iso(now + update_window), _iso(now), r["id"]])
    return len(rows)


def record_story(store: Store, settings: StorySettings, story: NewStory, *, now: dt.datetime,
                 at: dt.datetime | None = None, page: FetchResult | None = None,
                 analysis: PageAnalysisLike | None = None,
                 text: TextFactsLike | None = None) -> bool:
    """``Store.add_story``, then the story's grouping and evidence, in one transaction.
    ``at``: the publication time (else now); ``page``: the fetched page;
    ``analysis``: its monitor.pipeline.analysis.PageAnalysis, when the clipping was made from it;
    else ``text``: the TextAnalysis of the feed's own text, when computed already (in a
    worker)."""
    from monitor.store import evidence  # evidence imports this module's helpers

    with store.batch():
        added = store.add_story(story, now=now)
        if added:
            attach(store, settings, story.clipping_id, story.clipping, at or now, now,
                   facts=analysis or text)
            if page is not None:
                evidence.keep_page(store, settings, story.clipping_id, page,
                                   flagged=bool(story.matches), now=now,
                                   packed=(analysis.compressed, analysis.sha256)
                                   if analysis else None)
    return added
