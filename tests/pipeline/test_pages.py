"""Watched pages end to end on real parts: a newsroom without a feed served on 127.0.0.1, a
webhook receiver, a real SQLite file and `monitor run --once`. New releases between two polls
become exactly those stories, through extraction to an alert; a redesign that leaves the
selector with nothing is `broken`, shown by `monitor feeds` and `monitor status`, with no alert
storm and no silent success; hostile pages cost bounded work."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from support.feedserver import FeedServer
from support.helpers import monitor, write_config
from support.newsroom import PRESS, item_date, newsroom, release_page, release_path
from support.servers import WebhookReceiver

from monitor.parse.listing import MAX_LINKS

RAID = ("iptv-raid", "Officers raid illegal IPTV operation and arrest three suspects")
CHARITY = ("charity-run", "Officers complete charity run for the children's hospital")
BLOCKING = ("site-blocking", "Court orders internet providers to block pirate streaming sites")
FAIR = ("summer-fair", "Police open day at the summer fair")

BODIES = {
    RAID[0]: ["Officers of the County Police cyber crime unit raided three addresses on Tuesday "
              "and arrested three suspects who ran an illegal IPTV service selling pirated "
              "streams of Premier League football to 12,000 subscribers.",
              "Servers, decoders and cash were seized. The suspects face charges of copyright "
              "infringement and fraud; the operation followed a complaint by the Premier League "
              "and FACT."],
    CHARITY[0]: ["Twenty officers completed a ten-mile charity run on Sunday, raising money for "
                 "the children's hospital in the county town.",
                 "The chief constable thanked everyone who came out to cheer the runners."],
    BLOCKING[0]: ["The High Court has ordered the main internet service providers to block "
                  "pirate streaming sites that showed live football matches without a licence, "
                  "after an application supported by the County Police.",
                  "The blocking order covers dozens of piracy domains and their mirrors, and "
                  "follows the arrest of the operators of an illegal IPTV service last month."],
    FAIR[0]: ["Families are invited to the police open day at the summer fair, with displays by "
              "the dog unit and the mounted section.",
              "Entry is free and the event runs from ten until four."],
}
TITLES = {RAID[0]: RAID[1], CHARITY[0]: CHARITY[1], BLOCKING[0]: BLOCKING[1], FAIR[0]: FAIR[1]}


def publish(server: FeedServer, items: list[tuple[str, str]], *, layout: str = "list") -> str:
    for slug, title in items:
        server.put(release_path(slug), release_page(title, BODIES[slug]))
    return server.put(PRESS, newsroom(items, layout=layout))


def page_config(tmp_path: Path, page: str, webhook: WebhookReceiver | None = None, *,
                selector: str = "ul.press-list", pattern: str = "", fetch_pages: bool = True) -> Path:
    extra = f'\n[[pages]]\nname = "County Police"\nurl = "{page}"\n'
    if selector:
        extra += f'selector = "{selector}"\n'
    if pattern:
        extra += f'pattern = "{pattern}"\n'
    return write_config(tmp_path, [], webhook_url=webhook.url if webhook else None,
                        fetch_pages=fetch_pages, extra=extra)


def clippings(tmp_path: Path) -> dict[str, sqlite3.Row]:
    conn = sqlite3.connect(tmp_path / "monitor.db")
    conn.row_factory = sqlite3.Row
    try:
        return {r["link"]: r for r in conn.execute("select * from clippings")}
    finally:
        conn.close()


def feeds_listing(config: Path) -> list[dict[str, object]]:
    result = monitor(config, "feeds", "--json")
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


def test_new_releases_become_exactly_those_stories_and_alert(
        tmp_path: Path, feed_server: FeedServer, webhook_receiver: WebhookReceiver) -> None:
    page = publish(feed_server, [RAID, CHARITY])
    config = page_config(tmp_path, page, webhook_receiver)

    first = monitor(config, "run", "--once")
    assert first.returncode == 0, first.stderr
    # What the newsroom lists when we start is backlog: stored, flagged, not alerted.
    assert "1 feeds polled" in first.stdout and "2 new clippings" in first.stdout, first.stdout
    assert "0 alerts sent" in first.stdout and "1 flagged stories were backlog" in first.stdout
    stored = clippings(tmp_path)
    assert set(stored) == {feed_server.url(release_path(s)) for s in (RAID[0], CHARITY[0])}
    assert all(r["backlog"] == 1 and r["origin"] == "page" for r in stored.values())
    assert feed_server.hits_for(PRESS) == [200]

    publish(feed_server, [BLOCKING, FAIR, RAID, CHARITY])
    second = monitor(config, "run", "--once")
    assert second.returncode == 0, second.stderr
    assert "2 new clippings, 1 flagged, 1 alerts sent" in second.stdout, second.stdout
    new = {link: r for link, r in clippings(tmp_path).items() if link not in stored}
    assert set(new) == {feed_server.url(release_path(s)) for s in (BLOCKING[0], FAIR[0])}
    blocking = new[feed_server.url(release_path(BLOCKING[0]))]
    assert blocking["flagged"] == 1 and blocking["backlog"] == 0
    assert blocking["title"] == BLOCKING[1] and blocking["source"] == "County Police"
    assert BODIES[BLOCKING[0]][0] in blocking["body"]  # extracted from its page
    assert blocking["published"].startswith(item_date(0).isoformat())  # as the listing dates it
    [request] = webhook_receiver.wait_for(1)
    alert = request.json()
    assert alert["clipping"]["url"] == feed_server.url(release_path(BLOCKING[0]))
    assert alert["clipping"]["title"] == BLOCKING[1]
    # Nothing of the furniture was ever fetched as a story.
    for furniture in ("/about", "/privacy", "/appeals/missing-person", "/contact"):
        assert feed_server.hits_for(furniture) == []
    assert not any("page=2" in path for path, _ in feed_server.hits)

    [record] = feeds_listing(config)
    assert (record["kind"], record["status"], record["selector"]) == ("page", "ok", "ul.press-list")
    assert record["name"] == "County Police" and record["last_status"] == "updated"

    third = monitor(config, "run", "--once")  # unchanged: a 304, nothing new
    assert "1 not modified" in third.stdout and "0 new clippings" in third.stdout, third.stdout
    assert len(webhook_receiver.requests) == 1


def test_a_redesign_that_matches_nothing_is_broken_not_quiet(
        tmp_path: Path, feed_server: FeedServer, webhook_receiver: WebhookReceiver) -> None:
    page = publish(feed_server, [RAID, CHARITY])
    config = page_config(tmp_path, page, webhook_receiver)
    assert monitor(config, "run", "--once").returncode == 0

    publish(feed_server, [BLOCKING, FAIR, RAID, CHARITY], layout="cards")
    for _ in range(2):  # still broken the next time: no alert, no story, no storm
        run = monitor(config, "run", "--once")
        assert run.returncode == 0, run.stderr
        assert "0 new clippings" in run.stdout and "1 errors" in run.stdout, run.stdout
        assert "'ul.press-list' matches nothing" in run.stderr
    [record] = feeds_listing(config)
    assert record["status"] == "broken" and record["last_status"] == "broken"
    assert "'ul.press-list' matches nothing on the page" in str(record["reason"])
    assert record["errors"] == 2
    table = monitor(config, "feeds")
    assert "page   broken" in table.stdout and "its layout changed?" in table.stdout
    status = monitor(config, "status")
    assert "matches nothing on the page" in status.stdout, status.stdout
    assert set(clippings(tmp_path)) == {feed_server.url(release_path(s))
                                        for s in (RAID[0], CHARITY[0])}
    assert webhook_receiver.requests == []

    # The site fixed (or the selector updated): only what is new since is alerted.
    publish(feed_server, [BLOCKING, FAIR, RAID, CHARITY])
    fixed = monitor(config, "run", "--once")
    assert "2 new clippings, 1 flagged, 1 alerts sent" in fixed.stdout, fixed.stdout
    assert feeds_listing(config)[0]["status"] == "ok"


def test_a_site_that_renames_every_address_is_a_new_backlog(
        tmp_path: Path, feed_server: FeedServer, webhook_receiver: WebhookReceiver) -> None:
    first = [(f"old-{n}", f"Old release {n}") for n in range(6)]
    page = feed_server.put(PRESS, newsroom(first))
    config = page_config(tmp_path, page, webhook_receiver, selector="", fetch_pages=False)
    assert "6 new clippings" in monitor(config, "run", "--once").stdout
    # Every address changed at once, flagged stories among them: a new backlog, no storm.
    renamed = [(f"2026/{slug}", f"{RAID[1]} ({slug})") for slug, _ in first]
    feed_server.put(PRESS, newsroom(renamed))
    run = monitor(config, "run", "--once")
    assert "6 new clippings" in run.stdout and "0 alerts sent" in run.stdout, run.stdout
    assert "6 flagged stories were backlog" in run.stdout
    # The next new one is news again.
    feed_server.put(PRESS, newsroom([("2026/new", BLOCKING[1]), *renamed]))
    run = monitor(config, "run", "--once")
    assert "1 new clippings, 1 flagged, 1 alerts sent" in run.stdout, run.stdout


def test_hostile_pages_cost_bounded_work(tmp_path: Path, feed_server: FeedServer) -> None:
    links = "".join(f'<a href="/n/{i}">Item number {i}</a>' for i in range(100_000))
    many = feed_server.put("/many", f"<html><body><main>{links}</main></body></html>")
    huge = feed_server.put("/huge", "<html><body><main>" + "<a href='/x'>x</a>" * 400_000
                           + "</main></body></html>")  # over max_bytes
    extra = "".join(f'\n[[pages]]\nurl = "{url}"\n' for url in (many, huge))
    # the page's own bound on links is what is tested, not the poll's on new entries
    config = write_config(tmp_path, [], fetch_pages=False, extra=extra,
                          max_new_per_poll=10 * MAX_LINKS)
    run = monitor(config, "run", "--once")
    assert run.returncode == 0, run.stderr
    assert f"{MAX_LINKS} new clippings" in run.stdout and "1 errors" in run.stdout, run.stdout
    records = {r["url"]: r for r in feeds_listing(config)}
    assert records[many]["status"] == "ok"
    assert records[huge]["status"] == "error" and "max_bytes" in str(records[huge]["reason"])
    assert "narrow the selector" in run.stderr
