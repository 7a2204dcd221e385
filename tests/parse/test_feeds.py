"""monitor.feeds: parse_feed on real feed files (tests/data/feeds/, expectations in
expected.json beside them) and on small hand-written documents. Pure: bytes in, records out."""

from __future__ import annotations

import datetime as dt
import json
from urllib.parse import urljoin
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings, strategies as st

from monitor.errors import FeedError, ParseError
from monitor.parse.feeds import parse_feed
from monitor.models import Entry, FeedMeta

DATA = Path(__file__).resolve().parents[1] / "data" / "feeds"
EXPECTED: dict[str, dict[str, Any]] = json.loads((DATA / "expected.json").read_text(encoding="utf-8"))
FEEDS = sorted(name for name, e in EXPECTED.items() if "error" not in e)
NOT_FEEDS = sorted(name for name, e in EXPECTED.items() if "error" in e)
URL = "https://feeds.example.org/feed"


def parse_file(name: str) -> tuple[FeedMeta, list[Entry]]:
    return parse_feed((DATA / name).read_bytes(), EXPECTED[name]["headers"], URL)


def test_the_fixtures_cover_every_format() -> None:
    formats = " | ".join(e["format"] for e in EXPECTED.values())
    for needed in ("RSS 0.91", "RSS 1.0", "RSS 2.0", "Atom 0.3", "Atom 1.0", "JSON Feed 1.0",
                   "JSON Feed 1.1", "ill-formed", "HTML", "windows-1252"):
        assert needed in formats
    assert sorted(p.name for p in DATA.iterdir() if p.is_file() and p.name not in
                  ("expected.json", "README.md")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", FEEDS)
def test_feed_file(name: str) -> None:
    expected = EXPECTED[name]
    meta, entries = parse_file(name)
    assert len(entries) == expected["entries"]
    if expected["feed_title"] is not None:
        assert meta.title == expected["feed_title"]
    if expected["ill_formed"]:
        assert meta.problem, "an ill-formed feed that still yields entries records its problem"
    else:
        assert meta.problem is None
    want = expected["entry"]
    entry = entries[want["index"]]
    assert entry.title == want["title"]
    assert entry.feed_url == URL
    for key in ("url", "guid", "author", "summary"):
        if key in want:
            assert getattr(entry, key) == want[key], key
    if "published" in want:
        published = None if want["published"] is None else dt.datetime.fromisoformat(want["published"])
        assert entry.published == published


@pytest.mark.parametrize("name", FEEDS)
def test_every_entry_is_identified_and_dated_in_utc(name: str) -> None:
    _, entries = parse_file(name)
    for entry in entries:
        assert entry.url or entry.guid or entry.title
        assert entry.title == entry.title.strip()
        if entry.published is not None:
            assert entry.published.tzinfo is not None
            assert entry.published.utcoffset() == dt.timedelta(0)


@pytest.mark.parametrize("name", NOT_FEEDS)
def test_not_a_feed_file_raises_parse_error(name: str) -> None:
    with pytest.raises(ParseError) as info:
        parse_file(name)
    assert info.value.url == URL
    assert "not a feed" in str(info.value)


def test_rss_item_without_title_or_link_is_kept_by_its_guid() -> None:
    # rss2sample.xml's second item has only a description, a date and a (permalink) guid.
    _, entries = parse_file("rss2sample.xml")
    entry = entries[1]
    assert entry.title == ""
    assert entry.guid == "http://liftoff.msfc.nasa.gov/2003/05/30.html#item572"
    assert "partial eclipse of the Sun" in entry.summary
    assert entry.published == dt.datetime(2003, 5, 30, 11, 6, 42, tzinfo=dt.timezone.utc)


def test_atom_offset_dates_are_converted_to_utc() -> None:
    # <issued>2003-12-13T08:29:29-04:00</issued>
    _, (entry,) = parse_file("TestParseAtom03.xml")
    assert entry.published == dt.datetime(2003, 12, 13, 12, 29, 29, tzinfo=dt.timezone.utc)
    assert entry.summary == "It's a test"
    assert entry.content == "<p>HTML content</p>"


def test_json_feed_offset_dates_are_converted_to_utc() -> None:
    # "date_published": "2017-05-17T08:02:12-07:00"
    _, (entry,) = parse_file("jsonfeed_spec_1.json")
    assert entry.published == dt.datetime(2017, 5, 17, 15, 2, 12, tzinfo=dt.timezone.utc)
    assert entry.content.startswith("<p>We — Manton Reece and Brent Simmons")


def test_ill_formed_feed_keeps_the_entries_after_the_error() -> None:
    meta, entries = parse_file("saxerror.xml")
    assert [e.title for e in entries] == ["Good Item", "Bad Item", "Item After Error"]
    assert meta.problem


def test_charset_from_content_type_decodes_the_feed() -> None:
    meta, (entry,) = parse_file("http_text_xml_charset_2.xml")
    assert entry.summary == "This is a £“test.”"
    assert meta.problem is None


# --- hand-written documents ----------------------------------------------------------------------

def rss(items: str) -> bytes:
    return (f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>T</title>'
            f"<link>https://site.example/</link>{items}</channel></rss>").encode()


def test_entry_with_a_guid_but_no_link_is_kept() -> None:
    _, entries = parse_feed(rss(
        '<item><title>Raid on IPTV sellers</title><guid isPermaLink="false">urn:story:42</guid></item>'),
        {"content-type": "application/rss+xml"}, URL)
    (entry,) = entries
    assert entry.url is None
    assert entry.guid == "urn:story:42"
    assert entry.title == "Raid on IPTV sellers"


def test_entries_without_link_or_guid_get_a_stable_identity_and_empty_ones_are_dropped() -> None:
    feed = rss("<item><description>orphan text</description></item>"
               "<item><title>Kept</title></item><item></item>")
    _, entries = parse_feed(feed, {}, URL)
    assert [e.title for e in entries] == ["", "Kept"]  # the empty <item> is dropped
    assert all(e.guid and e.url is None for e in entries)
    assert entries[0].guid != entries[1].guid
    _, again = parse_feed(feed, {}, URL)  # polled again: the same identities
    assert [e.guid for e in again] == [e.guid for e in entries]


def test_rss_dates_in_any_zone_come_out_in_utc() -> None:
    _, (entry,) = parse_feed(rss("<item><title>x</title><link>https://site.example/x</link>"
                                 "<pubDate>Tue, 05 Mar 2024 23:30:00 +0100</pubDate></item>"), {}, URL)
    assert entry.published == dt.datetime(2024, 3, 5, 22, 30, tzinfo=dt.timezone.utc)


def test_valid_feed_without_entries_is_not_an_error() -> None:
    meta, entries = parse_feed(rss(""), {}, URL)
    assert entries == [] and meta.title == "T" and meta.problem is None


def test_json_feed_with_only_an_id_is_kept() -> None:
    doc = {"version": "https://jsonfeed.org/version/1.1", "title": "J",
           "items": [{"id": 7, "content_text": "text only"}, {"content_text": "no id"}]}
    _, entries = parse_feed(json.dumps(doc).encode(), {}, URL)
    first, second = entries
    assert (first.guid, first.url, first.content) == ("7", None, "text only")
    # no id and no url: a stable identity made from the feed and the text
    assert second.url is None and second.guid and second.guid.startswith("urn:monitor:")


def test_json_feed_with_a_utf8_bom_is_read() -> None:
    # RFC 8259 lets a parser ignore a BOM, and json.loads() does; parse_feed only looks for "{"
    # after lstrip(), so a BOM'd JSON Feed goes to feedparser and comes back "not a feed".
    content = b"\xef\xbb\xbf" + (DATA / "jsonfeed_spec_1.json").read_bytes()
    _, entries = parse_feed(content, {"content-type": "application/feed+json"}, URL)
    assert [e.title for e in entries] == ["Announcing JSON Feed"]


@pytest.mark.parametrize("content", [
    b"",
    b"   \n\t ",
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x10",
    bytes(range(256)) * 4,
    b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03garbage",
    b"Just some plain text, no markup at all.",
    b"<html><body><p>Hello</p></body></html>",
    b"{not json",
    b'{"version": "https://jsonfeed.org/version/1.1", "items": "nope"}',
    b"[1, 2, 3]",
], ids=lambda c: repr(c[:20]))
def test_garbage_raises_parse_error(content: bytes) -> None:
    with pytest.raises(ParseError) as info:
        parse_feed(content, {}, URL)
    assert info.value.url == URL


def test_deeply_nested_json_raises_parse_error() -> None:
    # json.loads raises RecursionError (not a ValueError) on very deep nesting.
    content = b'{"items": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    with pytest.raises(ParseError):
        parse_feed(content, {}, URL)


@pytest.mark.parametrize("authors", [5, True, 1.5, "Jane", {"name": "Jane"}, [None, 3, {"name": 4}]])
def test_json_feed_with_ill_typed_authors_does_not_crash(authors: object) -> None:
    doc = {"version": "https://jsonfeed.org/version/1.1",
           "items": [{"id": "1", "title": "t", "authors": authors}]}
    _, entries = parse_feed(json.dumps(doc).encode(), {}, URL)
    assert [e.title for e in entries] == ["t"]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=10),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3),
    max_leaves=8)
