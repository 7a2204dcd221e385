"""fetch() has two transports (monitor.fetch.Client): httpx for https://, aiohttp for plain
http://. The other fetch tests run over plain http; these run the same behaviours over https,
against a real TLS server on 127.0.0.1 whose certificate is made here by trustme: validators
and 304, the caps on the raw and the decompressed body, the charset, error statuses and
anti-bot walls, redirects from one transport to the other with the guard on every hop."""

from __future__ import annotations

import asyncio
import gzip
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import trustme
from support.hostile import HostileServer, bomb

from monitor.config import FetchConfig
from monitor.errors import FetchError
from monitor.fetch.body import page_text
from monitor.fetch.client import Client, fetch, make_client
from monitor.models import FetchResult

HOST = "127.0.0.1"
LOCAL = FetchConfig(allow_private_networks=True, timeout=5, total_timeout=20, max_bytes=100_000)
FEED = ("<?xml version='1.0' encoding='utf-8'?><rss version='2.0'><channel><title>Été</title>"
        + "<item><title>x</title></item>" * 50 + "</channel></rss>").encode("utf-8")
PAGE = "<html><body><p>Déjà vu à Zürich</p></body></html>"


class TLSServer:
    """A threaded HTTPS/1.1 server: a few fixed routes, and the requests it got."""

    def __init__(self, context: ssl.SSLContext, plain: HostileServer) -> None:
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.connections = 0  # TLS connections accepted
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:  # once per connection, whatever its requests
                server.connections += 1
                super().setup()

            def do_GET(self) -> None:
                server.requests.append((self.path, {k.lower(): v for k, v in self.headers.items()}))
                status, headers, body = server.route(self.path, self.headers, plain)
                HostileServer.send(self, status, body, headers)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer((HOST, 0), Handler)
        self.httpd.daemon_threads = True
        self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
        self.base = f"https://{HOST}:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @staticmethod
    def route(path: str, headers: Any, plain: HostileServer) -> tuple[int, dict[str, str], bytes]:
        rss = {"Content-Type": "application/rss+xml"}
        if path == "/feed.xml":
            if headers.get("If-None-Match") == '"v1"':
                return 304, {"ETag": '"v1"'}, b""
            return 200, {**rss, "ETag": '"v1"', "Last-Modified": "Tue, 03 Nov 2026 08:00:00 GMT"}, FEED
        if path == "/gzip.xml":
            return 200, {**rss, "Content-Encoding": "gzip"}, gzip.compress(FEED)
        if path == "/bomb.gz":
            return 200, {**rss, "Content-Encoding": "gzip"}, bomb("gz")
        if path == "/big.xml":
            return 200, rss, b"<rss>" + b" " * 200_000 + b"</rss>"
        if path == "/latin1.html":
            return 200, {"Content-Type": "text/html; charset=iso-8859-1"}, PAGE.encode("latin-1")
        if path == "/challenge":
            return 503, {"Content-Type": "text/html", "cf-mitigated": "challenge"}, b"wait"
        if path == "/to-plain":  # https -> http: the next hop goes through the other transport
            return 301, {"Location": plain.url("/plain-feed.xml")}, b""
        if path == "/hop":  # a redirect with a body, as many servers send
            return 302, {"Location": "/feed.xml", "Content-Type": "text/html"}, b"<a>moved</a>"
        if path == "/to-file":
            return 302, {"Location": "file:///etc/passwd"}, b""
        return 404, {"Content-Type": "text/plain"}, b"not found"

    def url(self, path: str) -> str:
        return self.base + path


@pytest.fixture
def servers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[TLSServer, HostileServer]]:
    ca = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(HOST).configure_cert(context)
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "ca.pem"))  # httpx trusts our CA
    plain = HostileServer().start()
    tls = TLSServer(context, plain)
    tls.thread.start()
    try:
        yield tls, plain
    finally:
        tls.httpd.shutdown()
        tls.httpd.server_close()
        plain.stop()


def get(url: str, cfg: FetchConfig = LOCAL, **kw: Any) -> FetchResult:
    async def run() -> FetchResult:
        async with make_client(cfg) as client:
            return await fetch(client, url, cfg, **kw)
    return asyncio.run(run())


