"""Watchlists end to end: [[watch]] tables read (and refused when wrong), then a loopback feed,
`monitor run --once` and a real webhook receiver: the alert of a flagged story that names a
watched name carries it in its subject; a story that only names it alerts on no account;
`monitor explain` says which watch fired."""

from __future__ import annotations

import json
import sqlite3
import textwrap
from pathlib import Path

import pytest
from support.feedserver import FeedServer, article_page, rss
from support.helpers import monitor, write_config
from support.review_helpers import ARTICLES, paragraphs
from support.servers import WebhookReceiver

from monitor.config import WatchConfig, load_config, parse_config
from monitor.errors import ConfigError
from monitor.match.matcher import matcher_for

CONFIG = Path("/srv/monitor/config.toml")  # parse_config reads no file
RULE = '[[rules]]\nname = "enforcement"\nquery = "pirate AND raid"\n'


def test_watch_tables_are_read_with_their_defaults() -> None:
    config = parse_config(RULE + textwrap.dedent("""
        [[watch]]
        name = " Premier League "
        terms = ["Premier League", "EPL"]
        rules = ["enforcement", "model"]

        [[watch]]
        name = "DAZN"
    """), CONFIG)
    assert config.watch == (WatchConfig("Premier League", ("Premier League", "EPL"),
                                        ("enforcement", "model")),
                            WatchConfig("DAZN", (), ()))
    assert parse_config(RULE, CONFIG).watch == ()


@pytest.mark.parametrize(("table", "key", "reason"), [
    ('terms = ["x"]', "watch[0].name", "is required"),
    ('name = ""', "watch[0].name", "must not be empty"),
    ('name = "A"\nterms = "EPL"', "watch[0].terms", "expected list"),
    ('name = "A"\nterms = [1]', "watch[0].terms", "list of strings"),
    ('name = "A"\nrules = ["no-such-rule"]', "watch[0].rules",
     "no rule named 'no-such-rule' (expected one of enforcement, model)"),
    ('name = "A"\nterm = ["EPL"]', "watch[0].term", "unknown key"),
])
def test_a_bad_watch_table_is_refused_naming_its_key(table: str, key: str, reason: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(f"{RULE}\n[[watch]]\n{table}\n", CONFIG)
    assert info.value.key == key and reason in info.value.reason, str(info.value)


def test_two_watches_of_one_name_and_a_term_that_cannot_match(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(f'{RULE}[[watch]]\nname = "A"\n[[watch]]\nname = "A"\n', CONFIG)
    assert info.value.key == "watch[1].name" and "duplicate" in info.value.reason
    path = tmp_path / "config.toml"
    path.write_text(f'{RULE}[[watch]]\nname = "A"\n[[watch]]\nname = "B"\nterms = ["-"]\n',
                    encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        matcher_for(load_config(path))  # the terms compile with the rules
    assert info.value.key == "watch[1].terms" and "can never match" in info.value.reason
    checked = monitor(path, "check-config")
    assert checked.code == 1 and "watch[1].terms" in checked.stderr


def _story(server: FeedServer, path: str, title: str, body: list[str]) -> dict[str, str]:
    server.put(path, article_page(title, body))
    return {"title": title, "link": server.url(path), "summary": body[0]}


def test_a_watched_name_leads_the_alert_of_a_flagged_story(
        tmp_path: Path, feed_server: FeedServer, webhook_receiver: WebhookReceiver) -> None:
    league = ARTICLES["e5-a"]  # the Premier League's blocking order: flagged
    raid = ARTICLES["e1-a"]  # a LaLiga IPTV raid: flagged, no watched name
    items = [_story(feed_server, "/news/league", league["title"], paragraphs(league)),
             _story(feed_server, "/news/raid", raid["title"], paragraphs(raid)),
             # names the league, but no rule flags it: no alert
             _story(feed_server, "/news/deal", "Premier League clubs sign a new TV rights deal",
                    ["The Premier League has sold its broadcast rights for the next three "
                     "seasons to two broadcasters, for a record sum.",
                     "Clubs will share the money equally, the league said on Tuesday."])]
    feed = feed_server.put("/feed.xml", rss("Sport news", items), "application/rss+xml")
    watch = textwrap.dedent("""
        [[watch]]
        name = "Premier League"
        terms = ["Premier League", "EPL"]
    """)
    config = write_config(tmp_path, [feed], webhook_url=webhook_receiver.url, extra=watch)
    done = monitor(config, "run", "--once")
    assert done.code == 0, done.stderr
    assert "3 new clippings, 2 flagged, 2 alerts sent" in done.stdout, done.stdout

    payloads = {p["clipping"]["title"]: p for p in
                (r.json() for r in webhook_receiver.wait_for(2))}
    assert set(payloads) == {league["title"], raid["title"]}
    watched = payloads[league["title"]]
    assert watched["subject"].startswith("[Watch: Premier League] [")
    assert league["title"] in watched["subject"]
    assert watched["watches"] == ["Premier League"]
    assert all(r["watches"] == ["Premier League"] for r in watched["rules"])
    other = payloads[raid["title"]]
    assert other["watches"] == [] and not other["subject"].startswith("[Watch")

    db = sqlite3.connect(tmp_path / "monitor.db")
    ids = dict(db.execute("select title, id from clippings").fetchall())
    db.close()
    explained = monitor(config, "explain", ids[league["title"]])
    assert explained.code == 0, explained.stderr
    assert "watch Premier League: named (Premier League); fired with " in explained.stdout
    assert "alerts as [Watch: Premier League]" in explained.stdout
    quiet = monitor(config, "explain", ids["Premier League clubs sign a new TV rights deal"])
    assert "watch Premier League: named (Premier League); no paired rule fired: no alert" \
        in quiet.stdout
    as_json = json.loads(monitor(config, "explain", ids[league["title"]], "--json").stdout)
    assert [w["name"] for w in as_json["watches"]] == ["Premier League"]
    assert any(r["watches"] == ["Premier League"] for r in as_json["rules"] if r["fired"])
