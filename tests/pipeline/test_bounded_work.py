"""Bounded work per poll: at most max_new_per_poll new entries, oldest first, the rest still new
at the next polls (no validators or body hash kept meanwhile, the first poll's backlog rule
holding until the feed is through); a page too complex to extract costs only its own story."""

from __future__ import annotations

import datetime as dt
import email.utils
from pathlib import Path

from support.engine import Clock, cycle, engine_config, feed_rows
from support.feedserver import RAID, FeedServer, article_page, rss

from monitor.store.database import Store

START = Clock().now  # the engine clock's first reading


def dated(server: FeedServer, n: int, hours_ago: float, **extra: str) -> dict[str, str]:
    when = START - dt.timedelta(hours=hours_ago)
    return {"title": f"Story number {n}", "link": server.url(f"/story/{n}"),
            "date": email.utils.format_datetime(when, usegmt=True), **extra}


def stored_titles(config_db: Path) -> set[str]:
    with Store(config_db) as store:
        return {c.clipping.title for c in store.clippings()}


def test_new_entries_are_taken_oldest_first_and_the_rest_at_the_next_polls(
        tmp_path: Path, feed_server: FeedServer) -> None:
    # 25 entries, newest first as feeds list them; 10 taken per poll.
    items = [dated(feed_server, n, hours_ago=n) for n in range(25)]
    url = feed_server.put("/feed.xml", rss("Busy", items), "application/rss+xml")
    config = engine_config(tmp_path, [url], max_new_per_poll=10)
    clock = Clock()

    first = cycle(config, clock)
    assert first.new_clippings == 10
    assert stored_titles(config.database) == {f"Story number {n}" for n in range(15, 25)}
    row = feed_rows(config)[url]
    # Nothing kept that would let the next poll skip the unchanged feed.
    assert (row["etag"], row["last_modified"], row["body_hash"]) == (None, None, None)
    assert row["last_status"] == "updated"

    clock.advance(minutes=20)
    assert cycle(config, clock).new_clippings == 10
    assert stored_titles(config.database) == {f"Story number {n}" for n in range(5, 25)}
    clock.advance(minutes=20)
    third = cycle(config, clock)
    assert third.new_clippings == 5
    assert stored_titles(config.database) == {f"Story number {n}" for n in range(25)}
    row = feed_rows(config)[url]
    assert row["etag"] and row["body_hash"]  # through: the validators are kept again

    clock.advance(minutes=20)
    fourth = cycle(config, clock)
    assert (fourth.new_clippings, fourth.not_modified) == (0, 1)
    assert feed_server.hits_for("/feed.xml") == [200, 200, 200, 304]


def test_a_capped_first_poll_keeps_old_stories_backlog_until_the_feed_is_through(
        tmp_path: Path, feed_server: FeedServer) -> None:
    # Old enforcement stories (a week old, backlog_max_age is 48h), flagged by the rules.
    items = [dated(feed_server, n, hours_ago=24 * 7 + n, summary=RAID["summary"],
                   title=f"{RAID['title']} ({n})") for n in range(6)]
    url = feed_server.put("/feed.xml", rss("Old news", items), "application/rss+xml")
    config = engine_config(tmp_path, [url], max_new_per_poll=4)
    clock = Clock()
    first = cycle(config, clock)
    assert (first.new_clippings, first.flagged, first.backlog) == (4, 4, 4)
    clock.advance(minutes=20)
    second = cycle(config, clock)
    # The rest of the first poll's entries are backlog too: subscribing alerts on nothing old.
    assert (second.new_clippings, second.flagged, second.backlog) == (2, 2, 2)
    with Store(config.database) as store:
        assert store.db.execute("select count(*) from alerts").fetchone()[0] == 0


def test_duplicate_entries_count_once_against_the_cap(tmp_path: Path,
                                                       feed_server: FeedServer) -> None:
    items = [dated(feed_server, 1, hours_ago=1)] * 5 + [dated(feed_server, 2, hours_ago=2)]
    url = feed_server.put("/feed.xml", rss("Repeats", items), "application/rss+xml")
    config = engine_config(tmp_path, [url], max_new_per_poll=2)
    report = cycle(config, Clock())
    assert report.new_clippings == 2
    assert feed_rows(config)[url]["body_hash"]  # nothing left over: a whole poll


def test_a_page_too_complex_to_extract_costs_only_its_own_story(
        tmp_path: Path, feed_server: FeedServer) -> None:
    links = "".join(f'<a href="/tag/{i}">tag {i}</a> ' for i in range(12_000))
    feed_server.put("/story/1", f"<html><body><article><p>{links}</p></article></body></html>")
    feed_server.put("/story/2", article_page(
        "Court orders blocking of pirate sites",
        ["The high court ordered internet providers to block pirate streaming sites this week, "
         "after a case brought by rights holders against the operators."]))
    items = [dated(feed_server, 1, hours_ago=1, summary="The feed's own summary of story one."),
             dated(feed_server, 2, hours_ago=2, summary="The feed's own summary of story two.")]
    url = feed_server.put("/feed.xml", rss("Mixed", items), "application/rss+xml")
    config = engine_config(tmp_path, [url], fetch_pages=True)
    report = cycle(config, Clock())
    assert report.new_clippings == 2 and report.errors == []
    with Store(config.database) as store:
        rows = {r["title"]: r for r in store.db.query(
            "select title, origin, extract_error, text from clippings")}
    hostile, fine = rows["Story number 1"], rows["Story number 2"]
    assert hostile["origin"] == "feed"
    assert "too complex" in hostile["extract_error"] and "12000 links" in hostile["extract_error"]
    assert "The feed's own summary of story one." in hostile["text"]
    assert (fine["origin"], fine["extract_error"]) == ("page", None)
    assert "high court ordered internet providers" in fine["text"]
