"""feeds.parse_feed on documents written here: JSON Feed 1.0 and 1.1, stable identity for
entries with neither link nor guid, dates in UTC, schedule hints."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from monitor.errors import ParseError
from monitor.parse.feeds import parse_feed

UTC = dt.timezone.utc
FEED_URL = "https://example.org/feed"


def parse(doc: str | bytes | dict, ctype: str = "application/rss+xml"):
    data = json.dumps(doc).encode() if isinstance(doc, dict) else (
        doc.encode() if isinstance(doc, str) else doc)
    return parse_feed(data, {"content-type": ctype}, FEED_URL)


def test_json_feed_1_1() -> None:
    meta, entries = parse({
        "version": "https://jsonfeed.org/version/1.1", "title": "Piracy Daily",
        "home_page_url": "https://example.org/", "authors": [{"name": "Desk"}],
        "items": [
            {"id": "a1", "url": "https://example.org/a1", "title": "Raid",
             "content_html": "<p>Police raided</p>", "summary": "Short",
             "date_published": "2026-11-03T10:00:00+02:00", "authors": [{"name": "Jane"}, {"name": "Ann"}]},
            {"id": "a2", "external_url": "https://other.example/a2", "content_text": "Text only",
             "date_modified": "2026-11-03T08:00:00Z"},
        ]}, "application/feed+json")
    assert meta.title == "Piracy Daily" and meta.link == "https://example.org/" and meta.problem is None
    first, second = entries
    assert (first.guid, first.url, first.title, first.author) == ("a1", "https://example.org/a1", "Raid", "Jane, Ann")
    assert first.content == "<p>Police raided</p>" and first.summary == "Short"
    assert first.published == dt.datetime(2026, 11, 3, 8, 0, tzinfo=UTC)  # to UTC
    assert second.url == "https://other.example/a2" and second.content == "Text only"
    assert second.author == "Desk"  # the feed's authors when the item names none
    assert second.published == dt.datetime(2026, 11, 3, 8, 0, tzinfo=UTC)


def test_json_feed_1_0() -> None:
    _, entries = parse({
        "version": "https://jsonfeed.org/version/1", "title": "Old",
        "author": {"name": "Feed author"},
        "items": [{"id": 42, "url": "https://example.org/42", "title": "Numbered",
                   "author": {"name": "Item author"}, "date_published": "2026-11-03T10:00:00"}]})
    assert entries[0].guid == "42" and entries[0].author == "Item author"
    assert entries[0].published == dt.datetime(2026, 11, 3, 10, 0, tzinfo=UTC)  # no zone: UTC


def test_json_feed_wrong_types_drop_the_field_not_the_item() -> None:
    meta, entries = parse({
        "version": "https://jsonfeed.org/version/1.1", "title": ["not a string"],
        "authors": {"not": "a list"},
        "items": [{"id": "1", "title": 1000, "url": 1.2, "content_html": True,
                   "date_published": "not a date", "authors": "nope"},
                  "not an item", {"id": {"a": 1}, "title": "Only a title"}]})
    assert meta.title == ""
    assert [e.title for e in entries] == ["", "Only a title"]
    assert entries[0].guid == "1" and entries[0].url is None and entries[0].published is None
    assert entries[1].guid.startswith("urn:monitor:")


def test_json_that_is_not_a_json_feed() -> None:
    with pytest.raises(ParseError, match="RSS-in-JSON"):
        parse({"rss": {"channel": {"title": "x"}}})
    with pytest.raises(ParseError, match="invalid JSON"):
        parse(b'{"version": "https://jsonfeed.org/version/1.1", "items": [')
    meta, entries = parse({"version": "https://jsonfeed.org/version/9", "items": []})
    assert entries == [] and "unknown JSON Feed version" in (meta.problem or "")
    meta, entries = parse(b"\xef\xbb\xbf" + json.dumps(
        {"version": "https://jsonfeed.org/version/1.1", "items": [{"id": "x", "title": "BOM"}]}).encode())
    assert entries[0].title == "BOM"


def rss_items(items: str, extra: str = "") -> str:
    return (f'<?xml version="1.0"?><rss version="2.0" '
            f'xmlns:sy="http://purl.org/rss/1.0/modules/syndication/"><channel><title>T</title>'
            f"{extra}{items}</channel></rss>")


def test_entries_without_link_or_guid_get_a_stable_identity() -> None:
    items = ("<item><title>Court orders ISPs to block sites</title>"
             "<pubDate>Tue, 03 Nov 2026 09:00:00 +0100</pubDate></item>"
             "<item><description>An item with only a description</description></item>"
             "<item></item>")
    _, first = parse(rss_items(items))
    _, again = parse(rss_items("<item><title>Something new</title><link>https://e.org/n</link></item>" + items))
    assert len(first) == 2  # the empty item has nothing to read and is skipped
    assert all(e.guid and e.guid.startswith("urn:monitor:") for e in first)
    assert [e.guid for e in again[1:]] == [e.guid for e in first]
    assert first[0].published == dt.datetime(2026, 11, 3, 8, 0, tzinfo=UTC)
    _, other_feed = parse_feed(rss_items(items).encode(), {}, "https://other.example/feed")
    assert other_feed[0].guid != first[0].guid  # the same headline in another feed is another story


def test_feed_hints() -> None:
    meta, _ = parse(rss_items("<item><title>a</title><link>https://e.org/a</link></item>",
                              "<ttl>90</ttl><sy:updatePeriod>hourly</sy:updatePeriod>"
                              "<sy:updateFrequency>4</sy:updateFrequency>"))
    assert meta.ttl == 90 * 60 and meta.update_period == 900


def test_an_empty_feed_is_a_feed_and_html_is_not() -> None:
    meta, entries = parse(rss_items(""))
    assert entries == [] and meta.title == "T"
    with pytest.raises(ParseError, match="HTML page"):
        parse("<!DOCTYPE html><html><head><title>Home</title></head><body>hi</body></html>",
              "text/html")
