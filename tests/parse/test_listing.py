"""monitor.parse.listing: the links of a watched page that are stories (pure, on HTML text):
the newsroom's releases and nothing of its furniture, selectors and patterns, the reasons an
empty page gives, and bounded work on a page of a million links."""

from __future__ import annotations

import datetime as dt

import pytest
from support.newsroom import PRESS, item_date, newsroom

from monitor.errors import BrokenListing, ParseError
from monitor.parse.listing import (MAX_ANCHORS, MAX_LINKS, compile_pattern, listing_entries,
                                   read_listing)

SITE = "https://police.example"
PAGE = SITE + PRESS
ITEMS = [("iptv-raid", "Officers raid illegal IPTV operation"),
         ("court-order", "Court orders blocking of sports piracy sites"),
         ("charity-run", "Officers complete charity run")]
RELEASES = [(f"{PAGE}/{slug}", title) for slug, title in ITEMS]


def links(html: str, url: str = PAGE, **options: str) -> list[tuple[str, str]]:
    listing = read_listing(html.encode("utf-8"), {}, url, **options)
    return [(link.url, link.title) for link in listing.links]


def page(body: str, head: str = "") -> str:
    return f"<!DOCTYPE html><html><head>{head}<title>T</title></head><body>{body}</body></html>"


@pytest.mark.parametrize("options", [
    {},  # the page's main region
    {"selector": "ul.press-list"},
    {"selector": "li.press-item h3"},
    {"pattern": f"{PRESS}/*"},
    {"selector": "main", "pattern": f"re:{PRESS}/[a-z-]+$"},
    {"pattern": f"{PAGE}/*"},
], ids=["main", "list", "headlines", "path-glob", "regex", "url-glob"])
def test_the_newsroom_gives_its_releases_and_nothing_else(options: dict[str, str]) -> None:
    assert links(newsroom(ITEMS), **options) == RELEASES


@pytest.mark.parametrize("anchor", [
    '<nav><a href="/about">About us</a></nav>',
    '<div role="navigation"><a href="/about">About us</a></div>',
    '<header><a href="/about">About us</a></header>',
    '<footer><a href="/privacy">Privacy</a></footer>',
    '<aside><a href="/most-read">Most read</a></aside>',
    '<ul class="menu"><li><a href="/about">About us</a></li></ul>',
    '<div class="breadcrumbs"><a href="/news">News</a></div>',
    '<div class="pagination"><a href="/news/older">Older</a></div>',
    '<a href="/news/2026" rel="next">Continue</a>',
    '<a href="/news?page=2">Page two</a>',
    '<a href="/news/page/2/">Page two</a>',
    '<a href="/news/archive-2025">2</a>',
    '<a href="/news/archive-2025">Next</a>',
    '<a href="#comments">Comments</a>',
    '<a href="/news#top">Top</a>',
    '<a href="/news">This page again</a>',
    '<a href="https://www.facebook.com/sharer/sharer.php?u=x">Share</a>',
    '<a href="https://x.com/intent/post?url=x">Post</a>',
    '<a href="https://t.me/share/url?url=x">Telegram</a>',
    '<a href="https://other.example/story">Another site\'s story</a>',
    '<a href="mailto:press@police.example">Mail us</a>',
    '<a href="javascript:void(0)">Menu</a>',
    '<a href="tel:+441234">Call</a>',
    '<a href="ftp://police.example/file">File</a>',
    '<a>No address</a>',
    '<a href="http://[::1">Broken IPv6</a>',
    '<a href="http://[not-an-address]/x">Not an address</a>',
    '<a href="https://police.example:99999/news/x">Port out of range</a>',
    f'<a href="/news/{"x" * 3000}">Too long</a>',
], ids=lambda a: a[:40])
def test_furniture_is_never_a_story(anchor: str) -> None:
    html = page(f'<main>{anchor}<a href="/news/story-1">A release</a></main>')
    assert links(html, SITE + "/news") == [(SITE + "/news/story-1", "A release")]


def test_an_articles_own_header_holds_its_headline() -> None:
    html = page('<main><article><header><h2><a href="/n/1">Headline</a></h2></header>'
                '</article></main>')
    assert links(html, SITE + "/n") == [(SITE + "/n/1", "Headline")]


