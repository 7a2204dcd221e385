"""`monitor feeds ...` as a user runs it: listing, discovery on a local site, OPML round trip,
enable and disable, and how config.toml feeds and command-added feeds combine."""

from __future__ import annotations

import json
from pathlib import Path

from support.feedserver import FeedServer, atom, rss
from support.helpers import monitor, write_config

from monitor.parse.opml import OpmlError, OpmlFeed, parse_opml, render_opml

HOME = """<!DOCTYPE html><html><head><meta charset="utf-8"><title>Piracy Watch</title>
<link rel="stylesheet" href="/style.css">
<link rel="alternate" type="application/rss+xml" title="Comments" href="/comments/feed/">
<link rel="alternate" type="application/rss+xml" title="Piracy Watch" href="/feed/">
<link rel="alternate" type="application/atom+xml" title="Atom" href="/atom.xml">
</head><body><h1>Piracy Watch</h1><p>News about piracy enforcement.</p></body></html>"""


def listing(config: Path) -> list[dict]:
    result = monitor(config, "feeds", "--json")
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


def test_add_discovers_the_feed_of_a_home_page(tmp_path: Path, feed_server: FeedServer) -> None:
    home = feed_server.put("/", HOME)
    feed = feed_server.put("/feed/", rss("Piracy Watch", [
        {"title": "A raid", "link": feed_server.url("/raid")}]), "application/rss+xml")
    config = write_config(tmp_path, [], fetch_pages=False)
    added = monitor(config, "feeds", "add", home, "--name", "Watch")
    assert added.returncode == 0, added.stderr
    assert json.loads(added.stdout) == {"url": feed, "title": "Piracy Watch", "via": home,
                                        "entries": 1}
    [record] = listing(config)
    assert record["url"] == feed and record["origin"] == "command" and record["name"] == "Watch"
    assert record["status"] == "new" and record["enabled"] is True
    assert set(record) >= {"name", "url", "interval", "last_poll", "last_status", "errors",
                           "next_poll", "enabled"}

    run = monitor(config, "run", "--once")
    assert "1 feeds polled" in run.stdout and "1 new clippings" in run.stdout, run.stdout
    [record] = listing(config)
    assert record["status"] == "ok" and record["last_status"] == "updated" and record["next_poll"]

    again = monitor(config, "feeds", "add", feed)
    assert again.returncode == 1 and "already followed" in again.stderr


def test_add_a_feed_url_directly_and_a_page_without_feed(tmp_path: Path,
                                                         feed_server: FeedServer) -> None:
    feed = feed_server.put("/atom.xml", atom("Atom news", [
        {"title": "Story", "link": feed_server.url("/s")}]), "application/atom+xml")
    bare = feed_server.put("/bare.html", "<html><head><title>No feed</title></head><body>Hi</body></html>")
    config = write_config(tmp_path, [], fetch_pages=False)
    ok = monitor(config, "feeds", "add", feed, "--interval", "30m")
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["via"] is None
    assert listing(config)[0]["interval"] == 1800
    refused = monitor(config, "feeds", "add", bare)
    assert refused.returncode == 1 and "no feed at" in refused.stderr
    assert "Traceback" not in refused.stderr


def test_opml_round_trip(tmp_path: Path, feed_server: FeedServer) -> None:
    config_feed = feed_server.url("/configured.xml")
    config = write_config(tmp_path, [config_feed], fetch_pages=False)
    opml = tmp_path / "subscriptions.opml"
    opml.write_text("""<?xml version="1.0" encoding="UTF-8"?>
<opml version="2.0"><head><title>My reader</title></head><body>
  <outline text="Piracy">
    <outline type="rss" text="TorrentFreak" xmlUrl="https://torrentfreak.com/feed/" htmlUrl="https://torrentfreak.com/"/>
    <outline type="rss" text="Numerama &amp; co" title="Numerama &amp; co" xmlUrl="https://www.numerama.com/feed/"/>
  </outline>
  <outline type="rss" text="Already in config" xmlUrl="%s"/>
  <outline type="rss" text="Not http" xmlUrl="ftp://example.org/feed"/>
  <outline text="A folder with no feed"/>
</body></opml>""" % config_feed, encoding="utf-8")
    # Unchecked: these are no feeds of 127.0.0.1, and a test fetches nothing else.
    imported = monitor(config, "feeds", "import", str(opml), "--no-check")
    assert imported.returncode == 0, imported.stderr
    assert "2 feeds imported, 1 already followed, 1 skipped" in imported.stderr
    records = {r["url"]: r for r in listing(config)}
    assert records["https://www.numerama.com/feed/"]["name"] == "Numerama & co"
    assert records[config_feed]["origin"] == "config"

    exported = monitor(config, "feeds", "export")
    assert exported.returncode == 0, exported.stderr
    feeds = parse_opml(exported.stdout.encode("utf-8"))
    assert [f.url for f in feeds] == [config_feed, "https://torrentfreak.com/feed/",
                                      "https://www.numerama.com/feed/"]
    # ... and into another monitor: the same list comes back out
    other = tmp_path / "other"
    other.mkdir()
    other_config = write_config(other, [], fetch_pages=False)
    (other / "feeds.opml").write_text(exported.stdout, encoding="utf-8")
    assert monitor(other_config, "feeds", "import", str(other / "feeds.opml"),
                   "--no-check").returncode == 0
    again = monitor(other_config, "feeds", "export", str(other / "again.opml"))
    assert again.returncode == 0
    assert parse_opml((other / "again.opml").read_bytes()) == feeds


