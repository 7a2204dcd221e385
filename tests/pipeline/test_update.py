"""The polling engine over real servers and a real SQLite file, in-process with a clock the
test moves: moves, 410 and 404, cache hints, unchanged bodies, one page fetch per story,
missing dates."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from support.engine import Clock, cycle, engine_config, feed_rows, titles
from support.feedserver import RAID, FeedServer, article_page, rss
from support.hostile import HostileServer

from monitor.pipeline.cycle import open_runtime, poll_feeds
from monitor.store.feedset import active_feeds
from monitor.pipeline import update as pipeline
from monitor.config import Config
from monitor.pipeline.update import CycleReport
from monitor.store.database import Store


@pytest.fixture
def server(hostile_server: HostileServer) -> HostileServer:
    return hostile_server


def story(server: HostileServer, n: int, **extra: str) -> dict[str, str]:
    return {"title": f"Story number {n}", "link": server.url(f"/story/{n}"), **extra}


@pytest.mark.parametrize("kind", ["moved", "moved308"])
def test_a_permanent_redirect_updates_the_stored_url(tmp_path: Path, server: HostileServer,
                                                     kind: str) -> None:
    server.put("/new/feed.xml", rss("Moved", [story(server, 1)]))
    old = server.url(f"/{kind}/new/feed.xml")
    config = engine_config(tmp_path, [old])
    clock = Clock()
    cycle(config, clock)
    row = feed_rows(config)[old]
    assert row["moved_to"] == server.url("/new/feed.xml") and row["last_status"] == "updated"
    clock.advance(hours=1)
    cycle(config, clock)
    assert server.hits[f"/{kind}/new/feed.xml"] == 1  # the old address is not asked again
    assert server.hits["/new/feed.xml"] == 2
    assert titles(config) == ["Story number 1"]


def test_a_temporary_redirect_keeps_the_url(tmp_path: Path, server: HostileServer) -> None:
    server.put("/feed.xml", rss("Found", [story(server, 1)]))
    url = server.url("/found/feed.xml")
    config = engine_config(tmp_path, [url])
    cycle(config)
    cycle(config)
    assert feed_rows(config)[url]["moved_to"] is None and server.hits["/found/feed.xml"] == 2


def test_410_disables_the_feed_until_enabled(tmp_path: Path, server: HostileServer) -> None:
    url = server.url("/status/410")
    good = server.put("/good.xml", rss("Good", [story(server, 1)]))
    config = engine_config(tmp_path, [url, good])
    clock = Clock()
    cycle(config, clock)
    row = feed_rows(config)[url]
    assert row["status"] == "disabled" and "410" in row["disabled_reason"]
    assert row["next_check"] is None
    clock.advance(days=1)
    report = cycle(config, clock)
    assert report.feeds_polled == 1 and server.hits["/status/410"] == 1  # not polled again
    store = Store(config.database)
    assert store.set_feed_enabled(url, True)
    store.close()
    cycle(config, clock)
    assert server.hits["/status/410"] == 2


def test_404_for_days_disables_the_feed(tmp_path: Path, server: HostileServer) -> None:
    url = server.url("/status/404")
    config = engine_config(tmp_path, [url])
    clock = Clock()
    for _ in range(4):  # day 0, 1, 2: still tried
        cycle(config, clock)
        row = feed_rows(config)[url]
        if clock.now - Clock().now < dt.timedelta(days=3):
            assert row["status"] == "error"
        clock.advance(days=1)
    assert row["status"] == "disabled" and "404" in row["disabled_reason"]
    assert row["error_count"] == 4


def test_cache_control_and_ttl_set_the_next_check(tmp_path: Path, server: HostileServer) -> None:
    cached = server.put("/cached.xml", rss("Cached", [story(server, 1)]),
                        headers={"Cache-Control": "max-age=7200"})
    ttl = server.put("/ttl.xml", rss("TTL", [story(server, 2)]).replace(
        "<channel>", "<channel><ttl>180</ttl>"))
    plain = server.put("/plain.xml", rss("Plain", [story(server, 3)]))
    config = engine_config(tmp_path, [cached, ttl, plain], interval="15m")
    clock = Clock()
    cycle(config, clock)
    rows = feed_rows(config)

    def wait(url: str) -> float:
        return (dt.datetime.fromisoformat(rows[url]["next_check"]) - clock.now).total_seconds()

    assert 7200 <= wait(cached) <= 7200 + 300
    assert 10800 <= wait(ttl) <= 10800 + 300
    assert 900 <= wait(plain) <= 990


def test_an_unchanged_body_without_validators_is_not_parsed_again(tmp_path: Path,
                                                                  server: HostileServer) -> None:
    # This server sends no ETag or Last-Modified: the body's hash tells it did not change.
    url = server.put("/noetag.xml", rss("No ETag", [story(server, 1)]))
    config = engine_config(tmp_path, [url])
    first = cycle(config)
    second = cycle(config)
    assert first.new_clippings == 1 and second.not_modified == 1
    assert feed_rows(config)[url]["last_status"] == "not_modified"
    server.put("/noetag.xml", rss("No ETag", [story(server, 2), story(server, 1)]))
    third = cycle(config)
    assert third.new_clippings == 1 and third.not_modified == 0


def test_a_story_in_several_feeds_is_fetched_once(tmp_path: Path, server: HostileServer) -> None:
    server.put("/story/7", article_page("Police seize pirate IPTV servers",
                                        ["Police seized the servers of a pirate IPTV service "
                                         "on Tuesday, officials said."] * 3))
    shared = story(server, 7, title="Police seize pirate IPTV servers")
    feeds = [server.put(f"/f{i}.xml", rss(f"Feed {i}", [shared, story(server, 100 + i)]))
             for i in range(5)]
    config = engine_config(tmp_path, feeds, fetch_pages=True, concurrency=10, per_host=10)
    report = cycle(config)
    assert report.new_clippings == 6
    assert server.hits["/story/7"] == 1


def test_a_missing_date_comes_from_the_page_or_the_time_first_seen(tmp_path: Path,
                                                                   server: HostileServer) -> None:
    page = article_page("Dated on its page", ["A story whose feed gives no date at all, but "
                                              "whose page does, in its metadata."] * 3)
    page = page.replace("<head>", '<head><meta property="article:published_time" '
                                  'content="2026-10-30T08:00:00+00:00">')
    server.put("/story/1", page)
    feed = (f'<?xml version="1.0"?><rss version="2.0"><channel><title>Undated</title>'
            f'<item><title>Dated on its page</title><link>{server.url("/story/1")}</link></item>'
            f'<item><title>Dated by first sight</title><link>{server.url("/story/2")}</link>'
            f"<description>No page for this one.</description></item></channel></rss>")
    url = server.put("/undated.xml", feed)
    config = engine_config(tmp_path, [url], fetch_pages=True)
    clock = Clock()
    cycle(config, clock)
    store = Store(config.database)
    try:
        rows = {r["title"]: r for r in store.db.query("select title, date, published from clippings")}
    finally:
        store.close()
    assert rows["Dated on its page"]["date"] == "2026-10-30"
    assert rows["Dated on its page"]["published"].startswith("2026-10-30T00:00:00")
    assert rows["Dated by first sight"]["date"] == clock.now.date().isoformat()
    assert rows["Dated by first sight"]["published"] == clock.now.isoformat()


def test_poll_state_is_written_and_read_back(tmp_path: Path, server: HostileServer) -> None:
    url = server.put("/rhythm.xml", rss("Rhythm", [
        story(server, i, date=f"Tue, 03 Nov 2026 {9 - i:02d}:00:00 GMT") for i in range(5)]))
    config = engine_config(tmp_path, [url], interval="1h")
    clock = Clock()
    cycle(config, clock)
    row = feed_rows(config)[url]
    assert row["median_gap"] == 3600 and row["newest_entry"] == "2026-11-03T09:00:00+00:00"
    assert row["interval"] == 1800  # twice per story gap
    assert json.loads(json.dumps(row))  # plain values only


def story_transactions(config: Config) -> tuple[CycleReport, list[int]]:
    """One cycle, watched through SQLite's own statement trace on the store's connection:
    its report, and how many clippings each transaction that stored some inserted."""
    statements: list[str] = []

    async def run() -> CycleReport:
        report = CycleReport()
        async with open_runtime(config, executor=False) as runtime:
            runtime.store.db.conn.set_trace_callback(statements.append)
            await poll_feeds(runtime.pipeline, active_feeds(config, runtime.store), report)
            runtime.store.db.conn.set_trace_callback(None)
        return report

    report = asyncio.run(run())
    transactions: list[set[str]] = []
    for sql in statements:
        if sql.strip().upper().startswith("BEGIN"):
            transactions.append(set())
        elif transactions and re.match(r'\s*insert into ["\[]?clippings\b', sql, re.I):
            # a set: SQLite traces a statement again as each of its triggers starts
            transactions[-1].add(sql)
    return report, [len(t) for t in transactions if t]


def test_a_feeds_new_stories_share_a_transaction(tmp_path: Path, server: HostileServer,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """Stored several per transaction (one commit, one fsync, for many: a cold cycle spends less time committing), as
    many as fit in WRITE_SLICE seconds; here the slice is long enough for the whole feed."""
    monkeypatch.setattr(pipeline, "WRITE_SLICE", 60.0)
    url = server.put("/batch.xml", rss("Batch", [story(server, i) for i in range(5)]))
    config = engine_config(tmp_path, [url])
    report, per_transaction = story_transactions(config)
    assert report.new_clippings == 5 and not report.errors
    assert per_transaction == [5]
    assert titles(config) == [f"Story number {i}" for i in range(5)]


def test_costly_stories_let_the_loop_run_between_two(tmp_path: Path, server: HostileServer,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """Once WRITE_SLICE is spent, the transaction ends after the story being stored and the
    loop runs before the next: here every story outlasts the slice."""
    monkeypatch.setattr(pipeline, "WRITE_SLICE", 0.0)
    url = server.put("/slices.xml", rss("Slices", [story(server, i) for i in range(4)]))
    config = engine_config(tmp_path, [url])
    report, per_transaction = story_transactions(config)
    assert report.new_clippings == 4 and not report.errors
    assert per_transaction == [1, 1, 1, 1]


def test_a_story_that_cannot_be_stored_does_not_lose_the_others(tmp_path: Path,
                                                                server: HostileServer) -> None:
    """Should one story of a feed's batch fail, the others are stored one by one and the
    error is reported. The failure is a real one: a SQLite trigger refusing that clipping."""
    url = server.put("/poison.xml", rss("Poison", [
        story(server, 1), story(server, 2, title="Poisoned story"), story(server, 3)]))
    config = engine_config(tmp_path, [url])
    store = Store(config.database)
    try:
        store.db.execute("create trigger poison before insert on clippings when "
                         "new.title = 'Poisoned story' begin "
                         "select raise(abort, 'poisoned story refused'); end")
        store.db.conn.commit()
    finally:
        store.close()
    report = cycle(config)
    assert titles(config) == ["Story number 1", "Story number 3"]
    assert any("poisoned story refused" in e for e in report.errors), report.errors
    again = cycle(config)  # the two stored are not new; the refused one is tried again
    assert again.new_clippings == 0
    assert any("poisoned story refused" in e for e in again.errors), again.errors


def json_feed(title: str, items: list[dict[str, str]]) -> str:
    return json.dumps({"version": "https://jsonfeed.org/version/1.1", "title": title,
                       "items": items})


def test_an_exception_while_updating_a_feed_is_recorded_on_the_feed(
        tmp_path: Path, feed_server: FeedServer) -> None:
    # A lone surrogate, which JSON allows and SQLite's UTF-8 does not: storing the story
    # raises, which no code path expects; the feed's row must say so and back off.
    bad = feed_server.put("/bad.json", json_feed("Bad", [{
        "id": "1", "url": feed_server.url("/story/1"), "title": "Pirate site \\ud800 raided",
        "content_text": "Police raided a pirate site."}]).replace("\\\\ud800", "\\ud800"),
        "application/feed+json")
    good = feed_server.put("/good.xml", rss("Good", [{"title": "A working feed's story",
                                                     "link": feed_server.url("/story/2")}]))
    config = engine_config(tmp_path, [bad, good])
    clock = Clock()
    report = cycle(config, clock)
    rows = feed_rows(config)
    assert rows[good]["last_status"] == "updated" and titles(config) == ["A working feed's story"]
    row = rows[bad]
    assert row["last_status"] == "error" and row["error_count"] == 1, row
    assert row["last_error"].startswith("unexpected UnicodeEncodeError"), row
    assert row["failing_since"] == clock.now.isoformat(timespec="seconds")
    assert row["next_check"] > clock.now.isoformat(timespec="seconds")  # backed off
    assert any("unexpected" in e for e in report.errors)
    clock.advance(hours=1)
    cycle(config, clock)
    assert feed_rows(config)[bad]["error_count"] == 2


NOT_TEXT_CHARSETS = ["zlib", "rot13", "base64", "hex", "idna", "no-such-codec"]


@pytest.mark.parametrize("charset", NOT_TEXT_CHARSETS)
def test_a_page_declaring_a_charset_that_is_no_text_encoding_is_read_all_the_same(
        tmp_path: Path, feed_server: FeedServer, charset: str) -> None:
    """Python's codecs include zlib, rot13, base64, hex and idna, which are no text encoding:
    such a header is ignored and the page's bytes are sniffed, as for an unknown charset."""
    feed_server.put("/story/1", article_page(RAID["title"], [RAID["summary"]] * 3),
                    f"text/html; charset={charset}")
    url = feed_server.put("/feed.xml", rss("Codecs", [{"title": RAID["title"],
                                                      "link": feed_server.url("/story/1")}]))
    config = engine_config(tmp_path, [url], fetch_pages=True)
    report = cycle(config)
    row = feed_rows(config)[url]
    assert row["last_status"] == "updated" and row["error_count"] == 0, row
    assert report.errors == []
    with Store(config.database) as store:
        [clipping] = store.clippings()
    assert clipping.origin == "page" and "50,000 subscribers" in clipping.text


