"""monitor.fetch: the address guard and Retry-After as pure functions, then fetch() and post()
against a real threaded http.server on 127.0.0.1 started here. No mocks of httpx."""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import gzip
import ipaddress
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from hypothesis import example, given, strategies as st

from monitor.config import FetchConfig
from monitor.errors import FetchError
from monitor.fetch.client import (
    DEFAULT_USER_AGENT,
    Limits,
    fetch,
    is_public_address,
    make_client,
    parse_retry_after,
    post,
    refused_addresses,
)
from monitor.models import FetchResult

HOST = "127.0.0.1"

# --- the guard: pure functions on addresses (no traffic) ---------------------------------------

REFUSED = [
    "127.0.0.1", "127.8.9.10",                      # loopback
    "10.0.0.1", "10.255.255.254",                   # 10/8
    "172.16.0.1", "172.31.255.254",                 # 172.16/12
    "192.168.0.1", "192.168.255.254",               # 192.168/16
    "169.254.169.254",                              # link-local (cloud metadata)
    "100.64.0.1", "100.127.255.254",                # carrier-grade NAT 100.64/10
    "0.0.0.0",                                      # unspecified
    "224.0.0.1", "239.255.255.250",                 # multicast
    "240.0.0.1", "255.255.255.255",                 # reserved, broadcast
    "192.0.2.1", "198.51.100.1", "203.0.113.1",     # documentation
    "::1", "::",                                    # IPv6 loopback, unspecified
    "fe80::1",                                      # link-local
    "fc00::1", "fd12:3456:789a::1",                 # unique local fc00::/7
    "ff02::1",                                      # multicast
    "::ffff:127.0.0.1", "::ffff:10.0.0.1",          # IPv4-mapped private
    "2002:7f00:1::1",                               # 6to4 of 127.0.0.1
    "2001:db8::1",                                  # documentation
]
ALLOWED = ["8.8.8.8", "1.1.1.1", "93.184.216.34", "172.32.0.1", "100.128.0.1",
           "2606:4700::1", "2001:4860:4860::8888", "::ffff:8.8.8.8"]


@pytest.mark.parametrize("text", REFUSED)
def test_is_public_address_refuses(text: str) -> None:
    assert is_public_address(ipaddress.ip_address(text)) is False


@pytest.mark.parametrize("text", ALLOWED)
def test_is_public_address_allows(text: str) -> None:
    assert is_public_address(ipaddress.ip_address(text)) is True


def test_refused_addresses_keeps_only_the_refused_ones() -> None:
    addresses = ["8.8.8.8", "127.0.0.1", "2606:4700::1", "fe80::1%eth0", "10.1.2.3", "not-an-ip"]
    assert refused_addresses(addresses) == ["127.0.0.1", "fe80::1%eth0", "10.1.2.3", "not-an-ip"]
    assert refused_addresses(ALLOWED) == []
    assert refused_addresses(REFUSED) == REFUSED
    assert refused_addresses([]) == []


# --- Retry-After -------------------------------------------------------------------------------

def test_parse_retry_after_seconds() -> None:
    assert parse_retry_after("30") == 30.0
    assert parse_retry_after(" 120 ") == 120.0
    assert parse_retry_after("0") == 0.0
    assert parse_retry_after("1.5") == 1.5  # decimal seconds, as Discord sends them


def test_parse_retry_after_http_date() -> None:
    now = 1_700_000_000.0
    later = email.utils.formatdate(now + 90, usegmt=True)
    assert parse_retry_after(later, now=now) == pytest.approx(90.0)
    earlier = email.utils.formatdate(now - 3600, usegmt=True)
    assert parse_retry_after(earlier, now=now) == 0.0


@pytest.mark.parametrize("value", [None, "", "soon", "-5", "1.5.2", "²", "Mon, 99 Foo 2024"])
def test_parse_retry_after_unusable(value: str | None) -> None:
    assert parse_retry_after(value) is None


