"""monitor.parse.search (pure): saved searches as the engines' RSS feeds, and the engines'
wrapped links unwrapped to the publishers' offline; the search feeds of tests/data/search read
as feeds, each link the publisher's."""

from __future__ import annotations

from urllib.parse import parse_qs, quote, urlsplit

import pytest
from hypothesis import given, strategies as st
from support.searchfeeds import bing_click, google_article_id, search_feed

from monitor.config import SearchConfig
from monitor.models import Entry
from monitor.parse.feeds import parse_feed
from monitor.parse.search import (as_feeds, is_engine_link, parse_locale, publisher_title,
                                  search_feeds, unwrap_entry, unwrap_link)

PUBLISHER = "https://www.piracy-daily.example"


def fixture(name: str, **values: str) -> bytes:
    return search_feed(name, base=values.pop("base", PUBLISHER), **values)


def test_a_search_runs_on_each_engine_in_each_locale() -> None:
    feeds = search_feeds('"pirate IPTV" arrest', ("en-US", "fr-FR"), ("google", "bing"))
    assert feeds == [
        ("google en-US", "https://news.google.com/rss/search?q=%22pirate+IPTV%22+arrest"
                         "&hl=en-US&gl=US&ceid=US:en"),
        ("google fr-FR", "https://news.google.com/rss/search?q=%22pirate+IPTV%22+arrest"
                         "&hl=fr&gl=FR&ceid=FR:fr"),
        ("bing en-US", "https://www.bing.com/news/search?q=%22pirate+IPTV%22+arrest&format=rss"
                       "&setlang=en-US&cc=US"),
        ("bing fr-FR", "https://www.bing.com/news/search?q=%22pirate+IPTV%22+arrest&format=rss"
                       "&setlang=fr-FR&cc=FR"),
    ]


def test_a_custom_engine_is_a_template() -> None:
    [(label, url)] = search_feeds("IPTV & piratage", ("fr-FR",),
                                  ("https://searx.example/search?q={query}&language={locale}"
                                   "&format=rss",))
    assert label == "searx.example fr-FR"
    assert url == "https://searx.example/search?q=IPTV+%26+piratage&language=fr-FR&format=rss"


def test_a_search_becomes_feeds_of_kind_search() -> None:
    search = SearchConfig(query="IPTV arrest", locales=("en-GB",), engines=("bing",),
                          name="IPTV", interval=1800.0, enabled=False)
    [feed] = as_feeds(search)
    assert (feed.kind, feed.name, feed.interval, feed.enabled) == (
        "search", "IPTV (bing en-GB)", 1800.0, False)
    assert parse_qs(urlsplit(feed.url).query)["q"] == ["IPTV arrest"]


@pytest.mark.parametrize("bad", ["fr", "FR-fr", "fr_FR", "french", ""])
def test_a_locale_is_language_and_country(bad: str) -> None:
    with pytest.raises(ValueError, match="fr-FR"):
        parse_locale(bad)


STORY = "https://www.publisher.example/2026/11/raid.html?id=7"


@pytest.mark.parametrize(("link", "publisher"), [
    # Google Alerts and Google's redirects: url=, else q=
    (f"https://www.google.com/url?rct=j&sa=t&url={quote(STORY, safe='')}&ct=ga&usg=AOv", STORY),
    (f"https://www.google.fr/url?q={quote(STORY, safe='')}&sa=U", STORY),
    (f"https://google.co.uk/url?sa=t&url={quote(STORY, safe='')}", STORY),
    # Google News article ids of the older kind carry the URL
    (f"https://news.google.com/rss/articles/{google_article_id(STORY)}?oc=5", STORY),
    (f"https://news.google.com/articles/{google_article_id(STORY + '&x=' + 'y' * 200)}",
     STORY + "&x=" + "y" * 200),
    # Bing News click links and Bing's /ck/a
    (f"http://www.bing.com/news/apiclick.aspx?ref=FexRss&aid=&tid=1&url={quote(STORY, safe='')}"
     "&c=1&mkt=en-us", STORY),
    (f"https://www.bing.com/ck/a?!&&p=abc&u={bing_click(STORY)}&ntb=1", STORY),
])
def test_engine_links_are_unwrapped_offline(link: str, publisher: str) -> None:
    assert unwrap_link(link) == publisher


