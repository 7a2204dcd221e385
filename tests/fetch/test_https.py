"""fetch() sends GETs through aiohttp, http:// and https:// alike (monitor.fetch.Client; httpx
carries POSTs, and GETs a proxy variable applies to when the guard is off). The other fetch
tests run over plain http; these run the same behaviours over https, against a real TLS server
on 127.0.0.1 whose certificate is made here by trustme: validators and 304, the certificate
checked (HTTP/1.1 offered alone), the caps on the raw and the decompressed body, the connect,
read and total deadlines, the charset, error statuses and anti-bot walls, redirects between
http and https with the guard on every hop."""

from __future__ import annotations

import asyncio
import gzip
import ssl
import socket
import threading
import time
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

    def __init__(self, context: ssl.SSLContext | None, plain: HostileServer) -> None:
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.hops: dict[str, str] = {}  # path -> where it redirects (302)
        self.connections = 0  # TLS connections accepted
        self.protocols: list[str | None] = []  # the protocol agreed by ALPN, per connection
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:  # once per connection, whatever its requests
                server.connections += 1
                if isinstance(self.request, ssl.SSLSocket):
                    server.protocols.append(self.request.selected_alpn_protocol())
                super().setup()

            def do_GET(self) -> None:
                server.requests.append((self.path, {k.lower(): v for k, v in self.headers.items()}))
                status, headers, body = server.route(self.path, self.headers, plain)
                if self.path in server.hops:
                    status, headers, body = 302, {"Location": server.hops[self.path]}, b""
                then = headers.pop("X-Then", None)
                if then is None:
                    HostileServer.send(self, status, body, headers)
                    return
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.flush()
                for byte in body[:50] if then == "trickle" else b"":
                    time.sleep(0.2)
                    try:
                        self.wfile.write(bytes([byte]))
                        self.wfile.flush()
                    except OSError:  # the client gave up, as it should
                        return
                if then == "stall":
                    time.sleep(3)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer((HOST, 0), Handler)
        self.httpd.daemon_threads = True
        self.httpd.block_on_close = False  # a stalled handler must not hold the test's end
        if context is not None:
            self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
        scheme = "https" if context is not None else "http"
        self.base = f"{scheme}://{HOST}:{self.httpd.server_address[1]}"
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
        if path == "/slow":  # the headers, then nothing for longer than the read timeout
            return 200, {**rss, "X-Then": "stall"}, FEED
        if path == "/trickle":  # a byte every 0.2 s: every read is in time, the whole is not
            return 200, {**rss, "X-Then": "trickle"}, FEED
        return 404, {"Content-Type": "text/plain"}, b"not found"

    def url(self, path: str) -> str:
        return self.base + path


@pytest.fixture
def servers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[TLSServer, HostileServer]]:
    ca = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(HOST, "one.example", "two.example").configure_cert(context)
    # a server that would rather speak HTTP/2: it must be offered HTTP/1.1 alone
    context.set_alpn_protocols(["h2", "http/1.1"])
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


def test_an_environment_proxy_keeps_its_scheme_on_httpx(monkeypatch: pytest.MonkeyPatch) -> None:
    """httpx honours HTTP_PROXY and friends; with the guard off, the GETs of a scheme a proxy
    variable applies to stay on httpx so that it still does (with the guard on, they are
    refused: test_guard.py). No request is made here: only which transport each scheme uses."""
    async def schemes(env: dict[str, str], cfg: FetchConfig = LOCAL) -> set[str]:
        for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
            monkeypatch.delenv(name, raising=False)
            monkeypatch.delenv(name.lower(), raising=False)
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        async with Client(cfg) as client:
            return {s for s in ("http", "https") if client.session(s) is not None}

    proxy = "http://127.0.0.1:3128"
    assert asyncio.run(schemes({})) == {"http", "https"}
    assert asyncio.run(schemes({"HTTP_PROXY": proxy})) == {"https"}
    assert asyncio.run(schemes({"HTTPS_PROXY": proxy})) == {"http"}
    assert asyncio.run(schemes({"ALL_PROXY": proxy})) == set()
    guarded = FetchConfig(allow_private_networks=False)
    assert asyncio.run(schemes({"ALL_PROXY": proxy}, guarded)) == {"http", "https"}