@given(st.text(max_size=30))
# "²" (U+00B2) is str.isdigit() but not float()-able: a header such as "Retry-After: ²" raises
# ValueError out of fetch() instead of being ignored.
@example("²")
@example("١٢")  # Arabic-Indic digits: isdigit(), and float() happens to accept them
def test_parse_retry_after_never_raises(value: str) -> None:
    result = parse_retry_after(value, now=0.0)
    assert result is None or result >= 0.0


# --- a real HTTP server on 127.0.0.1 ------------------------------------------------------------

ETAG = '"v1"'
LAST_MODIFIED = "Wed, 01 May 2024 10:00:00 GMT"
FEED = b'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title></channel></rss>'


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes = b""


@dataclass
class Server:
    port: int
    requests: list[Seen] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def url(self, path: str) -> str:
        return f"http://{HOST}:{self.port}{path}"

    def paths(self) -> list[str]:
        return [r.path for r in self.requests]


def _send(h: BaseHTTPRequestHandler, status: int, body: bytes = b"",
          headers: dict[str, str] | None = None, *, length: bool = True) -> None:
    h.send_response(status)
    for name, value in (headers or {}).items():
        h.send_header(name, value)
    if length:
        h.send_header("Content-Length", str(len(body)))
    h.end_headers()
    if body:
        h.wfile.write(body)


def _feed(h: BaseHTTPRequestHandler, server: Server) -> None:
    if h.headers.get("If-None-Match") == ETAG or h.headers.get("If-Modified-Since") == LAST_MODIFIED:
        _send(h, 304, headers={"ETag": ETAG})
        return
    _send(h, 200, FEED, {"Content-Type": "application/rss+xml", "ETag": ETAG,
                         "Last-Modified": LAST_MODIFIED})


def _big_declared(h: BaseHTTPRequestHandler, server: Server) -> None:
    _send(h, 200, b"x" * 5000, {"Content-Type": "text/plain"})


def _big_chunked(h: BaseHTTPRequestHandler, server: Server) -> None:
    h.send_response(200)
    h.send_header("Content-Type", "text/plain")
    h.send_header("Transfer-Encoding", "chunked")
    h.end_headers()
    for _ in range(5):
        h.wfile.write(b"%x\r\n%s\r\n" % (1000, b"y" * 1000))
    h.wfile.write(b"0\r\n\r\n")


def _big_close(h: BaseHTTPRequestHandler, server: Server) -> None:
    # No Content-Length, no chunking: the body ends when the connection closes.
    h.send_response(200)
    h.send_header("Content-Type", "text/plain")
    h.send_header("Connection", "close")
    h.end_headers()
    h.wfile.write(b"z" * 5000)
    h.close_connection = True


def _small_close(h: BaseHTTPRequestHandler, server: Server) -> None:
    h.send_response(200)
    h.send_header("Connection", "close")
    h.end_headers()
    h.wfile.write(b"small body")
    h.close_connection = True


BOMB = gzip.compress(b"\0" * 200_000)


def _gzip_bomb(h: BaseHTTPRequestHandler, server: Server) -> None:
    _send(h, 200, BOMB, {"Content-Type": "application/rss+xml", "Content-Encoding": "gzip"})


def _gzip_small(h: BaseHTTPRequestHandler, server: Server) -> None:
    _send(h, 200, gzip.compress(FEED), {"Content-Type": "application/rss+xml", "Content-Encoding": "gzip"})


def _redirect(location: str, status: int = 302) -> Callable[[BaseHTTPRequestHandler, Server], None]:
    def handler(h: BaseHTTPRequestHandler, server: Server) -> None:
        target = location.replace("{base}", f"http://{HOST}:{server.port}")
        _send(h, status, headers={"Location": target})
    return handler


def _final(h: BaseHTTPRequestHandler, server: Server) -> None:
    _send(h, 200, b"arrived", {"Content-Type": "text/plain"})