# A story no rule flags (so the flagged story's re-check is the only one): title, paragraphs.
QUIET = ["Town bakery wins the regional bread prize",
         "The bakery on the market square won the regional prize for its rye bread this week, "
         "its owners said on Tuesday, after twenty years of baking in the town.",
         "The jury tasted forty loaves from bakeries across the region before it decided."]


def _poll_with_rechecks(config: Config, clock: Clock, steps: list[Callable[[], None]],
                        advance: dt.timedelta) -> list[CycleReport]:
    """Poll the config's one feed, then for each step: run it, move the clock, poll again."""
    from monitor.fetch.client import make_client
    from monitor.match.matcher import matcher_for
    from monitor.pipeline.update import Pipeline

    reports: list[CycleReport] = []

    async def main() -> None:
        with Store(config.database) as store:
            async with make_client(config.fetch) as client:
                engine = Pipeline(config, store, matcher_for(config), client, {}, None,
                                  clock=clock)
                for step in [lambda: None, *steps]:
                    step()
                    clock.now += advance if reports else dt.timedelta()
                    reports.append(CycleReport())
                    await engine.update_feed(config.feeds[0], reports[-1])

    asyncio.run(main())
    return reports


def _flagged_story_feed(tmp_path: Path, feed_server: FeedServer
                        ) -> tuple[str, list[dict[str, str]], str, Config]:
    """A feed of one flagged story, its page served: (page, feed items, feed URL, config)."""
    page = article_page(RAID["title"], [RAID["summary"]] * 3)
    feed_server.put("/story/1", page)
    items = [{"title": RAID["title"], "link": feed_server.url("/story/1")}]
    url = feed_server.put("/feed.xml", rss("Rechecks", items))
    return page, items, url, engine_config(tmp_path, [url], fetch_pages=True)