def test_each_story_once_with_its_longest_text_in_page_order() -> None:
    html = page('<main><a href="/n/1"><img src="x.jpg" alt=""></a><a href="/n/1?utm_source=x">'
                'The headline</a><a href="/n/2">Second</a><a href="/n/1#more">More on it</a>'
                '<a href="/n/3"><img src="y.jpg" alt="A picture story"></a></main>')
    assert links(html, SITE + "/n") == [(SITE + "/n/1", "The headline"),
                                        (SITE + "/n/2", "Second"),
                                        (SITE + "/n/3", "A picture story")]


def test_a_link_saying_read_more_leaves_the_headline_to_the_page() -> None:
    html = page('<main><div class="teaser"><img src="a.jpg"><a href="/n/1">Read more »</a></div>'
                '<a href="/n/2">Lire la suite…</a><a href="/n/2">Le titre</a></main>')
    assert links(html, SITE + "/n") == [(SITE + "/n/1", ""), (SITE + "/n/2", "Le titre")]


@pytest.mark.parametrize(("item", "published"), [
    ('<li><time datetime="2026-11-03T10:30:00+01:00">3 Nov</time><a href="/n/1">One</a></li>',
     dt.datetime(2026, 11, 3, 9, 30, tzinfo=dt.timezone.utc)),
    # the item links twice to its story (headline, "more"): still one story's item
    ('<li><div><h2><a href="/n/1">One</a></h2></div><p><time datetime="2026-11-03Z">x</time></p>'
     '<a href="/n/1?from=more">More on this</a></li>',
     dt.datetime(2026, 11, 3, tzinfo=dt.timezone.utc)),
    ('<li><time datetime="2026-13-45">x</time><a href="/n/1">One</a></li>', None),
    ('<li><h2><a href="/n/1">One</a></h2><time datetime="2026-11-03">3 Nov</time></li>',
     dt.datetime(2026, 11, 3, tzinfo=dt.timezone.utc)),
    ('<li><a href="/n/1">One</a></li>', None),
    ('<li><time datetime="yesterday">x</time><a href="/n/1">One</a></li>', None),
    # the list's own date, shared by links to several stories, is no item's
    ('<li><a href="/n/1">One</a></li><time datetime="2026-11-03">x</time>', None),
])
def test_a_link_takes_its_items_date(item: str, published: dt.datetime | None) -> None:
    html = page(f'<main><ul>{item}<li><a href="/n/2">Two</a></li></ul></main>')
    listing = read_listing(html.encode(), {}, SITE + "/n")
    assert listing.links[0].url == SITE + "/n/1" and listing.links[0].published == published


def test_a_pattern_lets_another_host_in_and_www_is_the_same_host() -> None:
    html = page('<main><a href="https://www.police.example/n/1">Ours</a>'
                '<a href="https://cdn.partner.example/press/2">Partner</a>'
                '<a href="https://elsewhere.example/press/3">Elsewhere</a></main>')
    assert links(html, SITE + "/n") == [("https://www.police.example/n/1", "Ours")]
    assert links(html, SITE + "/n", pattern="https://*.partner.example/press/*") == [
        ("https://cdn.partner.example/press/2", "Partner")]
    assert links(html, SITE + "/n", pattern="re:/(n|press)/\\d") == [
        ("https://www.police.example/n/1", "Ours"), ("https://cdn.partner.example/press/2", "Partner"),
        ("https://elsewhere.example/press/3", "Elsewhere")]


def test_a_broken_base_href_is_ignored() -> None:
    html = page('<main><a href="/n/1">One</a></main>', head='<base href="http://[::1">')
    assert links(html, SITE + "/") == [(SITE + "/n/1", "One")]


def test_relative_links_follow_base_href() -> None:
    html = page('<main><a href="2026/raid">Raid</a></main>', head='<base href="/releases/">')
    assert links(html, SITE + "/index.php") == [(SITE + "/releases/2026/raid", "Raid")]


def test_the_declared_charset_is_used() -> None:
    html = page('<main><a href="/n/1">Démantèlement d\'un réseau</a></main>')
    listing = read_listing(html.encode("latin-1"), {"content-type": "text/html; charset=iso-8859-1"},
                           SITE + "/n")
    assert [link.title for link in listing.links] == ["Démantèlement d'un réseau"]
    meta = page('<main><a href="/n/1">Démantèlement</a></main>', head='<meta charset="windows-1252">')
    listing = read_listing(meta.encode("cp1252"), {}, SITE + "/n")
    assert [link.title for link in listing.links] == ["Démantèlement"]


