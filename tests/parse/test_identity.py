"""monitor.identity: canonical URLs (table) and their idempotence (hypothesis), story keys."""

from __future__ import annotations

import re

import pytest
from hypothesis import example, given, settings, strategies as st

from monitor.parse.identity import canonical_url, is_tracking_param, story_key


@pytest.mark.parametrize(("url", "canonical"), [
    # tracking parameters go, the others stay in their order
    ("https://example.com/a?utm_source=rss&utm_medium=feed&utm_campaign=x",
     "https://example.com/a"),
    ("https://example.com/a?id=7&utm_source=rss&page=2", "https://example.com/a?id=7&page=2"),
    ("https://example.com/a?fbclid=IwAR0abc", "https://example.com/a"),
    ("https://example.com/a?gclid=Cj0KCQ&q=iptv", "https://example.com/a?q=iptv"),
    ("https://example.com/a?z=1&b=2&a=3&gclid=x", "https://example.com/a?z=1&b=2&a=3"),
    ("https://example.com/a?UTM_Source=x&FBCLID=y&keep=1", "https://example.com/a?keep=1"),
    ("https://example.com/a?a=&b=1", "https://example.com/a?a=&b=1"),
    ("https://example.com/a?tag=x&tag=y", "https://example.com/a?tag=x&tag=y"),
    # host and scheme lower-cased, the path kept as it is
    ("HTTPS://WWW.Example.COM/Path/To/Story.HTML", "https://www.example.com/Path/To/Story.HTML"),
    # default ports dropped, others kept
    ("http://example.com:80/a", "http://example.com/a"),
    ("https://example.com:443/a", "https://example.com/a"),
    ("https://example.com:8443/a", "https://example.com:8443/a"),
    ("http://example.com:443/a", "http://example.com:443/a"),
    # fragment dropped
    ("https://example.com/a#comments", "https://example.com/a"),
    ("https://example.com/a?id=1&utm_term=x#top", "https://example.com/a?id=1"),
    # the empty path is "/"
    ("https://example.com", "https://example.com/"),
    ("https://example.com?utm_source=x", "https://example.com/"),
    # surrounding whitespace
    ("  https://example.com/a \n", "https://example.com/a"),
    # IPv6 literal
    ("http://[2001:DB8::1]:8080/a?utm_source=x", "http://[2001:db8::1]:8080/a"),
    # user info is kept
    ("https://User:pw@Example.com/a", "https://User:pw@example.com/a"),
])
def test_canonical_url(url: str, canonical: str) -> None:
    assert canonical_url(url) == canonical


def test_same_story_from_two_feeds_has_one_canonical_url() -> None:
    a = canonical_url("https://TorrentFreak.com:443/story-1/?utm_source=rss&utm_medium=rss#respond")
    b = canonical_url("https://torrentfreak.com/story-1/?fbclid=abc")
    assert a == b == "https://torrentfreak.com/story-1/"
    assert story_key(a) == story_key(b)


@pytest.mark.parametrize(("name", "tracking"), [
    ("utm_source", True), ("UTM_CONTENT", True), ("fbclid", True), ("gclid", True),
    ("id", False), ("page", False), ("q", False), ("utmost", False),
])
def test_is_tracking_param(name: str, tracking: bool) -> None:
    assert is_tracking_param(name) is tracking


def test_story_key_is_16_hex_and_stable() -> None:
    key = story_key("https://example.com/a")
    assert re.fullmatch(r"[0-9a-f]{16}", key)
    assert key == story_key("https://example.com/a")
    assert key != story_key("https://example.com/b")


# --- idempotence ------------------------------------------------------------------------------

hosts = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9.-]{0,20}", fullmatch=True)
ports = st.one_of(st.none(), st.sampled_from([80, 443, 8080]), st.integers(1, 65535))
segments = st.text(alphabet=st.characters(codec="utf-8", exclude_characters="#?"), max_size=15)
names = st.one_of(st.sampled_from(["utm_source", "utm_medium", "fbclid", "gclid", "id", "q", "page", ""]),
                  st.text(alphabet=st.characters(codec="utf-8", exclude_characters="&=#"), max_size=8))
values = st.text(alphabet=st.characters(codec="utf-8", exclude_characters="&#"), max_size=10)


@st.composite
def urls(draw: st.DrawFn) -> str:
    scheme = draw(st.sampled_from(["http", "https", "HTTP", "Https"]))
    port = draw(ports)
    url = f"{scheme}://{draw(hosts)}" + (f":{port}" if port else "")
    url += "".join("/" + s for s in draw(st.lists(segments, max_size=4)))
    params = draw(st.lists(st.tuples(names, values), max_size=5))
    if params:
        url += "?" + "&".join(f"{k}={v}" for k, v in params)
    fragment = draw(st.one_of(st.none(), values))
    if fragment is not None:
        url += "#" + fragment
    return url


@settings(max_examples=300, derandomize=True)
@given(urls())
# A path ending in a space before a tracking query: the first pass leaves "https://a.example/x "
# and the second pass strips that space.
@example("https://a.example/x ?utm_source=rss")
def test_canonical_url_is_idempotent(url: str) -> None:
    once = canonical_url(url)
    assert canonical_url(once) == once


@settings(max_examples=300, derandomize=True)
@given(st.text(max_size=40))
# urlsplit() drops the leading backspace, leaving "\x850"; the second pass's strip() then drops
# U+0085 (NEXT LINE), which str.strip() counts as whitespace.
@example("\x08\x850")
def test_canonical_url_is_idempotent_on_any_text(text: str) -> None:
    once = canonical_url(text)
    assert canonical_url(once) == once


@given(urls())
def test_canonical_url_has_no_tracking_and_no_fragment(url: str) -> None:
    from urllib.parse import parse_qsl, urlsplit

    parts = urlsplit(canonical_url(url))
    assert parts.fragment == ""
    assert not any(is_tracking_param(k) for k, _ in parse_qsl(parts.query, keep_blank_values=True))
    assert parts.netloc == parts.netloc.lower()