ITEM_KEYS = ("id", "url", "external_url", "title", "summary", "content_html", "content_text",
             "date_published", "date_modified", "author", "authors")
items = (st.fixed_dictionaries({"id": st.text(min_size=1, max_size=5)},
                               optional={key: json_values for key in ITEM_KEYS if key != "id"})
         | st.fixed_dictionaries({}, optional={key: json_values for key in ITEM_KEYS})
         | json_values)


@settings(max_examples=200, derandomize=True)
@given(st.lists(items, max_size=4), json_values)
def test_json_feed_of_any_shape_parses_or_raises_parse_error(items: list[Any], title: Any) -> None:
    doc = {"version": "https://jsonfeed.org/version/1", "title": title, "items": items}
    try:
        _, entries = parse_feed(json.dumps(doc).encode(), {}, URL)
    except ParseError:
        return
    for entry in entries:
        assert isinstance(entry.title, str) and isinstance(entry.author, str)
        assert entry.published is None or entry.published.utcoffset() == dt.timedelta(0)


@settings(max_examples=100, derandomize=True)
@given(st.binary(max_size=300))
def test_any_bytes_parse_or_raise_a_feed_error(content: bytes) -> None:
    try:
        parse_feed(content, {}, URL)
    except FeedError:
        pass


@pytest.mark.parametrize(("content", "entries", "problem"), [
    # feedparser recognises the format and a channel title: a feed, ill-formed (the corpus has
    # real feeds like this, with an undefined entity), and its problem is kept for the log
    (b"<rss version='2.0'><channel><title>cut off", 0, True),
    # JSON Feed read leniently, like the readers people use, so a feed they read is read here
    (b'{"version": "1", "items": []}', 0, False),
    (b'{"title": "no version", "items": [{"id": "1"}]}', 1, True),
], ids=["truncated-rss", "json-version-1", "json-no-version"])
def test_lenient_documents_are_feeds(content: bytes, entries: int, problem: bool) -> None:
    meta, found = parse_feed(content, {}, URL)
    assert len(found) == entries
    assert bool(meta.problem) is problem