def test_validators_and_304_over_https(servers: tuple[TLSServer, HostileServer]) -> None:
    tls, _ = servers
    first = get(tls.url("/feed.xml"))
    assert first.status == 200 and first.content == FEED
    assert first.etag == '"v1"' and first.last_modified == "Tue, 03 Nov 2026 08:00:00 GMT"
    again = get(tls.url("/feed.xml"), etag=first.etag, last_modified=first.last_modified)
    assert again.not_modified and again.status == 304 and again.content == b""
    sent = tls.requests[-1][1]
    assert sent["if-none-match"] == '"v1"' and "gzip" in sent["accept-encoding"]
    assert sent["user-agent"].startswith("monitor/")


def test_one_connection_serves_304s_and_redirects(servers: tuple[TLSServer, HostileServer]) -> None:
    """A 304 or a redirect leaves its connection open for the next request: an unread response
    would close it, and each poll would pay a new TLS handshake."""
    tls, _ = servers

    async def run() -> list[int]:
        async with make_client(LOCAL) as client:
            statuses = [(await fetch(client, tls.url("/feed.xml"), LOCAL)).status]
            for _ in range(3):
                statuses.append((await fetch(client, tls.url("/feed.xml"), LOCAL,
                                             etag='"v1"')).status)
            statuses.append((await fetch(client, tls.url("/hop"), LOCAL)).status)
            return statuses
    assert asyncio.run(run()) == [200, 304, 304, 304, 200]
    assert [path for path, _ in tls.requests] == ["/feed.xml"] * 4 + ["/hop", "/feed.xml"]
    assert tls.connections == 1


def test_bodies_are_decompressed_and_capped_over_https(servers: tuple[TLSServer, HostileServer]) -> None:
    tls, _ = servers
    result = get(tls.url("/gzip.xml"))
    assert result.content == FEED and "content-encoding" not in result.headers
    roomy = FetchConfig(allow_private_networks=True, timeout=5, total_timeout=20,
                        max_bytes=1_000_000)  # above the bomb's own size, far below its content
    assert len(bomb("gz")) < roomy.max_bytes
    with pytest.raises(FetchError, match="decompressed body over max_bytes"):
        get(tls.url("/bomb.gz"), roomy)
    with pytest.raises(FetchError, match="over max_bytes"):
        get(tls.url("/big.xml"))


def test_the_declared_charset_is_honoured_over_https(servers: tuple[TLSServer, HostileServer]) -> None:
    tls, _ = servers
    assert page_text(get(tls.url("/latin1.html"))) == PAGE


def test_error_statuses_and_walls_over_https(servers: tuple[TLSServer, HostileServer]) -> None:
    tls, _ = servers
    with pytest.raises(FetchError) as info:
        get(tls.url("/challenge"))
    assert info.value.status == 503 and info.value.blocked
    with pytest.raises(FetchError) as missing:
        get(tls.url("/nothing-here"))
    assert missing.value.status == 404 and not missing.value.blocked


def test_redirects_cross_from_one_transport_to_the_other(servers: tuple[TLSServer, HostileServer]) -> None:
    tls, plain = servers
    plain.put("/plain-feed.xml", FEED)
    result = get(tls.url("/to-plain"))
    assert result.content == FEED and result.moved_to == plain.url("/plain-feed.xml")
    assert plain.hits["/plain-feed.xml"] == 1
    with pytest.raises(FetchError, match="refused URL scheme 'file'"):
        get(tls.url("/to-file"))


def test_every_hop_passes_the_guard_over_https(servers: tuple[TLSServer, HostileServer]) -> None:
    tls, _ = servers
    guarded = FetchConfig(allow_private_networks=False, timeout=5, total_timeout=20)
    with pytest.raises(FetchError, match="non-public address"):
        get(tls.url("/feed.xml"), guarded)
    assert tls.requests == []  # refused before any connection


def test_an_environment_proxy_keeps_plain_http_on_httpx(monkeypatch: pytest.MonkeyPatch) -> None:
    """httpx honours HTTP_PROXY and friends; plain http then stays on httpx so that it still
    does. No request is made here: only which transport plain http would use."""
    async def plain_session(env: dict[str, str]) -> bool:
        for name in ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
            monkeypatch.delenv(name, raising=False)
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        async with Client(LOCAL) as client:
            return client.plain() is not None

    assert asyncio.run(plain_session({})) is True
    assert asyncio.run(plain_session({"HTTP_PROXY": "http://127.0.0.1:3128"})) is False
    assert asyncio.run(plain_session({"ALL_PROXY": "http://127.0.0.1:3128"})) is False
