"""`monitor pages ...` as an analyst runs it against a newsroom on 127.0.0.1: `test` shows the
links a selector and pattern pick (text and --json), `add` follows the page, `feeds` lists it
with its kind; bad selectors are refused by `pages` and by `check-config`."""

from __future__ import annotations

import json
from pathlib import Path

from support.feedserver import FeedServer
from support.helpers import monitor, write_config
from support.newsroom import PRESS, newsroom, release_path

ITEMS = [("iptv-raid", "Officers raid illegal IPTV operation"),
         ("court-order", "Court orders blocking of sports piracy sites")]


def test_pages_test_prints_the_links_that_would_be_stories(tmp_path: Path,
                                                           feed_server: FeedServer) -> None:
    page = feed_server.put(PRESS, newsroom(ITEMS))
    config = write_config(tmp_path, [])
    expected = [{"url": feed_server.url(release_path(slug)), "title": title}
                for slug, title in ITEMS]

    as_json = monitor(config, "pages", "test", page, "--selector", "ul.press-list", "--json")
    assert as_json.returncode == 0, as_json.stderr
    assert [json.loads(line) for line in as_json.stdout.splitlines()] == expected
    assert "2 links would become stories" in as_json.stderr

    text = monitor(config, "pages", "test", page, "--pattern", f"{PRESS}/*")
    assert text.stdout.splitlines() == [f"{e['url']}  {e['title']}" for e in expected]

    # Without a selector: the page's main region, its furniture left out all the same.
    plain = monitor(config, "pages", "test", page, "--json")
    assert [json.loads(line) for line in plain.stdout.splitlines()] == expected
    assert not (tmp_path / "monitor.db").exists()  # a test stores nothing


def test_pages_test_explains_a_selector_that_picks_nothing(tmp_path: Path,
                                                           feed_server: FeedServer) -> None:
    page = feed_server.put(PRESS, newsroom(ITEMS, layout="cards"))
    config = write_config(tmp_path, [])
    missing = monitor(config, "pages", "test", page, "--selector", "ul.press-list", "--json")
    assert missing.returncode == 1 and missing.stdout == ""
    assert "'ul.press-list' matches nothing on the page" in missing.stderr
    bad = monitor(config, "pages", "test", page, "--selector", "ul..x")
    assert bad.returncode == 1 and "invalid CSS selector 'ul..x'" in bad.stderr
    regex = monitor(config, "pages", "test", page, "--pattern", "re:(")
    assert regex.returncode == 1 and "invalid regular expression" in regex.stderr
    gone = monitor(config, "pages", "test", feed_server.url("/nothing-here"))
    assert gone.returncode == 1 and "HTTP 404" in gone.stderr


def test_pages_add_follows_a_page_listed_by_feeds(tmp_path: Path,
                                                   feed_server: FeedServer) -> None:
    page = feed_server.put(PRESS, newsroom(ITEMS))
    config = write_config(tmp_path, [], fetch_pages=False)
    added = monitor(config, "pages", "add", page, "--selector", "ul.press-list", "--pattern",
                    f"{PRESS}/*", "--name", "County Police", "--interval", "1h")
    assert added.returncode == 0, added.stderr
    assert json.loads(added.stdout) == {"url": page, "title": "Press releases | County Police",
                                        "links": 2, "selector": "ul.press-list",
                                        "pattern": f"{PRESS}/*"}
    [record] = [json.loads(line) for line in monitor(config, "feeds", "--json").stdout.splitlines()]
    assert (record["kind"], record["origin"], record["name"], record["interval"]) == (
        "page", "command", "County Police", 3600.0)
    assert (record["selector"], record["pattern"], record["status"]) == (
        "ul.press-list", f"{PRESS}/*", "new")

    run = monitor(config, "run", "--once")
    assert "2 new clippings" in run.stdout, run.stdout
    again = monitor(config, "pages", "add", page)
    assert again.returncode == 1 and "already followed (in the database)" in again.stderr
    disabled = monitor(config, "feeds", "disable", page)
    assert disabled.returncode == 0, disabled.stderr


def test_feeds_add_on_a_page_without_a_feed_points_at_pages(tmp_path: Path,
                                                            feed_server: FeedServer) -> None:
    page = feed_server.put(PRESS, newsroom(ITEMS))
    refused = monitor(write_config(tmp_path, []), "feeds", "add", page)
    assert refused.returncode == 1 and f"monitor pages test {page}" in refused.stderr


def test_check_config_and_run_refuse_a_bad_selector(tmp_path: Path) -> None:
    extra = '\n[[pages]]\nurl = "https://police.example/press"\nselector = "div["\n'
    config = write_config(tmp_path, [], extra=extra)
    for command in (["check-config"], ["run", "--once"]):
        result = monitor(config, *command)
        assert result.returncode == 1 and "pages[0].selector" in result.stderr
        assert "invalid CSS selector 'div['" in result.stderr
    assert not (tmp_path / "monitor.db").exists()  # refused before anything ran


def test_config_refuses_a_bad_pattern(tmp_path: Path) -> None:
    extra = '\n[[pages]]\nurl = "https://police.example/press"\npattern = "re:(x"\n'
    result = monitor(write_config(tmp_path, [], extra=extra), "check-config")
    assert result.returncode == 1 and "pages[0].pattern" in result.stderr
    assert "invalid regular expression" in result.stderr
