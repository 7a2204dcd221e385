"""monitor.config: [[pages]] and [[searches]] read, refused with the key, and turned into the
feeds the scheduler polls (store.feedset.config_feeds). Pure: TOML text in, records out."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.config import PageConfig, SearchConfig, parse_config
from monitor.errors import ConfigError
from monitor.store.feedset import config_feeds

PATH = Path("/srv/monitor/etc/config.toml")  # parse_config reads no file

SOURCES = r'''
[[feeds]]
url = "https://torrentfreak.com/feed/"

[[pages]]
url = "https://police.example/press"
selector = "ul.press-list"
pattern = 're:/press/\d{4}/'
interval = "1h"

[[pages]]
url = "https://court.example/news"
enabled = false

[[searches]]
query = '"pirate IPTV" arrest'
locales = ["en-US", "fr-FR"]
engines = ["bing", "https://searx.example/search?q={query}&language={locale}&format=rss"]
backlog_max_age = "12h"
'''


def test_pages_and_searches_are_read() -> None:
    config = parse_config(SOURCES, PATH)
    assert config.pages == (
        PageConfig(url="https://police.example/press", selector="ul.press-list",
                   pattern=r"re:/press/\d{4}/", interval=3600.0),
        PageConfig(url="https://court.example/news", enabled=False))
    assert config.searches == (SearchConfig(
        query='"pirate IPTV" arrest', locales=("en-US", "fr-FR"),
        engines=("bing", "https://searx.example/search?q={query}&language={locale}&format=rss"),
        backlog_max_age=43200.0),)
    assert parse_config('[[searches]]\nquery = "iptv"\n', PATH).searches[0].engines == (
        "google", "bing")


def test_they_are_polled_as_feeds_of_their_kind() -> None:
    feeds = config_feeds(parse_config(SOURCES, PATH))
    assert [(f.kind, f.enabled) for f in feeds] == [
        ("feed", True), ("page", True), ("page", False)] + [("search", True)] * 4
    page = feeds[1]
    assert (page.selector, page.pattern, page.interval) == ("ul.press-list", r"re:/press/\d{4}/",
                                                            3600.0)
    searches = feeds[3:]
    assert [f.name for f in searches] == [
        '"pirate IPTV" arrest (bing en-US)', '"pirate IPTV" arrest (bing fr-FR)',
        '"pirate IPTV" arrest (searx.example en-US)', '"pirate IPTV" arrest (searx.example fr-FR)']
    assert searches[3].url == ("https://searx.example/search?q=%22pirate+IPTV%22+arrest"
                               "&language=fr-FR&format=rss")
    assert all(f.backlog_max_age == 43200.0 for f in searches)


@pytest.mark.parametrize(("text", "key"), [
    ('[[pages]]\nselector = "ul"\n', "pages[0].url"),
    ('[[pages]]\nurl = "ftp://police.example/"\n', "pages[0].url"),
    ('[[pages]]\nurl = "https://p.example/"\npattern = "re:(x"\n', "pages[0].pattern"),
    ('[[pages]]\nurl = "https://p.example/"\nbacklog_max_age = "1d"\n', "pages[0].backlog_max_age"),
    ('[[pages]]\nurl = "https://p.example/"\n[[pages]]\nurl = "https://p.example/"\n',
     "pages[1].url"),
    ('[[feeds]]\nurl = "https://p.example/"\n[[pages]]\nurl = "https://p.example/"\n',
     "pages[0].url"),
    ('[[searches]]\nlocales = ["fr-FR"]\n', "searches[0].query"),
    ('[[searches]]\nquery = "  "\n', "searches[0].query"),
    ('[[searches]]\nquery = "iptv"\nlocales = ["fr"]\n', "searches[0].locales"),
    ('[[searches]]\nquery = "iptv"\nlocales = []\n', "searches[0].locales"),
    ('[[searches]]\nquery = "iptv"\nengines = ["yahoo"]\n', "searches[0].engines"),
    ('[[searches]]\nquery = "iptv"\nengines = ["https://s.example/rss"]\n', "searches[0].engines"),
    ('[[searches]]\nquery = "iptv"\n[[searches]]\nquery = "iptv"\n', "searches[1].query"),
])
def test_a_bad_source_names_its_key(text: str, key: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(text, PATH)
    assert info.value.key == key and key in str(info.value)
