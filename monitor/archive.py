"""Stories in the store (issue 6): each new clipping joins the story of the event it reports,
and its alerts become the story's first alert, an update, or part of an alert still waiting.

record_story(store, settings, clipping...):          one transaction
    store the story, clipping, matches and alerts (Store.add_story)
    guess the language; compute the grouping signature (monitor.grouping)
    compare it with the signatures of recent clippings: the best match's story, else a new one
    for each alert queued for this clipping, per notifier:
        the story had no alert there              -> the story's first alert (as before)
        an alert of the story is still waiting    -> folded into it ("grouped"): when it is
                                                     sent it lists every source of the story
        the story's alert was sent                -> an update, held until story_update_window
                                                     after the last message (or, with updates
                                                     off, grouped and not sent)
    keep the raw page as evidence (monitor.evidence)

SQL on the Store's connection, kept here rather than in store.py so that the stages of issue 6
stay together and store.py's shared code changes little.
"""

from __future__ import annotations

import datetime as dt
import json
import weakref
from dataclasses import dataclass
from typing import Any

from monitor.grouping import Signature, compare, make_signature, may_match, signature
from monitor.language import guess_language
from monitor.models import Alert, Clipping
from monitor.store import Store

CANDIDATE_AGE = dt.timedelta(days=14)  # syndicated copies are looked for this far back
CANDIDATES_MAX = 5000
# Signatures never change once stored: decoded once per open store (bench/bench_grouping.py).
_decoded: weakref.WeakKeyDictionary[Store, dict[str, Signature]] = weakref.WeakKeyDictionary()


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


def _sig_row(sig: Signature) -> dict[str, Any]:
    return {"at": _iso(sig.at), "sketch": json.dumps(list(sig.sketch)), "shingles": sig.shingles,
            "title_terms": json.dumps(sorted(sig.title_terms)),
            "specifics": json.dumps(sorted(sig.specifics))}


def _sig_of(row: dict[str, Any]) -> Signature:
    return make_signature(tuple(json.loads(row["sketch"])), row["shingles"],
                          frozenset(json.loads(row["title_terms"])),
                          frozenset(json.loads(row["specifics"])),
                          dt.datetime.fromisoformat(row["at"]))


def find_story(store: Store, sig: Signature, window: dt.timedelta,
               exclude: str = "") -> tuple[int | None, str]:
    """The story of the stored clipping that best matches ``sig`` (syndicated copies first,
    then the most similar), and the reason; (None, "new") when none does."""
    rows = list(store.db.query(
        "select clipping_id, story_id from signatures where at between ? and ? "
        "and clipping_id != ? and story_id is not null order by at desc limit ?",
        [_iso(sig.at - CANDIDATE_AGE), _iso(sig.at + CANDIDATE_AGE), exclude, CANDIDATES_MAX]))
    cache = _decoded.setdefault(store, {})
    missing = [r["clipping_id"] for r in rows if r["clipping_id"] not in cache]
    for start in range(0, len(missing), 500):
        chunk = missing[start:start + 500]
        for full in store.db.query("select * from signatures where clipping_id in "
                                   f"({', '.join('?' * len(chunk))})", chunk):
            cache[full["clipping_id"]] = _sig_of(full)
    best: tuple[tuple[bool, float], int, str] | None = None
    hashes = frozenset(sig.sketch)
    for row in rows:
        other = cache[row["clipping_id"]]
        if not may_match(sig, hashes, other, window):
            continue
        verdict = compare(sig, other, window)
        if not verdict.same:
            continue
        rank = (verdict.reason == "syndicated", verdict.title + verdict.specifics)
        if best is None or rank > best[0]:
            best = (rank, row["story_id"], verdict.reason)
    return (best[1], best[2]) if best else (None, "new")


def _refresh_story(store: Store, story_id: int, now: dt.datetime) -> None:
    store.db.execute(
        "update stories set updated_at = ?, "
        "clippings = (select count(*) from clippings where story_id = ?), "
        "sources = (select count(distinct source) from clippings where story_id = ?), "
        "flagged = (select coalesce(max(flagged), 0) from clippings where story_id = ?) "
        "where id = ?", [_iso(now), story_id, story_id, story_id, story_id])


def attach(store: Store, settings: StorySettings, clipping_id: str, clipping: Clipping,
           at: dt.datetime, now: dt.datetime) -> tuple[int, str]:
    """Give a just-stored clipping its language, signature and story, and sort its alerts.
    Call inside the transaction that stored it. Returns the story and why it was chosen."""
    sig = signature(clipping.title, clipping.body, at)
    story_id, reason = find_story(store, sig, settings.window, exclude=clipping_id)
    if story_id is None:
        story_id = int(store.db["stories"].insert({
            "title": clipping.title, "first_clipping_id": clipping_id, "created_at": _iso(now),
            "updated_at": _iso(now), "clippings": 0, "sources": 0, "flagged": 0}).last_pk)
    store.db.execute("update clippings set story_id = ?, lang = ? where id = ?",
                     [story_id, guess_language(f"{clipping.title}\n{clipping.body}"), clipping_id])
    store.db["signatures"].insert({"clipping_id": clipping_id, "story_id": story_id,
                                   **_sig_row(sig)}, replace=True)
    _refresh_story(store, story_id, now)
    _sort_alerts(store, settings, clipping_id, story_id, joined=reason != "new", now=now)
    return story_id, reason


def _sort_alerts(store: Store, settings: StorySettings, clipping_id: str, story_id: int,
                 *, joined: bool, now: dt.datetime) -> None:
    for row in list(store.db.query("select id, notifier from alerts where clipping_id = ? "
                                   "and status = 'pending'", [clipping_id])):
        store.db.execute("update alerts set story_id = ? where id = ?", [story_id, row["id"]])
        if not joined:
            continue
        others = list(store.db.query(
            "select id, status, sent_at from alerts where story_id = ? and notifier = ? "
            "and id != ? and status in ('pending', 'sent') order by id",
            [story_id, row["notifier"], row["id"]]))
        waiting = [o for o in others if o["status"] == "pending"]
        sent = [o for o in others if o["status"] == "sent"]
        if waiting:
            _group(store, row["id"], waiting[0]["id"])
        elif sent:
            if settings.update_window is None:
                _group(store, row["id"], sent[-1]["id"])
                continue
            last = max(dt.datetime.fromisoformat(o["sent_at"]) for o in sent)
            store.db.execute("update alerts set is_update = 1, not_before = ? where id = ?",
                             [_iso(max(now, last + settings.update_window)), row["id"]])
        # else: the story's earlier alerts failed for good; this one goes as its first alert


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


def record_story(store: Store, settings: StorySettings, *, at: dt.datetime | None = None,
                 page: Any = None, **story: Any) -> bool:
    """``Store.add_story(**story)``, then the story's grouping and evidence, in one transaction.
    ``at``: the publication time (else now); ``page``: the fetched page (a FetchResult)."""
    from monitor import evidence  # evidence imports this module's helpers

    with store.db.atomic():
        added = store.add_story(**story)
        if added:
            now = story["now"]
            attach(store, settings, story["clipping_id"], story["clipping"], at or now, now)
            if page is not None:
                evidence.keep_page(store, settings, story["clipping_id"], page,
                                   flagged=bool(story["matches"]), now=now)
    return bool(added)


def story_rows(store: Store, *, limit: int = 50) -> list[dict[str, Any]]:
    return list(store.db.query("select * from stories order by updated_at desc, id desc limit ?",
                               [limit]))