def _add_quiet_story(feed_server: FeedServer, items: list[dict[str, str]]) -> None:
    """The feed gains a second story, one no rule flags, its page served."""
    feed_server.put("/feed.xml", rss("Rechecks", [*items, {
        "title": QUIET[0], "link": feed_server.url("/story/2")}]))
    feed_server.put("/story/2", article_page(QUIET[0], QUIET[1:]))


def _rechecks(config: Config) -> list[dict[str, object]]:
    with Store(config.database) as store:
        return [dict(r) for r in store.db.query(
            "select checks, state, last_error from rechecks order by clipping_id")]


@pytest.mark.parametrize("charset", ["zlib", "rot13"])
def test_a_recheck_of_a_page_with_such_a_charset_does_not_stop_the_feed(
        tmp_path: Path, feed_server: FeedServer, charset: str) -> None:
    """The flagged story's page comes back declaring a codec that is no text encoding: its
    re-check is recorded, and the feed is polled as usual (its new story stored)."""
    page, items, url, config = _flagged_story_feed(tmp_path, feed_server)
    clock = Clock(dt.datetime.now(dt.timezone.utc))

    def change() -> None:
        feed_server.put("/story/1", page.replace("three suspects", "four suspects"),
                        f"text/html; charset={charset}")
        _add_quiet_story(feed_server, items)

    reports = _poll_with_rechecks(config, clock, [change], dt.timedelta(hours=6, minutes=1))
    assert [r.errors for r in reports] == [[], []]
    assert reports[1].new_clippings == 1  # the feed was polled past the re-check
    assert feed_rows(config)[url]["error_count"] == 0
    assert _rechecks(config)[0] == {"checks": 1, "state": "changed", "last_error": None}


