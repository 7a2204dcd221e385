"""One story per event, end to end on real parts: a feed server, a webhook receiver
and a real SQLite file. The first flagged clipping of a story alerts, listing every source; a
later one is an update at most once per story_update_window per notifier, or never ("off")."""

from __future__ import annotations

import asyncio
import datetime as dt
import sqlite3
import time
from pathlib import Path
from typing import Any

from support.feedserver import FeedServer
from support.helpers import monitor
from support.review_helpers import ARTICLES, publish, review_config
from support.servers import WebhookReceiver

from monitor.store import archive
from monitor.config import load_config
from monitor.fetch.client import make_client
from monitor.match.matcher import matcher_for
from monitor.notify import build_notifiers
from monitor.pipeline.update import CycleReport, Pipeline
from monitor.models import NewStory
from monitor.store.database import Store


def rows(db: Path, sql: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
    conn = sqlite3.connect(db)
    conn.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in conn.execute(sql, params).fetchall()]
    finally:
        conn.close()


def test_one_alert_per_event_listing_every_source(tmp_path: Path, feed_server: FeedServer,
                                                  webhook_receiver: WebhookReceiver) -> None:
    # Two outlets: the same takedown (the second a syndicated copy), and two different ACE
    # takedowns on the same day, worded alike.
    feed_a = publish(feed_server, "/a.xml", ["e1-a", "e2-a"], title="Piracy Daily")
    feed_b = publish(feed_server, "/b.xml", ["e1-c", "e3-a"], title="Broadcast Review")
    config = review_config(tmp_path, [feed_a, feed_b], webhook_url=webhook_receiver.url)
    done = monitor(config, "run", "--once")
    assert done.returncode == 0, done.stderr
    assert "4 new clippings, 4 flagged" in done.stdout and "3 alerts sent" in done.stdout, done.stdout
    payloads = [r.json() for r in webhook_receiver.wait_for(3)]
    time.sleep(0.3)
    assert len(webhook_receiver.requests) == 3
    by_title = {p["clipping"]["title"]: p for p in payloads}
    e1 = next(p for t, p in by_title.items() if "50,000 subscribers" in t)
    assert {s["source"] for s in e1["story"]["sources"]} == {"Piracy Daily", "Broadcast Review"}
    assert e1["story"]["update"] is False
    assert {ARTICLES["e2-a"]["title"], ARTICLES["e3-a"]["title"]} <= set(by_title)
    for p in payloads:
        if p is not e1:
            assert len(p["story"]["sources"]) == 1
    db = tmp_path / "monitor.db"
    stories = rows(db, "select * from stories order by id")
    assert len(stories) == 3 and sorted(s["clippings"] for s in stories) == [1, 1, 2]
    alerts = rows(db, "select status, grouped_into from alerts where notifier = 'webhook'")
    assert sorted(a["status"] for a in alerts) == ["grouped", "sent", "sent", "sent"]
    # Polled again: nothing new, nothing sent twice.
    again = monitor(config, "run", "--once")
    assert "0 new clippings" in again.stdout and "0 alerts sent" in again.stdout
    time.sleep(0.3)
    assert len(webhook_receiver.requests) == 3


class Clock:
    def __init__(self) -> None:
        self.now = dt.datetime.now(dt.timezone.utc)

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **kw: float) -> None:
        self.now += dt.timedelta(**kw)


async def cycle(pipeline: Pipeline, config: Any) -> CycleReport:
    report = CycleReport()
    for feed in config.feeds:
        await pipeline.update_feed(feed, report)
    await pipeline.deliver_pending(report, force=True)  # as `run --once`: whatever the backoff
    return report


def run_updates(tmp_path: Path, server: FeedServer, receiver: WebhookReceiver,
                window: str) -> list[dict[str, Any]]:
    """The story of event e1 told in four steps, with a clock we move; what each step sent."""
    feed = publish(server, "/feed.xml", ["e1-a"], title="News")
    path = review_config(tmp_path, [feed], webhook_url=receiver.url, fetch_pages=False,
                         monitor_extra=f'story_update_window = "{window}"')
    config = load_config(path)
    clock = Clock()
    sent: list[dict[str, Any]] = []

    async def main() -> None:
        store = Store(config.database)
        async with make_client(config.fetch) as client:
            pipeline = Pipeline(config, store, matcher_for(config), client,
                                build_notifiers(config.notifiers, client), None, clock=clock)

            async def step(ids: list[str], **advance: float) -> None:
                clock.advance(**advance)
                publish(server, "/feed.xml", ids, title="News")
                before = len(receiver.requests)
                await cycle(pipeline, config)
                sent.append({"count": len(receiver.requests) - before,
                             "payloads": [r.json() for r in receiver.requests[before:]]})

            await step(["e1-a"])                                   # the first report: alerted
            await step(["e1-a", "e1-b"], minutes=1)                # a rewording: an update, held
            await step(["e1-a", "e1-b", "e1-c"], minutes=1)        # a syndicated copy joins it
            await step(["e1-a", "e1-b", "e1-c"], hours=6)          # the window has passed
            await step(["e1-a", "e1-b", "e1-c", "e1-d"], minutes=1)  # another: held again
            await step(["e1-a", "e1-b", "e1-c", "e1-d"], hours=1)  # still within the window
        store.close()

    asyncio.run(main())
    return sent