@pytest.mark.parametrize("link", [
    STORY,  # a publisher's own link
    "https://www.publisher.example/url?url=https://elsewhere.example/",  # not an engine
    "https://google.evil.example/url?url=https://x.example/",
    "https://www.google.com/url?url=javascript:alert(1)",  # not a web address
    "https://www.google.com/url?url=/relative",
    "https://www.google.com/search?q=iptv",
    "https://news.google.com/rss/articles/CBMiOpaqueIdOfTheNewerKind?oc=5",
    "https://news.google.com/rss/articles/%%%",
    "https://www.bing.com/news/apiclick.aspx?url=",
    "https://www.bing.com/ck/a?u=a1%%%",
    "http://[::1",
])
def test_other_links_are_left_alone(link: str) -> None:
    assert unwrap_link(link) is None


@given(st.text(max_size=300))
def test_unwrapping_never_fails(text: str) -> None:
    for link in (text, f"https://news.google.com/rss/articles/{text}",
                 f"https://www.google.com/url?url={text}", f"https://www.bing.com/ck/a?u=a1{text}"):
        found = unwrap_link(link)
        assert found is None or found.startswith(("http://", "https://"))


def test_links_still_at_an_engine_need_one_redirect() -> None:
    assert is_engine_link("https://news.google.com/rss/articles/CBMiOpaque?oc=5")
    assert is_engine_link("https://www.bing.com/news/apiclick.aspx?tid=1")
    assert is_engine_link("http://127.0.0.1:8080/r/1", "http://127.0.0.1:8080/rss/search?q=x")
    assert not is_engine_link(STORY)
    assert not is_engine_link("https://www.google.com/search?q=x")


@pytest.mark.parametrize(("title", "source", "headline"), [
    ("Police arrest three - Piracy Daily", "Piracy Daily", "Police arrest three"),
    ("Police arrest three - Piracy Daily", "", "Police arrest three - Piracy Daily"),
    ("Q&A - the raid - explained", "Other", "Q&A - the raid - explained"),
])
def test_the_publishers_name_leaves_the_headline(title: str, source: str, headline: str) -> None:
    assert publisher_title(title, source) == headline


def _entries(name: str, **values: str) -> list[Entry]:
    meta, entries = parse_feed(fixture(name, **values), {}, "https://engine.example/feed")
    assert meta.title
    return [unwrap_entry(e) for e in entries]


def test_a_google_news_search_feed() -> None:
    opaque = "https://news.google.com/rss/articles/CBMiOpaqueIdOfTheNewerKind_2?oc=5"
    entries = _entries("google-news-search.xml", engine="https://news.google.com",
                       redirect=opaque)
    assert [(e.url, e.title, e.source) for e in entries] == [
        (f"{PUBLISHER}/stories/police-arrest-three", "Police arrest three over pirate IPTV service",
         "Piracy Daily"),
        # the newer ids carry nothing: one redirect away (pipeline.sources.resolve_links)
        (opaque, "Illegal streaming network dismantled in joint operation", "Le Courrier"),
    ]
    assert entries[0].guid and entries[0].published is not None


def test_a_bing_news_search_feed() -> None:
    entries = _entries("bing-news-search.xml", engine="https://www.bing.com")
    assert [(e.url, e.source) for e in entries] == [
        (f"{PUBLISHER}/stories/demantelement-iptv", "Le Courrier"),
        (f"{PUBLISHER}/stories/site-streaming-ferme", "Piracy Daily")]
    assert entries[0].title == "Démantèlement d'un réseau IPTV pirate : trois arrestations"


def test_a_google_alerts_feed() -> None:
    [entry] = _entries("google-alerts.xml", engine="https://www.google.com")
    assert entry.url == f"{PUBLISHER}/stories/alert-story"
    assert entry.title == "Operators of pirate IPTV service arrested"
