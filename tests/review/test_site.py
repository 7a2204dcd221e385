"""The review site in a real browser: `monitor serve` on 127.0.0.1 over a database
filled by `monitor run --once` from the test feed server, and Debian's Chromium driven by
Playwright (its bundled driver; the browser is the system's, never downloaded)."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.feedserver import FeedServer
from support.helpers import monitor
from support.review_helpers import ARTICLES, publish, review_config
from support.review_site import serving

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture
def site(tmp_path: Path, feed_server: FeedServer) -> Iterator[tuple[str, Path]]:
    """A database with three events (one told by two outlets), served read-only."""
    feed_a = publish(feed_server, "/a.xml", ["e1-a", "e2-a"], title="Piracy Daily")
    feed_b = publish(feed_server, "/b.xml", ["e1-c", "e3-a", "s1"], title="Broadcast Review")
    config = review_config(tmp_path, [feed_a, feed_b])
    done = monitor(config, "run", "--once")
    assert done.returncode == 0 and "5 new clippings, 4 flagged" in done.stdout, done.stdout
    with serving(config) as base:
        yield base, tmp_path / "monitor.db"


def get_json(url: str) -> object:
    return json.loads(urllib.request.urlopen(url, timeout=10).read())


def test_canned_queries_metadata_and_read_only(site: tuple[str, Path]) -> None:
    base, db = site
    rows = get_json(base + "/monitor/flagged_this_week.json?_shape=array")
    assert isinstance(rows, list) and len(rows) == 3  # three flagged events, one row each
    e1 = next(r for r in rows if "50,000" in r["story_markdown"])
    # in the order they were seen (the two feeds are polled at once: either may come first)
    assert sorted(e1["sources"].split(", ")) == ["Broadcast Review", "Piracy Daily"]
    assert e1["clippings"] == 2
    for name in ("by_rule", "by_source", "feed_health", "pending_or_failed_alerts",
                 "changed_pages"):
        assert isinstance(get_json(f"{base}/monitor/{name}.json?_shape=array"), list), name
    by_source = get_json(base + "/monitor/by_source.json?_shape=array")
    assert {r["source"]: r["clippings"] for r in by_source} == {
        "Piracy Daily": 3, "Broadcast Review": 1, "Business Wire": 1}  # the pages' site names
    meta = get_json(base + "/-/metadata.json")
    assert meta["databases"]["monitor"]["tables"]["clippings"]["title"] == "Clippings"
    facets = get_json(base + "/monitor/review.json?_facet=source&_facet=lang&_facet_array=rules")
    assert {f for f in facets["facet_results"]} >= {"source", "lang", "rules"}
    # Read-only: a write through Datasette's SQL page is refused, the file is untouched.
    before = db.stat().st_mtime_ns, db.read_bytes()
    with pytest.raises(urllib.error.HTTPError):
        urllib.request.urlopen(base + "/monitor.json?sql=" + urllib.parse.quote(
            "update clippings set title = 'x'"), timeout=10).read()
    assert (db.stat().st_mtime_ns, db.read_bytes()) == before


def test_in_chromium(site: tuple[str, Path], tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    assert CHROMIUM.exists(), ("Debian's chromium is missing: run scripts/install-test-deps "
                               "(the README's test command does)")
    base, _ = site
    with sync_playwright() as p:
        browser = p.chromium.launch_persistent_context(
            str(tmp_path / "profile"), executable_path=str(CHROMIUM), headless=True, args=FLAGS)
        try:
            page = browser.new_page()
            # The flagged canned query lists the expected stories, each linking to its page.
            page.goto(base + "/monitor/flagged_this_week")
            table = page.locator("table.rows-and-columns")
            text = table.inner_text()
            for article_id in ("e1-a", "e2-a", "e3-a"):
                assert ARTICLES[article_id]["title"] in text
            assert ARTICLES["s1"]["title"] not in text  # not flagged
            assert table.locator("tbody tr").count() == 3
            # A search finds a clipping by a word of its body only.
            page.goto(base + "/monitor/clippings")
            page.fill("input[name=_search]", "TeleFutbol")
            page.locator("input[name=_search]").press("Enter")
            page.wait_for_url("**_search=TeleFutbol**")
            rows = page.locator("table.rows-and-columns tbody tr")
            assert rows.count() == 2  # the report and its syndicated copy
            assert ARTICLES["e1-a"]["title"] in rows.first.inner_text()
            # The story page (from the flagged list) shows the clipping rendered, with its sources.
            page.goto(base + "/monitor/flagged_this_week")
            page.get_by_role("link", name=ARTICLES["e1-a"]["title"]).click()
            page.wait_for_url("**/monitor/story?id=*")
            heading = page.locator("table.rows-and-columns h1").first
            assert heading.inner_text() == ARTICLES["e1-a"]["title"]
            assert page.locator("table.rows-and-columns h2", has_text="Article:").count() == 2
            links = page.locator("table.rows-and-columns a", has_text="— article")
            assert links.count() == 2
            assert sorted(links.all_inner_texts()) == ["Broadcast Review — article",
                                                       "Piracy Daily — article"]
            assert links.first.get_attribute("href").startswith("http://127.0.0.1")
        finally:
            browser.close()