def test_https_gets_go_through_aiohttp_over_http11(servers: tuple[TLSServer, HostileServer]) -> None:
    """A server preferring h2 is offered HTTP/1.1 alone (GETs speak HTTP/1.1, see the client's
    docstring); httpx, kept for POSTs, is not even made."""
    tls, _ = servers

    async def run() -> tuple[FetchResult, bool, bool]:
        async with make_client(LOCAL) as client:
            result = await fetch(client, tls.url("/feed.xml"), LOCAL)
            return result, client.session("https") is not None, client._httpx is None
    result, through_aiohttp, no_httpx = asyncio.run(run())
    assert result.content == FEED and through_aiohttp and no_httpx
    assert tls.protocols == ["http/1.1"]


def test_a_certificate_from_an_untrusted_authority_is_refused(
        servers: tuple[TLSServer, HostileServer], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    tls, _ = servers
    stranger = trustme.CA()  # trusted instead of the server's own authority
    stranger.cert_pem.write_to_path(str(tmp_path / "other.pem"))
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "other.pem"))
    with pytest.raises(FetchError) as info:
        get(tls.url("/feed.xml"))
    port = tls.url("").rsplit(":", 1)[1]
    assert str(info.value) == f"cannot connect to {HOST}:{port} (TLS: CERTIFICATE_VERIFY_FAILED)"
    assert tls.requests == []  # nothing was sent over the unverified connection


def test_a_server_that_never_finishes_the_handshake_hits_the_connect_timeout() -> None:
    """The TLS handshake is part of connecting: a server accepting the connection and saying
    nothing is given the connect timeout, not the read timeout or total_timeout."""
    with socket.socket() as listener:
        listener.bind((HOST, 0))
        listener.listen()
        port = listener.getsockname()[1]
        cfg = FetchConfig(allow_private_networks=True, timeout=0.5, total_timeout=20)
        started = time.monotonic()
        with pytest.raises(FetchError) as info:
            get(f"https://{HOST}:{port}/feed.xml", cfg)
    assert str(info.value) == (f"timed out: cannot connect to {HOST}:{port} "
                               "(no answer within the connect timeout)")
    assert time.monotonic() - started < 3


def test_read_timeout_and_total_timeout_over_https(servers: tuple[TLSServer, HostileServer]) -> None:
    tls, _ = servers
    quick = FetchConfig(allow_private_networks=True, timeout=0.5, total_timeout=20)
    started = time.monotonic()
    with pytest.raises(FetchError) as stalled:
        get(tls.url("/slow"), quick)
    assert "stopped answering (read timeout)" in str(stalled.value)
    deadline = FetchConfig(allow_private_networks=True, timeout=5, total_timeout=1)
    with pytest.raises(FetchError) as trickled:
        get(tls.url("/trickle"), deadline)
    assert str(trickled.value) == (f"took longer than total_timeout (1s) at "
                                   f"{tls.url('/trickle')}")
    assert time.monotonic() - started < 5


def test_every_hop_between_http_and_https_connects_through_the_guard(
        servers: tuple[TLSServer, HostileServer]) -> None:
    """http -> https -> http, each hop under its own name: the guard resolves each one and
    hands the transport the addresses to connect to (with the guard on, the same step refuses
    a non-public answer: test_guard.py, over both schemes). The guard is off here only so that
    loopback answers may be connected to."""
    tls, _ = servers
    plain = TLSServer(None, HostileServer())
    plain.thread.start()
    asked: list[str] = []

    async def resolve(host: str, port: int) -> list[str]:
        asked.append(host)
        return [HOST]

    async def run() -> FetchResult:
        async with make_client(LOCAL, resolve) as client:
            return await fetch(client, plain.url("/up").replace(HOST, "one.example"), LOCAL)

    try:
        plain.hops["/up"] = tls.url("/down").replace(HOST, "two.example")
        tls.hops["/down"] = plain.url("/feed.xml").replace(HOST, "one.example")
        result = asyncio.run(run())
    finally:
        plain.httpd.shutdown()
        plain.httpd.server_close()
    assert result.content == FEED and result.url == plain.url("/feed.xml").replace(HOST, "one.example")
    assert asked == ["one.example", "two.example"]  # one.example's connection was kept alive
    assert [path for path, _ in plain.requests] == ["/up", "/feed.xml"]
    assert [path for path, _ in tls.requests] == ["/down"]
