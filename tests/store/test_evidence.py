"""Evidence: every clipping's raw page kept compressed with its SHA-256 and fetch
time; a flagged story's page re-checked at evidence_rechecks, a changed or pulled page kept
beside the first; `monitor evidence ID DIR` writes the case file. Real feed server and SQLite;
the clock is ours so that days pass in a second."""

from __future__ import annotations

import asyncio
import datetime as dt
import gzip
import hashlib
import json
from pathlib import Path
from typing import Any

from support.feedserver import FeedServer, article_page
from support.helpers import monitor
from support.review_helpers import ARTICLES, paragraphs, publish, review_config

from monitor.store import evidence
from monitor.config import load_config
from monitor.fetch.client import make_client
from monitor.match.matcher import matcher_for
from monitor.pipeline.update import CycleReport, Pipeline
from monitor.store.database import Store


class Clock:
    def __init__(self) -> None:
        self.now = dt.datetime.now(dt.timezone.utc)

    def __call__(self) -> dt.datetime:
        return self.now


def test_pages_kept_rechecked_and_written_as_a_case_file(tmp_path: Path,
                                                         feed_server: FeedServer) -> None:
    feed = publish(feed_server, "/feed.xml", ["e1-a", "s1"])
    path = review_config(tmp_path, [feed])
    config = load_config(path)
    clock = Clock()
    a = ARTICLES["e1-a"]
    states: list[list[dict[str, Any]]] = []

    async def main() -> None:
        store = Store(config.database)
        async with make_client(config.fetch) as client:
            pipeline = Pipeline(config, store, matcher_for(config), client, {}, None, clock=clock)

            async def poll(**advance: float) -> None:
                clock.now += dt.timedelta(**advance)
                await pipeline.update_feed(config.feeds[0], CycleReport())
                states.append([dict(r) for r in store.db.query(
                    "select clipping_id, checks, state, next_check from rechecks")])

            await poll()                                   # first fetch: the page is kept
            await poll(hours=6, minutes=1)                 # re-check 1: unchanged
            feed_server.put("/news/e1-a", article_page(
                a["title"], paragraphs(a) + ["Update: a fourth suspect was arrested on Friday."],
                site=a["source"]))
            await poll(hours=18)                           # re-check 2 (1 day): changed
            feed_server.put("/news/e1-a", "not found", "text/plain", status=404)
            await poll(hours=48)                           # re-check 3 (3 days): gone
            await poll(hours=48)                           # no more re-checks
        store.close()

    asyncio.run(main())
    assert [s[0]["state"] for s in states] == ["unchanged", "unchanged", "changed", "gone", "gone"]
    assert [s[0]["checks"] for s in states] == [0, 1, 2, 3, 3]
    assert states[-1][0]["next_check"] is None
    assert len(states[0]) == 1  # only the flagged story is re-checked
    assert feed_server.hits_for("/news/e1-a") == [200, 200, 200, 404]

    store = Store(config.database)
    clipping_id = states[0][0]["clipping_id"]
    snaps = evidence.snapshots(store, clipping_id)
    assert [s.change for s in snaps] == ["first", "changed", "gone"]
    first = gzip.decompress(snaps[0].raw)
    assert first.startswith(b"<!DOCTYPE html>") and snaps[0].size == len(first)
    assert snaps[0].sha256 == hashlib.sha256(first).hexdigest()
    assert b"fourth suspect" in gzip.decompress(snaps[1].raw)
    assert snaps[2].status == 404
    unflagged = store.db.execute("select count(*) from snapshots s join clippings c on "
                                 "c.id = s.clipping_id where c.flagged = 0").fetchone()[0]
    assert unflagged == 1  # every clipping's page is kept, flagged or not
    store.close()

    case = tmp_path / "case"
    done = monitor(path, "evidence", clipping_id, str(case), "--json")
    assert done.returncode == 0, done.stderr
    manifest = json.loads(done.stdout)
    assert manifest == json.loads((case / "manifest.json").read_text())
    assert manifest["page_state"] == "gone" and manifest["rechecks"] == 3
    assert [f["kind"] for f in manifest["files"]] == ["clipping", "page", "page", "page"]
    for f in manifest["files"]:
        assert hashlib.sha256((case / f["file"]).read_bytes()).hexdigest() == f["sha256"]
    assert (case / manifest["files"][0]["file"]).read_text() == monitor(
        path, "show", clipping_id).stdout
    # The review site's question "pages changed or pulled", and the stats, say so.
    stats = json.loads(monitor(path, "stats", "--json").stdout)
    assert stats["pages_changed"] == {"gone": 1}
    missing = monitor(path, "evidence", "0" * 16, str(tmp_path / "x"))
    assert missing.returncode == 1 and "no clipping with id" in missing.stderr


def test_a_recheck_that_cannot_fetch_concludes_nothing(tmp_path: Path) -> None:
    store = Store(tmp_path / "m.db")
    now = dt.datetime(2026, 11, 3, tzinfo=dt.timezone.utc)
    store.db["clippings"].insert({"id": "a" * 16, "text": "x", "flagged": 1, "body": "b"})
    store.db["rechecks"].insert({"clipping_id": "a" * 16, "checks": 0, "state": "unchanged"})
    state = evidence.record_recheck(store, (60.0, 120.0), "a" * 16, now=now,
                                    error="timed out")
    row = store.db.execute("select state, checks, last_error from rechecks").fetchone()
    assert state == "error" and tuple(row) == ("unchanged", 1, "timed out")
    assert store.count("snapshots") == 0
    store.close()