@pytest.mark.parametrize(("pattern", "url", "matches"), [
    ("/news/*", "https://a.example/news/1", True),
    ("/news/*", "https://a.example/blog/news/1", False),
    ("/news/*", "https://a.example/news?id=3", False),
    ("/news*", "https://a.example/news?id=3", True),
    ("https://a.example/*/2026/*", "https://a.example/press/2026/raid", True),
    ("https://a.example/*/2026/*", "https://b.example/press/2026/raid", False),
    ("re:/\\d{4}/\\d{2}/", "https://a.example/2026/11/raid", True),
    ("re:^https://a\\.example/", "https://b.example/a.example/", False),
])
def test_patterns(pattern: str, url: str, matches: bool) -> None:
    accept = compile_pattern(pattern)
    assert accept is not None and accept(url) is matches


def test_no_pattern_accepts_nothing_special() -> None:
    assert compile_pattern("") is None and compile_pattern("  ") is None


@pytest.mark.parametrize("bad", ["ul..items", "div[", "a:unknown-pseudo"])
def test_an_invalid_selector_is_named(bad: str) -> None:
    with pytest.raises(ParseError, match="invalid CSS selector"):
        read_listing(newsroom(ITEMS).encode(), {}, PAGE, selector=bad)


def test_an_invalid_regex_is_named() -> None:
    with pytest.raises(ParseError, match="invalid regular expression"):
        compile_pattern("re:(unclosed")


def test_a_redesigned_page_is_broken_with_the_reason() -> None:
    redesigned = newsroom(ITEMS, layout="cards").encode()
    with pytest.raises(BrokenListing, match="'ul.press-list' matches nothing") as caught:
        listing_entries(redesigned, {}, PAGE, page_url=PAGE, selector="ul.press-list")
    assert caught.value.url == PAGE
    with pytest.raises(BrokenListing, match="none of the .* links .* matches the pattern"):
        listing_entries(redesigned, {}, PAGE, page_url=PAGE, pattern=f"{PRESS}/*")
    with pytest.raises(BrokenListing, match="is a story"):
        listing_entries(redesigned, {}, PAGE, page_url=PAGE)


def test_entries_are_the_links_of_the_watched_page() -> None:
    meta, entries = listing_entries(newsroom(ITEMS).encode(), {}, PAGE + "?from=moved",
                                    page_url=PAGE, selector="ul.press-list")
    assert meta.title == "Press releases | County Police" and meta.problem is None
    midnight = dt.time(tzinfo=dt.timezone.utc)
    assert [(e.feed_url, e.url, e.title, e.guid, e.published) for e in entries] == [
        (PAGE, url, title, None, dt.datetime.combine(item_date(n), midnight))
        for n, (url, title) in enumerate(RELEASES)]


def many_links(n: int) -> bytes:
    return ("<html><body><main>" + "".join(f'<a href="/n/{i}">Item {i}</a>' for i in range(n))
            + "</main></body></html>").encode()


def test_a_million_links_give_at_most_max_links() -> None:
    meta, entries = listing_entries(many_links(1_000_000), {}, SITE + "/", page_url=SITE + "/")
    assert len(entries) == MAX_LINKS and entries[-1].url == f"{SITE}/n/{MAX_LINKS - 1}"
    assert meta.problem and "narrow the selector" in meta.problem


def test_links_none_of_which_matches_are_looked_at_up_to_max_anchors() -> None:
    listing = read_listing(many_links(100_000), {}, SITE + "/", pattern="re:/nothing/")
    assert listing.links == () and listing.anchors == MAX_ANCHORS + 1 and listing.truncated


def test_deep_nesting_costs_its_size_not_links_times_depth() -> None:
    """Each element is judged once (furniture or not), however many links sit below it."""
    html = ("<html><body><main>" + "<div>" * 200 + "".join(
        f'<header><a href="/n/{i}">Item {i}</a></header>' for i in range(MAX_ANCHORS))
        + "</main></body></html>")
    listing = read_listing(html.encode(), {}, SITE + "/")
    assert listing.links == () and listing.anchors == MAX_ANCHORS


@pytest.mark.parametrize("body", [b"", b"\x00\x01\x02", b"<html>", b"%PDF-1.7 binary",
                                  b"<" * 10000, ("<div>" * 100_000).encode()])
def test_hostile_bodies_are_an_error_or_an_empty_listing(body: bytes) -> None:
    try:
        listing = read_listing(body, {}, SITE + "/")
    except ParseError as e:
        assert "not an HTML page" in str(e)
    else:
        assert listing.links == ()