def test_an_unexpected_failure_in_one_recheck_is_recorded_on_its_story(
        tmp_path: Path, feed_server: FeedServer) -> None:
    """A real failure while recording a re-check (a SQLite trigger refusing the new version
    of the page): the error goes on that story's re-check, the feed is polled all the same."""
    page, items, url, config = _flagged_story_feed(tmp_path, feed_server)
    clock = Clock(dt.datetime.now(dt.timezone.utc))

    def change() -> None:
        with Store(config.database) as store:
            store.db.execute("create trigger refuse before insert on snapshots when "
                             "new.change = 'changed' begin "
                             "select raise(abort, 'this version refused'); end")
            store.db.conn.commit()
        feed_server.put("/story/1", page.replace("three suspects", "four suspects"))
        _add_quiet_story(feed_server, items)

    reports = _poll_with_rechecks(config, clock, [change], dt.timedelta(hours=6, minutes=1))
    assert reports[1].new_clippings == 1 and QUIET[0] in titles(config)
    assert feed_rows(config)[url]["last_status"] == "updated"
    [recheck] = _rechecks(config)
    assert recheck["checks"] == 1 and recheck["state"] == "unchanged"
    assert "unexpected" in str(recheck["last_error"])
    assert "this version refused" in str(recheck["last_error"])