def test_relative_links_are_resolved_against_where_the_feed_was_fetched() -> None:
    feed = rss('<item><title>a</title><link>/page/rel1</link><guid isPermaLink="false">/g/1</guid></item>'
               "<item><title>b</title><link>rel2</link></item>"
               "<item><title>c</title><link>//cdn.example/c</link></item>"
               "<item><title>d</title><link>https://other.example/d</link></item>")
    base = "https://feeds.example/news/feed.xml"  # after a redirect from URL
    _, entries = parse_feed(feed, {}, URL, base)
    assert [e.url for e in entries] == ["https://feeds.example/page/rel1",
                                        "https://feeds.example/news/rel2",
                                        "https://cdn.example/c", "https://other.example/d"]
    assert entries[0].guid == "/g/1"  # an identity, kept as written
    assert all(e.feed_url == URL for e in entries)
    _, (entry, *_) = parse_feed(feed, {}, URL)  # no base: the feed's own URL
    assert entry.url == urljoin(URL, "/page/rel1")


def test_xml_base_wins_over_the_feed_url_for_relative_links() -> None:
    atom = (b'<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom" '
            b'xml:base="https://base.example/sub/"><title>A</title><id>urn:a</id>'
            b'<entry><title>one</title><link href="p1"/><id>urn:1</id></entry>'
            b'<entry xml:base="/other/"><title>two</title><link href="p2"/><id>urn:2</id></entry>'
            b"</feed>")
    _, entries = parse_feed(atom, {}, URL, "https://feeds.example/atom.xml")
    assert [e.url for e in entries] == ["https://base.example/sub/p1",
                                        "https://base.example/other/p2"]


def test_relative_json_feed_urls_are_resolved_too() -> None:
    doc = {"version": "https://jsonfeed.org/version/1.1", "title": "J",
           "home_page_url": "/", "items": [{"id": "1", "url": "/story/1", "title": "t"}]}
    meta, (entry,) = parse_feed(json.dumps(doc).encode(), {}, URL, "https://feeds.example/f.json")
    assert entry.url == "https://feeds.example/story/1" and entry.guid == "1"
    assert meta.link == "https://feeds.example/"
