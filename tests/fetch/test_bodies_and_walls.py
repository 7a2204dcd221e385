"""fetch(): encodings, charset, permanent moves, the guard, anti-bot walls; against a real
server on 127.0.0.1 (tests/hostile.py) or as pure functions."""

from __future__ import annotations

import asyncio
import gzip
import zlib

import brotli
import pytest
from support.hostile import HostileServer

from monitor.config import FetchConfig
from monitor.errors import FetchError
from monitor.fetch.body import declared_charset, page_text
from monitor.fetch.client import (check_url_allowed, fetch, is_challenge, make_client,
                                  refused_addresses)
from monitor.models import FetchResult

LOCAL = FetchConfig(allow_private_networks=True, timeout=5, total_timeout=10)
BODY = ("<?xml version='1.0' encoding='utf-8'?><rss version='2.0'><channel><title>Été</title>"
        + "<item><title>x</title></item>" * 200 + "</channel></rss>").encode("utf-8")


@pytest.fixture
def server(hostile_server: HostileServer) -> HostileServer:
    return hostile_server


def get(url: str, cfg: FetchConfig = LOCAL, **kw: object) -> FetchResult:
    async def run() -> FetchResult:
        async with make_client(cfg) as client:
            return await fetch(client, url, cfg, **kw)  # type: ignore[arg-type]
    return asyncio.run(run())


@pytest.mark.parametrize("encoding, encoded", [
    ("gzip", gzip.compress(BODY)),
    ("deflate", zlib.compress(BODY)),  # zlib-wrapped, as the RFC says
    ("deflate", zlib.compress(BODY)[2:-4]),  # raw deflate, as some servers send it
    ("br", brotli.compress(BODY)),
    ("identity", BODY),
])
def test_bodies_are_decompressed(server: HostileServer, encoding: str, encoded: bytes) -> None:
    url = server.put(f"/{encoding}-{len(encoded)}.xml", encoded,
                     headers={"Content-Encoding": encoding})
    result = get(url)
    assert result.content == BODY
    assert "content-encoding" not in result.headers


def test_unknown_encoding_is_a_clear_error(server: HostileServer) -> None:
    url = server.put("/odd.xml", BODY, headers={"Content-Encoding": "zstd-of-the-future"})
    with pytest.raises(FetchError, match="unsupported Content-Encoding"):
        get(url)


def test_cap_applies_to_the_body_as_received_too(server: HostileServer) -> None:
    url = server.put("/big.xml", b"x" * 5000)
    with pytest.raises(FetchError, match="max_bytes"):
        get(url, FetchConfig(allow_private_networks=True, max_bytes=2048))


def test_permanent_moves_are_reported_temporary_ones_not(server: HostileServer) -> None:
    server.put("/feed.xml", BODY)
    assert get(server.url("/moved/feed.xml")).moved_to == server.url("/feed.xml")
    assert get(server.url("/moved308/feed.xml")).moved_to == server.url("/feed.xml")
    assert get(server.url("/found/feed.xml")).moved_to is None
    # 301 then 302: the feed moved to the first target only
    assert get(server.url("/moved/found/feed.xml")).moved_to == server.url("/found/feed.xml")
    assert get(server.url("/found/moved/feed.xml")).moved_to is None


def test_the_guard_refuses_before_any_traffic(server: HostileServer) -> None:
    server.put("/feed.xml", BODY)
    with pytest.raises(FetchError, match="non-public address"):
        get(server.url("/moved/feed.xml"), FetchConfig())
    assert sum(server.hits.values()) == 0
    with pytest.raises(FetchError, match="scheme"):
        asyncio.run(check_url_allowed("file:///etc/passwd", FetchConfig()))


def test_guard_on_resolved_addresses() -> None:
    assert refused_addresses(["93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c"]) == []
    bad = ["127.0.0.1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254", "0.0.0.0",
           "::1", "fe80::1%eth0", "fc00::1", "::ffff:10.0.0.1", "100.64.0.1", "224.0.0.1",
           "not an address"]
    assert refused_addresses(bad) == bad


def test_anti_bot_challenges_are_told_from_plain_refusals() -> None:
    assert is_challenge(403, {"cf-mitigated": "challenge"}, b"")
    assert is_challenge(503, {}, b"<html><title>Just a moment...</title>")
    assert is_challenge(403, {}, b"<script src='https://ct.captcha-delivery.com/c.js'>")
    assert not is_challenge(403, {}, b"<html>Forbidden</html>")
    assert not is_challenge(404, {"cf-mitigated": "challenge"}, b"")
    assert not is_challenge(500, {}, b"Just a moment...")


def test_blocked_fetch_error(server: HostileServer) -> None:
    with pytest.raises(FetchError) as info:
        get(server.url("/challenge"))
    assert info.value.blocked and info.value.status == 503 and info.value.retry_after is None


def test_declared_charset_wins_for_pages() -> None:
    html = "<html><body><p>Пиратский IPTV-сервис закрыт</p></body></html>".encode("cp1251")
    result = FetchResult(url="http://x/", status=200, content=html,
                         headers={"content-type": "text/html; charset=windows-1251"})
    assert declared_charset(result.headers) == "cp1251"
    assert "Пиратский" in page_text(result)
    assert page_text(FetchResult(url="http://x/", status=200, content=html)) == html
    assert declared_charset({"content-type": "text/html; charset=no-such-codec"}) is None
    bom = FetchResult(url="http://x/", status=200, content=b"\xef\xbb\xbf<p>\xc3\xa9</p>",
                      headers={"content-type": "text/html; charset=latin-1"})
    assert page_text(bom) == bom.content  # a byte-order mark wins over the header


@pytest.mark.parametrize("charset", ["zlib", "zlib_codec", "rot13", "base64", "hex", "bz2",
                                     "uu", "quopri", "idna", "punycode", "unicode_escape",
                                     "undefined", "no-such-codec"])
def test_a_charset_that_is_no_text_encoding_leaves_the_bytes_to_sniff(charset: str) -> None:
    """Python's codec registry is no list of charsets: such a declaration is ignored, never
    raised, and the extractor sniffs the bytes as for a page that declares nothing."""
    html = "<html><body><p>Déjà vu</p></body></html>".encode("utf-8")
    result = FetchResult(url="http://x/", status=200, content=html,
                         headers={"content-type": f"text/html; charset={charset}"})
    assert declared_charset(result.headers) is None
    assert page_text(result) == html