def test_updates_at_most_once_per_window(tmp_path: Path, feed_server: FeedServer,
                                         webhook_receiver: WebhookReceiver) -> None:
    steps = run_updates(tmp_path, feed_server, webhook_receiver, "6h")
    assert [s["count"] for s in steps] == [1, 0, 0, 1, 0, 0]
    first = steps[0]["payloads"][0]
    assert first["story"]["update"] is False and len(first["story"]["sources"]) == 1
    update = steps[3]["payloads"][0]
    assert update["story"]["update"] is True
    assert update["story"]["id"] == first["story"]["id"]
    assert [s["title"] for s in update["story"]["sources"]] == [
        ARTICLES[i]["title"] for i in ("e1-a", "e1-b", "e1-c")]
    db = tmp_path / "monitor.db"
    waiting = rows(db, "select is_update, not_before from alerts where status = 'pending'")
    assert len(waiting) == 1 and waiting[0]["is_update"] == 1


def test_updates_off(tmp_path: Path, feed_server: FeedServer,
                     webhook_receiver: WebhookReceiver) -> None:
    steps = run_updates(tmp_path, feed_server, webhook_receiver, "off")
    assert [s["count"] for s in steps] == [1, 0, 0, 0, 0, 0]
    db = tmp_path / "monitor.db"
    statuses = [r["status"] for r in rows(db, "select status from alerts order by id")]
    assert statuses == ["sent", "grouped", "grouped", "grouped"]


def test_a_clipping_that_joins_while_its_alert_is_sent_becomes_an_update(tmp_path: Path) -> None:
    from support.review_helpers import paragraphs

    from monitor.clipping import make_clipping
    from monitor.models import Match, MatchedTerm

    store = Store(tmp_path / "m.db")
    settings = archive.StorySettings(window=dt.timedelta(hours=72),
                                     update_window=dt.timedelta(hours=6))
    now = dt.datetime(2026, 11, 3, 9, tzinfo=dt.timezone.utc)
    match = Match("piracy-enforcement", 3.0, (MatchedTerm("pirate", "title", 0, 6),))

    def add(article_id: str, key: str, at: dt.datetime) -> None:
        a = ARTICLES[article_id]
        c = make_clipping(title=a["title"], source=a["source"], url=f"https://x.test/{key}",
                          body="\n\n".join(paragraphs(a)))
        assert archive.record_story(store, settings, NewStory(
            clipping_id=key, clipping=c, text="t", origin="feed", fingerprint="", feed_url="f",
            guid=None, canonical=c.url, published=at, matches=(match,), alerts={"hook":
            ("piracy-enforcement",)}), now=at, at=at)

    add("e1-a", "a" * 16, now)
    [alert] = store.due_alerts("hook", now=now)  # being sent: it lists one source
    add("e1-c", "c" * 16, now)  # joins meanwhile: grouped into the alert being sent
    assert store.db.execute("select status from alerts where clipping_id = ?",
                            ["c" * 16]).fetchone()[0] == "grouped"
    store.mark_sent(alert.id, now=now)
    assert archive.release_uncovered(store, alert, now=now,
                                     update_window=settings.update_window) == 1
    row = store.db.execute("select status, is_update, not_before from alerts where "
                           "clipping_id = ?", ["c" * 16]).fetchone()
    assert row[0] == "pending" and row[1] == 1 and row[2] == "2026-11-03T15:00:00+00:00"
    assert store.due_alerts("hook", now=now, force=True) == []  # held, even forced
    [update] = store.due_alerts("hook", now=now + dt.timedelta(hours=6))
    assert update.update and [s.clipping_id for s in update.sources] == ["a" * 16, "c" * 16]
    store.close()


# A video outlet heads every item with a generic word; one poll finds them all, published
# together. Five of them report five different enforcement events (flagged).
GENERIC_FEED = ["e12-a", "e13-a", "e14-a", "e15-a", "e16-a", "e38-a", "e40-a", "e41-a", "e42-a",
                "e43-a", "e44-a", "e19-c", "e21-c"]
# e16-a, a court-ordered block of streaming sites, is flagged by the actor-action rule.
GENERIC_FLAGGED = {"e14-a", "e16-a", "e42-a", "e44-a", "e19-c", "e21-c"}


def test_a_feed_of_generic_headlines_alerts_every_flagged_event(
        tmp_path: Path, feed_server: FeedServer, webhook_receiver: WebhookReceiver) -> None:
    assert {ARTICLES[i]["title"] for i in GENERIC_FEED} == {
        "Video", "Story", "Breaking", "Live", "Update"}
    feed = publish(feed_server, "/clips.xml", GENERIC_FEED, title="Clip Channel")
    config = review_config(tmp_path, [feed], webhook_url=webhook_receiver.url)
    done = monitor(config, "run", "--once")
    assert done.returncode == 0, done.stderr
    assert f"13 new clippings, {len(GENERIC_FLAGGED)} flagged" in done.stdout, done.stdout
    payloads = [r.json() for r in webhook_receiver.wait_for(len(GENERIC_FLAGGED))]
    time.sleep(0.3)
    assert len(webhook_receiver.requests) == len(GENERIC_FLAGGED)
    # each alert is its own event's, listing its one source: nothing chained into it
    links = {p["clipping"]["url"].rsplit("/", 1)[-1] for p in payloads}
    assert links == GENERIC_FLAGGED
    assert all(len(p["story"]["sources"]) == 1 for p in payloads)
    db = tmp_path / "monitor.db"
    assert len(rows(db, "select id from stories")) == len(GENERIC_FEED)
    alerts = rows(db, "select status from alerts where notifier = 'webhook'")
    assert sorted(a["status"] for a in alerts) == ["sent"] * len(GENERIC_FLAGGED)