def _status(status: int, headers: dict[str, str] | None = None) -> Callable[[BaseHTTPRequestHandler, Server], None]:
    def handler(h: BaseHTTPRequestHandler, server: Server) -> None:
        _send(h, status, b"error page", headers)
    return handler


def _slow(h: BaseHTTPRequestHandler, server: Server) -> None:
    server.stop.wait(3.0)  # longer than the client's timeout; ends early when the server stops
    try:
        _send(h, 200, b"late")
    except OSError:
        pass


def _echo(h: BaseHTTPRequestHandler, server: Server) -> None:
    _send(h, 201, b"got %d bytes of %s" % (len(server.requests[-1].body),
                                           h.headers.get("Content-Type", "").encode()),
          {"Content-Type": "text/plain", "X-Receipt": "r-1"})


ROUTES: dict[str, Callable[[BaseHTTPRequestHandler, Server], None]] = {
    "/feed": _feed,
    "/big-declared": _big_declared,
    "/big-chunked": _big_chunked,
    "/big-close": _big_close,
    "/small-close": _small_close,
    "/gzip-bomb": _gzip_bomb,
    "/gzip-small": _gzip_small,
    "/r1": _redirect("/r2"),
    "/r2": _redirect("{base}/r3", 301),
    "/r3": _redirect("final?x=1", 307),
    "/final": _final,
    "/loop": _redirect("/loop"),
    "/to-file": _redirect("file:///etc/passwd"),
    "/to-ftp": _redirect("ftp://127.0.0.1/x"),
    "/404": _status(404),
    "/500": _status(500),
    "/429": _status(429, {"Retry-After": "30"}),
    "/503-date": _status(503, {"Retry-After": "Fri, 31 Dec 1999 23:59:59 GMT"}),
    # Sent as the byte 0xB2, which httpx decodes as latin-1: "²", a str.isdigit() character.
    "/429-superscript": _status(429, {"Retry-After": "\u00b2"}),
    "/slow": _slow,
    "/echo": _echo,
}


@pytest.fixture
def server() -> Iterator[Server]:
    state = Server(port=0)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            pass

        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            path = self.path.split("?", 1)[0]
            state.requests.append(Seen(self.command, path, {k.lower(): v for k, v in self.headers.items()}, body))
            route = ROUTES.get(path)
            if route is None:
                _send(self, 404, b"no route")
            else:
                route(self, state)

        do_GET = do_POST = _handle

    httpd = ThreadingHTTPServer((HOST, 0), Handler)
    httpd.daemon_threads = True
    state.port = httpd.server_address[1]
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        state.stop.set()
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


def local(**overrides: object) -> FetchConfig:
    """Settings for the local server: private networks allowed, small limits, short timeout."""
    values: dict[str, object] = {"timeout": 5.0, "max_bytes": 4096, "allow_private_networks": True,
                                 "max_redirects": 3}
    values.update(overrides)
    return FetchConfig(**values)  # type: ignore[arg-type]


def get(url: str, cfg: FetchConfig, **kwargs: str | None) -> FetchResult:
    async def go() -> FetchResult:
        async with make_client(cfg) as client:
            return await fetch(client, url, cfg, **kwargs)
    return asyncio.run(go())


def get_error(url: str, cfg: FetchConfig, **kwargs: str | None) -> FetchError:
    with pytest.raises(FetchError) as info:
        get(url, cfg, **kwargs)
    return info.value


# --- fetch() -------------------------------------------------------------------------------------

def test_200_returns_body_and_validators(server: Server) -> None:
    result = get(server.url("/feed"), local())
    assert result.status == 200
    assert result.content == FEED
    assert result.not_modified is False
    assert result.etag == ETAG
    assert result.last_modified == LAST_MODIFIED
    assert result.url == server.url("/feed")
    assert result.headers["content-type"] == "application/rss+xml"
    (request,) = server.requests
    assert "if-none-match" not in request.headers and "if-modified-since" not in request.headers


