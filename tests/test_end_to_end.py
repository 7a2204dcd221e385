"""The monitor end to end on real parts: a feed server, a webhook receiver and an SMTP server on
127.0.0.1, a real SQLite file, and `monitor run --once` run as a user would."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from support.feedserver import FeedServer, article_page, atom, rss
from support.helpers import monitor, write_config
from support.servers import SMTPServer, WebhookReceiver

from monitor.clipping import parse

ENFORCEMENT = {
    "title": "Police shut down pirate IPTV service and arrest three suspects",
    "paragraphs": [
        "Spanish police have shut down a pirate IPTV service that sold illegal streams of LaLiga "
        "football matches to more than 50,000 subscribers, and arrested three suspects in Madrid "
        "and Valencia.",
        "The operation, coordinated with Europol, followed a complaint by LaLiga and the Alliance "
        "for Creativity and Entertainment. Officers seized servers, decoders and bank records "
        "during raids on four addresses.",
        "The suspects face charges of copyright infringement and money laundering. The service's "
        "domains now redirect to a police notice.",
    ],
}
BASEBALL = {
    "title": "Pittsburgh Pirates rally to beat the Cubs in extra innings",
    "paragraphs": [
        "The Pittsburgh Pirates came back from a four-run deficit on Tuesday night and beat the "
        "Chicago Cubs 7-6 in the eleventh inning at PNC Park.",
        "The shortstop hit a two-run double in the ninth to tie the game, and the closer struck "
        "out the side in the eleventh to seal the win before a crowd of 28,000.",
    ],
}
PRICES = {
    "title": "Streaming prices rise again across Europe",
    "paragraphs": [
        "Subscribers to the main streaming platforms will pay more from January, as services raise "
        "their monthly prices in France, Germany and Italy for the second time in a year.",
        "Analysts expect the increases to slow subscriber growth, while the platforms say the "
        "money pays for more local productions and sports rights.",
    ],
}
SATELLITE = {
    "title": "Operator launches a new broadcast satellite",
    "paragraphs": [
        "A European satellite operator has launched a new broadcast satellite that will carry "
        "more than 400 television channels to homes across the Middle East and North Africa.",
        "The satellite reached its orbital slot after a ten-day journey and will enter service "
        "in the spring, replacing a craft launched fifteen years ago.",
    ],
}
BOILERPLATE = ("Subscribe to our newsletter", "All rights reserved", "Cookie settings", "Most read")


def publish(server: FeedServer) -> list[str]:
    """Three feeds (RSS 2.0, Atom, ill-formed RSS) and their four article pages."""
    for path, story in (("/news/raid", ENFORCEMENT), ("/sport/pirates", BASEBALL),
                        ("/biz/prices", PRICES), ("/tech/satellite", SATELLITE)):
        server.put(path, article_page(story["title"], story["paragraphs"]))
    rss_url = server.put("/rss.xml", rss("Piracy Daily", [
        {"title": ENFORCEMENT["title"], "link": server.url("/news/raid?utm_source=rss")},
        {"title": BASEBALL["title"], "link": server.url("/sport/pirates")},
    ]), "application/rss+xml")
    atom_url = server.put("/atom.xml", atom("Business Wire", [
        {"title": PRICES["title"], "link": server.url("/biz/prices")},
        # the same story as in the RSS feed, with other tracking parameters: one clipping
        {"title": ENFORCEMENT["title"], "link": server.url("/news/raid?fbclid=abc")},
    ]), "application/atom+xml")
    broken_url = server.put("/broken.xml", (
        '<?xml version="1.0"?><rss version="2.0"><channel><title>Sat & Cable</title>'
        f'<item><title>{SATELLITE["title"]}</title><link>{server.url("/tech/satellite")}</link>'
        "<description>Orbit & beyond <b>unclosed</description></item></channel></rss>"),
        "application/rss+xml")
    return [rss_url, atom_url, broken_url]


def rows(db: Path, sql: str) -> list[sqlite3.Row]:
    conn = sqlite3.connect(db)
    conn.row_factory = sqlite3.Row
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def test_run_once_end_to_end(tmp_path: Path, feed_server: FeedServer,
                             webhook_receiver: WebhookReceiver, smtp_server: SMTPServer) -> None:
    feeds = publish(feed_server)
    config = write_config(tmp_path, feeds, webhook_url=webhook_receiver.url, smtp_port=smtp_server.port)

    first = monitor(config, "run", "--once")
    assert first.returncode == 0, first.stderr
    assert "3 feeds polled" in first.stdout and "4 new clippings" in first.stdout, first.stdout
    assert "1 flagged" in first.stdout and "2 alerts sent" in first.stdout, first.stdout

    db = tmp_path / "monitor.db"
    clippings = {r["title"]: r for r in rows(db, "select * from clippings")}
    assert set(clippings) == {s["title"] for s in (ENFORCEMENT, BASEBALL, PRICES, SATELLITE)}
    for story in (ENFORCEMENT, BASEBALL, PRICES, SATELLITE):
        row = clippings[story["title"]]
        parsed = parse(row["text"])  # the stored text is a clipping in the seed's format
        assert parsed.title == story["title"]
        assert row["origin"] == "page"
        for paragraph in story["paragraphs"]:
            assert paragraph in parsed.body
        for junk in BOILERPLATE:
            assert junk not in parsed.body
        assert parsed.author == "Jane Reporter"
        assert parsed.source == "Piracy Daily"
        assert parsed.tags[-1] == "Piracy Daily"

    raid = clippings[ENFORCEMENT["title"]]
    assert raid["flagged"] == 1
    assert raid["url"].endswith("/news/raid")  # canonical: tracking parameters dropped
    tags = json.loads(raid["tags"])
    assert {"LaLiga", "Europol"} <= set(tags)
    assert [r["flagged"] for t, r in clippings.items() if t != ENFORCEMENT["title"]] == [0, 0, 0]
    # Both default rules see the raid (a police action near pirated goods), and nothing else.
    matched = rows(db, "select clipping_id, rule from matches")
    assert {r["clipping_id"] for r in matched} == {raid["id"]}
    assert sorted(r["rule"] for r in matched) == ["actor-action", "piracy-enforcement"]

    hooks = webhook_receiver.wait_for(1)
    assert len(hooks) == 1
    payload = hooks[0].json()
    assert payload["clipping"]["title"] == ENFORCEMENT["title"]
    mails = smtp_server.wait_for(1)
    assert len(mails) == 1
    assert ENFORCEMENT["title"] in mails[0].message["Subject"]
    broken = rows(db, f"select * from feeds where url = '{feeds[2]}'")[0]
    assert broken["last_status"] == "updated" and "not well-formed" in broken["last_error"]

    second = monitor(config, "run", "--once")
    assert second.returncode == 0, second.stderr
    assert "3 not modified" in second.stdout and "0 new clippings" in second.stdout, second.stdout
    assert feed_server.hits_for("/rss.xml") == [200, 304]
    # The page once, not once per feed: through whichever feed's link was polled first.
    assert (feed_server.hits_for("/news/raid?utm_source=rss")
            + feed_server.hits_for("/news/raid?fbclid=abc")) == [200]
    assert len(rows(db, "select * from clippings")) == 4
    assert len(webhook_receiver.requests) == 1 and len(smtp_server.messages) == 1

    listing = monitor(config, "list", "--json")
    objects = [json.loads(line) for line in listing.stdout.splitlines()]
    assert len(objects) == 4
    assert {"id", "url", "title", "source", "date", "author", "flagged", "rules", "tags",
            "origin"} <= set(objects[0])
    flagged = monitor(config, "list", "--flagged", "--json").stdout.splitlines()
    assert [json.loads(line)["title"] for line in flagged] == [ENFORCEMENT["title"]]
    shown = monitor(config, "show", raid["id"])
    assert shown.stdout == raid["text"]


def test_webhook_outage_alert_stays_pending_then_is_delivered_once(
        tmp_path: Path, feed_server: FeedServer, refused_port: int) -> None:
    feeds = publish(feed_server)[:1]
    config = write_config(tmp_path, feeds, webhook_url=f"http://127.0.0.1:{refused_port}/hook")

    first = monitor(config, "run", "--once")
    assert first.returncode == 0, first.stderr
    assert "0 alerts sent, 1 alerts not delivered" in first.stdout, first.stdout
    alerts = rows(tmp_path / "monitor.db", "select * from alerts")
    assert [(a["status"], a["attempts"]) for a in alerts] == [("pending", 1)]
    assert alerts[0]["last_error"]

    receiver = WebhookReceiver(port=refused_port)  # the receiver comes back on its address
    receiver.start()
    try:
        second = monitor(config, "run", "--once")  # --once tries it at once, whatever its backoff
        assert second.returncode == 0, second.stderr
        assert "1 alerts sent" in second.stdout, second.stdout
        third = monitor(config, "run", "--once")
        assert "0 alerts sent" in third.stdout, third.stdout
        assert len(receiver.requests) == 1
        assert receiver.requests[0].json()["clipping"]["title"] == ENFORCEMENT["title"]
    finally:
        receiver.stop()
    alerts = rows(tmp_path / "monitor.db", "select * from alerts")
    assert [a["status"] for a in alerts] == ["sent"]