def test_opml_parser_refuses_what_is_not_opml() -> None:
    feeds = [OpmlFeed("https://example.org/feed", "Example <&> \"quoted\""), OpmlFeed("https://e.org/f")]
    assert parse_opml(render_opml(feeds).encode()) == [
        feeds[0], OpmlFeed("https://e.org/f", "https://e.org/f")]
    for bad, why in ((b"<rss/>", "root element"), (b"not xml", "not OPML"),
                     (b'<!DOCTYPE opml [<!ENTITY a "b">]><opml><body/></opml>', "document type"),
                     (b"<opml><head/></opml>", "no <body>")):
        try:
            parse_opml(bad)
        except OpmlError as e:
            assert why in str(e)
        else:
            raise AssertionError(f"accepted {bad!r}")


def test_enable_disable_and_the_authority_of_config(tmp_path: Path, feed_server: FeedServer) -> None:
    configured = feed_server.put("/c.xml", rss("Configured", [
        {"title": "Configured story", "link": feed_server.url("/c/1")}]), "application/rss+xml")
    added = feed_server.put("/a.xml", rss("Added", [
        {"title": "Added story", "link": feed_server.url("/a/1")}]), "application/rss+xml")
    config = write_config(tmp_path, [configured], fetch_pages=False)
    assert monitor(config, "feeds", "add", added).returncode == 0
    assert monitor(config, "feeds", "disable", added).returncode == 0
    records = {r["url"]: r for r in listing(config)}
    assert records[added]["enabled"] is False and records[added]["status"] == "disabled"
    run = monitor(config, "run", "--once")
    assert "1 feeds polled" in run.stdout, run.stdout
    assert feed_server.hits_for("/a.xml") == [200]  # only discovery's request

    refused = monitor(config, "feeds", "disable", configured)
    assert refused.returncode == 1 and "enabled = false" in refused.stderr
    unknown = monitor(config, "feeds", "enable", "https://nowhere.example/feed")
    assert unknown.returncode == 1 and "no feed" in unknown.stderr

    assert monitor(config, "feeds", "enable", added).returncode == 0
    run = monitor(config, "run", "--once")
    assert "2 feeds polled" in run.stdout, run.stdout

    # The same URL put in config.toml: the config's settings win; the feed is listed once.
    write_config(tmp_path, [configured, added], fetch_pages=False)
    records = listing(config)
    assert [r["url"] for r in records] == [configured, added]
    assert records[1]["origin"] == "config" and records[1]["name"] == "Feed 1"
    # ... and taken out of config.toml again, it is the command's feed once more
    write_config(tmp_path, [configured], fetch_pages=False)
    assert [r["origin"] for r in listing(config)] == ["config", "command"]


def test_text_listing(tmp_path: Path, feed_server: FeedServer) -> None:
    gone = feed_server.put("/gone.xml", "gone", "text/plain", status=410)
    config = write_config(tmp_path, [gone], fetch_pages=False)
    monitor(config, "run", "--once")
    text = monitor(config, "feeds")
    assert text.returncode == 0
    assert "disabled" in text.stdout and "410 Gone" in text.stdout and gone in text.stdout


def test_opml_import_checks_each_feed_as_add_does(tmp_path: Path, feed_server: FeedServer) -> None:
    """Every new feed fetched first (here all on 127.0.0.1): a 404 and a page announcing no feed
    are reported with their reason and not followed; a page announcing one gives its feed."""
    good = feed_server.put("/good.xml", rss("Good feed", [{"title": "A story", "link":
                                                         feed_server.url("/s")}]),
                           "application/rss+xml")
    linked = feed_server.put("/linked.xml", atom("Linked feed", []), "application/atom+xml")
    site = feed_server.put("/site/", f'<html><head><link rel="alternate" type="application/atom+xml" '
                                     f'href="{linked}"></head><body>Site</body></html>')
    bare = feed_server.put("/bare/", "<html><body>No feed announced here.</body></html>")
    missing = feed_server.url("/missing.xml")
    config = write_config(tmp_path, [], fetch_pages=False)
    opml = tmp_path / "list.opml"
    opml.write_text(render_opml([OpmlFeed(good, "Good"), OpmlFeed(site, "Site"),
                                 OpmlFeed(missing, "Missing"), OpmlFeed(bare, "Bare")]),
                    encoding="utf-8")
    imported = monitor(config, "feeds", "import", str(opml))
    assert imported.returncode == 1
    assert (f"{opml}: not followed: {missing}: HTTP 404 Not Found at {missing}"
            in imported.stderr)
    assert f"{opml}: not followed: {bare}: no feed at {bare}" in imported.stderr
    assert ("2 feeds imported, 0 already followed, 0 skipped, 2 failed the check"
            in imported.stderr)
    records = {r["url"]: r for r in listing(config)}
    assert set(records) == {good, linked}  # the site's own feed, not the site's page
    assert records[linked]["name"] == "Site" and records[linked]["title"] == "Linked feed"
    # Again: nothing new to fetch or follow; the failed ones are reported again.
    again = monitor(config, "feeds", "import", str(opml))
    assert "0 feeds imported, 2 already followed, 0 skipped, 2 failed the check" in again.stderr