def test_user_agent_names_the_monitor(server: Server) -> None:
    get(server.url("/feed"), local())
    assert server.requests[0].headers["user-agent"] == DEFAULT_USER_AGENT
    assert DEFAULT_USER_AGENT.startswith("monitor/")
    get(server.url("/feed"), local(user_agent="custom-agent/2"))
    assert server.requests[1].headers["user-agent"] == "custom-agent/2"


def test_conditional_get_sends_validators_and_304_is_not_modified(server: Server) -> None:
    result = get(server.url("/feed"), local(), etag=ETAG, last_modified=LAST_MODIFIED)
    (request,) = server.requests
    assert request.headers["if-none-match"] == ETAG
    assert request.headers["if-modified-since"] == LAST_MODIFIED
    assert result.status == 304
    assert result.not_modified is True
    assert result.content == b""


def test_conditional_get_with_a_stale_etag_gets_the_body(server: Server) -> None:
    result = get(server.url("/feed"), local(), etag='"v0"')
    assert server.requests[0].headers["if-none-match"] == '"v0"'
    assert result.status == 200 and result.not_modified is False and result.content == FEED


@pytest.mark.parametrize("path", ["/big-declared", "/big-chunked", "/big-close"])
def test_body_over_max_bytes_is_refused(server: Server, path: str) -> None:
    error = get_error(server.url(path), local(max_bytes=4096))
    assert "max_bytes" in str(error)
    assert error.url == server.url(path)


def test_body_under_max_bytes_is_read_whatever_the_framing(server: Server) -> None:
    assert get(server.url("/big-chunked"), local(max_bytes=5000)).content == b"y" * 5000
    assert get(server.url("/big-close"), local(max_bytes=5000)).content == b"z" * 5000
    assert get(server.url("/small-close"), local()).content == b"small body"


def test_gzip_body_is_decompressed(server: Server) -> None:
    assert get(server.url("/gzip-small"), local()).content == FEED


def test_gzip_bomb_is_cut_off_after_decompression(server: Server) -> None:
    assert len(BOMB) < 4096  # the compressed body and its Content-Length are under the cap
    error = get_error(server.url("/gzip-bomb"), local(max_bytes=4096))
    assert "max_bytes" in str(error)


def test_redirect_chain_is_followed_and_the_final_url_reported(server: Server) -> None:
    result = get(server.url("/r1"), local(max_redirects=3))
    assert result.status == 200 and result.content == b"arrived"
    assert result.url == server.url("/final?x=1")
    assert server.paths() == ["/r1", "/r2", "/r3", "/final"]


def test_redirect_chain_longer_than_max_redirects_is_refused(server: Server) -> None:
    get_error(server.url("/r1"), local(max_redirects=2))
    assert server.paths() == ["/r1", "/r2", "/r3"]


def test_redirect_loop_raises_after_max_redirects(server: Server) -> None:
    error = get_error(server.url("/loop"), local(max_redirects=3))
    assert "redirect" in str(error)
    assert server.paths() == ["/loop"] * 4  # the first request and 3 redirects


@pytest.mark.parametrize("path", ["/to-file", "/to-ftp"])
def test_redirect_to_a_non_http_scheme_is_refused(server: Server, path: str) -> None:
    error = get_error(server.url(path), local())
    assert "scheme" in str(error)
    assert server.paths() == [path]


@pytest.mark.parametrize("status", [404, 500])
def test_http_errors_raise_with_status(server: Server, status: int) -> None:
    error = get_error(server.url(f"/{status}"), local())
    assert error.status == status
    assert str(status) in str(error)
    assert error.retry_after is None


def test_429_reports_retry_after(server: Server) -> None:
    error = get_error(server.url("/429"), local())
    assert error.status == 429
    assert error.retry_after == 30


def test_503_with_a_past_http_date_retry_after_is_zero(server: Server) -> None:
    error = get_error(server.url("/503-date"), local())
    assert error.status == 503
    assert error.retry_after == 0.0