def test_an_unexpected_failure_on_one_entry_spares_the_others(
        tmp_path: Path, feed_server: FeedServer) -> None:
    """A lone surrogate in one entry's link (JSON allows it, SQLite's UTF-8 does not) fails
    looking that entry up: the error is reported with the feed and the entry, the other
    entries are stored and the feed's poll is recorded."""
    feed = json_feed("Mixed", [
        {"id": "1", "url": "http://127.0.0.1:9/story/\\ud800", "title": "Broken link",
         "content_text": "Police raided a pirate site."},
        {"id": "2", "url": feed_server.url("/story/2"), "title": "A fine story",
         "content_text": "Police raided another pirate site."},
    ]).replace("\\\\ud800", "\\ud800")
    url = feed_server.put("/mixed.json", feed, "application/feed+json")
    config = engine_config(tmp_path, [url])
    report = cycle(config)
    assert titles(config) == ["A fine story"]
    row = feed_rows(config)[url]
    assert row["last_status"] == "updated" and row["error_count"] == 0, row
    [error] = report.errors
    assert error.startswith(f"{url}: entry http://127.0.0.1:9/story/")
    assert "unexpected UnicodeEncodeError" in error


def test_a_relative_entry_link_is_fetched_where_the_feed_came_from(
        tmp_path: Path, server: HostileServer) -> None:
    """The feed, at /found/feeds/news.xml, redirects to /feeds/news.xml, whose entries link to
    /page/rel1 and to rel2: the stories are those pages of that site, resolved against the
    URL the feed came from, fetched and stored with their full URLs."""
    server.put("/page/rel1", article_page(RAID["title"], [RAID["summary"]] * 3),
               "text/html; charset=utf-8")
    server.put("/feeds/rel2", article_page(QUIET[0], QUIET[1:]), "text/html; charset=utf-8")
    server.put("/feeds/news.xml", rss("Relative", [{"title": RAID["title"], "link": "/page/rel1"},
                                                   {"title": QUIET[0], "link": "rel2"}]))
    url = server.url("/found/feeds/news.xml")
    config = engine_config(tmp_path, [url], fetch_pages=True)
    cycle(config)
    assert server.hits["/page/rel1"] == 1 and server.hits["/feeds/rel2"] == 1
    with Store(config.database) as store:
        stored = {c.clipping.url: c.origin for c in store.clippings()}
    assert stored == {server.url("/page/rel1"): "page", server.url("/feeds/rel2"): "page"}