def test_429_with_an_unusable_retry_after_is_still_a_fetch_error(server: Server) -> None:
    error = get_error(server.url("/429-superscript"), local())
    assert error.status == 429
    assert error.retry_after is None


def test_read_timeout_raises(server: Server) -> None:
    started = time.monotonic()
    error = get_error(server.url("/slow"), local(timeout=0.3))
    assert "timed out" in str(error)
    assert time.monotonic() - started < 2.5


def test_connection_refused_raises(server: Server) -> None:
    import socket

    with socket.socket() as s:
        s.bind((HOST, 0))
        port = s.getsockname()[1]  # bound but not listening: connections are refused
        error = get_error(f"http://{HOST}:{port}/feed", local())
    assert error.status is None


@pytest.mark.parametrize("url", ["ftp://127.0.0.1/feed", "file:///etc/passwd", "gopher://127.0.0.1/",
                                 "javascript:alert(1)", "/relative/path", "http:///no-host"])
def test_non_http_urls_are_refused(url: str) -> None:
    with pytest.raises(FetchError):
        get(url, local())


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "[::1]"])
def test_private_addresses_are_refused_before_any_connection(server: Server, host: str) -> None:
    url = f"http://{host}:{server.port}/feed"
    error = get_error(url, local(allow_private_networks=False))
    assert "allow_private_networks" in str(error) or "resolve" in str(error)
    assert error.url == url
    assert server.requests == []


# --- post() --------------------------------------------------------------------------------------

def test_post_returns_status_headers_and_text(server: Server) -> None:
    body = b'{"alert": 1}'

    async def go() -> object:
        cfg = local()
        async with make_client(cfg) as client:
            return await post(client, server.url("/echo"), body, {"Content-Type": "application/json"}, 5.0)

    result = asyncio.run(go())
    assert result.status == 201  # type: ignore[attr-defined]
    assert result.text == "got 12 bytes of application/json"  # type: ignore[attr-defined]
    assert result.headers["x-receipt"] == "r-1"  # type: ignore[attr-defined]
    (request,) = server.requests
    assert (request.method, request.path, request.body) == ("POST", "/echo", body)


def test_post_returns_error_statuses_without_raising(server: Server) -> None:
    async def go() -> object:
        async with make_client(local()) as client:
            return await post(client, server.url("/500"), b"{}", {}, 5.0)

    assert asyncio.run(go()).status == 500  # type: ignore[attr-defined]


def test_post_to_a_closed_port_raises_fetch_error() -> None:
    import socket

    with socket.socket() as s:
        s.bind((HOST, 0))
        port = s.getsockname()[1]

        async def go() -> object:
            async with make_client(local()) as client:
                return await post(client, f"http://{HOST}:{port}/hook", b"{}", {}, 2.0)

        with pytest.raises(FetchError):
            asyncio.run(go())


# --- Limits: the host's slot, then a global one --------------------------------------------------

def test_a_request_cancelled_while_waiting_for_a_global_slot_gives_its_hosts_back() -> None:
    async def run() -> tuple[bool, bool]:
        limits = Limits(total=1, per_host=1)
        holding = asyncio.Event()
        release = asyncio.Event()

        async def hold() -> None:
            async with limits.slot("http://a.example/feed"):
                holding.set()
                await release.wait()

        async def wait_for_b() -> None:
            async with limits.slot("http://b.example/feed"):
                pass

        holder = asyncio.create_task(hold())
        await holding.wait()
        waiter = asyncio.create_task(wait_for_b())  # gets b's slot, waits for the global one
        await asyncio.sleep(0.01)
        waiter.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await waiter
        host_free = not limits._hosts["b.example"].locked()
        release.set()
        await holder
        async with asyncio.timeout(1):  # both slots back: taken at once
            async with limits.slot("http://b.example/feed"):
                pass
        return host_free, not limits.total.locked()

    assert asyncio.run(run()) == (True, True)
