"""The private-address guard bound to the connection: both transports connect only to the
addresses the guard resolved and checked, for the name exactly as the client encodes it.

A hostile DNS server is played by a resolver handed to the client (``make_client(cfg,
resolve)``): it answers what an attacker's zone would, and nothing is resolved or sent off
loopback. The servers are real, on 127.0.0.1 and 127.0.0.2 (both loopback on Linux)."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import trustme

from monitor.config import FetchConfig
from monitor.errors import FetchError
from monitor.fetch.client import fetch, is_public_address, make_client, post
from monitor.fetch.guard import Guard, refused_addresses
from monitor.models import FetchResult

GUARDED = FetchConfig(allow_private_networks=False, timeout=5, total_timeout=20)
OPEN = FetchConfig(allow_private_networks=True, timeout=5, total_timeout=20)
PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY")


@pytest.fixture(autouse=True)
def no_proxy_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)


class Resolver:
    """A DNS zone as an attacker runs it: ``answers[name]`` is a list of answers, one per
    query, the last repeated. Records every name asked; an unknown name does not resolve.
    A name in ``public`` stands for one with a public answer: it does not resolve either,
    lest a regression connect off loopback, and the test sees it was asked."""

    def __init__(self, answers: dict[str, list[list[str]]], public: tuple[str, ...] = ()) -> None:
        self.answers = answers
        self.public = public
        self.asked: list[str] = []

    async def __call__(self, host: str, port: int) -> list[str]:
        self.asked.append(host)
        if host in self.public:
            raise socket.gaierror(socket.EAI_AGAIN, f"{host} would answer a public address")
        queue = self.answers.get(host)
        if not queue:
            raise socket.gaierror(socket.EAI_NONAME, f"{host} unknown to the test's zone")
        return queue.pop(0) if len(queue) > 1 else queue[0]


class Site:
    """A threaded HTTP(S) server on one loopback address: a fixed body, the Host headers seen."""

    def __init__(self, address: str, body: bytes, port: int = 0,
                 context: ssl.SSLContext | None = None) -> None:
        self.hosts: list[str] = []
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                site.hosts.append(self.headers.get("Host", ""))
                self.send_response(200)
                self.send_header("Content-Type", "application/rss+xml")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer((address, port), Handler)
        self.httpd.daemon_threads = True
        if context is not None:
            self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def site() -> Iterator[Site]:
    server = Site("127.0.0.1", b"<rss>internal</rss>")
    try:
        yield server
    finally:
        server.stop()


def get(url: str, cfg: FetchConfig, resolver: Resolver | None) -> FetchResult:
    async def go() -> FetchResult:
        async with make_client(cfg, resolver) as client:
            return await fetch(client, url, cfg)
    return asyncio.run(go())


def refusal(url: str, cfg: FetchConfig, resolver: Resolver | None) -> str:
    with pytest.raises(FetchError) as info:
        get(url, cfg, resolver)
    assert info.value.url == url
    return str(info.value)


# --- the guard as a pure function on resolved addresses --------------------------------------

@pytest.mark.parametrize("text", [
    "fec0::1", "fec0:1234::1", "feff:ffff::1",      # site-local fec0::/10 (deprecated, RFC 3879)
    "3fff::1",                                       # documentation (RFC 9637)
    "5f00::1",                                       # SRv6 segment identifiers
    "64:ff9b::7f00:1", "64:ff9b::a00:1",             # NAT64 of 127.0.0.1 and 10.0.0.1
    "64:ff9b::a9fe:a9fe",                            # NAT64 of the cloud metadata address
])
def test_more_non_public_ranges_are_refused(text: str) -> None:
    assert is_public_address(ipaddress.ip_address(text)) is False


@pytest.mark.parametrize("text", ["64:ff9b::808:808", "2a00:1450:4001::1", "2001:4860:4860::8844"])
def test_their_neighbours_are_public(text: str) -> None:
    """NAT64 of 8.8.8.8 is as public as 8.8.8.8; global unicast outside those ranges too."""
    assert is_public_address(ipaddress.ip_address(text)) is True


def test_one_non_public_answer_refuses_the_host() -> None:
    guard = Guard(None, check=True)
    assert guard.refusal("mixed.example", ["93.184.216.34", "fec0::5"]) is not None
    assert refused_addresses(["93.184.216.34", "fec0::5"]) == ["fec0::5"]
    assert guard.refusal("fine.example", ["93.184.216.34", "2606:4700::1"]) is None
    assert Guard(None, check=False).refusal("lan.example", ["10.0.0.1"]) is None


# --- the name checked is the name connected to ---------------------------------------------------

@pytest.mark.parametrize("scheme", ["http", "https"])
def test_an_idn_host_is_checked_under_the_name_the_client_sends(site: Site, scheme: str) -> None:
    """Python's resolver maps straße to strasse (IDNA 2003), the clients ask for
    xn--strae-oqa (IDNA 2008): two DNS names. The attacker's zone gives the first a public
    address (never handed out here) and the second a loopback one; the name resolved, checked
    and connected to must be the client's."""
    zone = Resolver({"xn--strae-oqa.example": [["127.0.0.1"]]}, public=("strasse.example",))
    url = f"{scheme}://straße.example:{site.port}/feed"
    message = refusal(url, GUARDED, zone)
    assert "xn--strae-oqa.example resolves to a non-public address (127.0.0.1)" in message
    assert "allow_private_networks" in message
    assert zone.asked == ["xn--strae-oqa.example"]  # never the IDNA 2003 name
    assert site.hosts == []  # nothing reached the internal server


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_a_public_looking_name_answering_loopback_is_refused(site: Site, scheme: str) -> None:
    zone = Resolver({"news.example": [["127.0.0.1"]]})
    url = f"{scheme}://news.example:{site.port}/feed"
    assert "news.example resolves to a non-public address (127.0.0.1)" in refusal(url, GUARDED, zone)
    assert site.hosts == []


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_the_connection_goes_to_the_address_resolved_not_a_later_answer(scheme: str) -> None:
    """DNS rebinding: the zone answers one address to the first query and another to every
    later one. The client connects to the first answer, the one the guard saw: the server on
    127.0.0.2 gets the request, the one on 127.0.0.1 (same port) nothing. The guard is off so
    that the first answer may be a loopback one and no traffic leaves the machine; with it on,
    that same address is what is checked (the tests above)."""
    ca = trustme.CA()
    contexts: list[ssl.SSLContext | None] = [None, None]
    if scheme == "https":
        for i, address in enumerate(("127.0.0.2", "127.0.0.1")):
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            ca.issue_cert("rebind.example").configure_cert(context)
            contexts[i] = context
    checked = Site("127.0.0.2", b"<rss>checked</rss>", context=contexts[0])
    other = Site("127.0.0.1", b"<rss>rebound</rss>", port=checked.port, context=contexts[1])
    try:
        zone = Resolver({"rebind.example": [["127.0.0.2"], ["127.0.0.1"]]})
        with _trusting(ca):
            result = get(f"{scheme}://rebind.example:{checked.port}/feed", OPEN, zone)
        assert result.content == b"<rss>checked</rss>"
        assert checked.hosts == [f"rebind.example:{checked.port}"]
        assert other.hosts == []
        assert zone.asked == ["rebind.example"]  # resolved once, for the check and the connect
    finally:
        checked.stop()
        other.stop()


class _trusting:
    """SSL_CERT_FILE pointed at a trustme CA for the time of a block (httpx reads it)."""

    def __init__(self, ca: trustme.CA) -> None:
        self.ca = ca
        self.patch = pytest.MonkeyPatch()

    def __enter__(self) -> None:
        import tempfile
        self.dir = tempfile.TemporaryDirectory()
        path = Path(self.dir.name) / "ca.pem"
        self.ca.cert_pem.write_to_path(str(path))
        self.patch.setenv("SSL_CERT_FILE", str(path))

    def __exit__(self, *exc: object) -> None:
        self.patch.undo()
        self.dir.cleanup()


def test_tls_still_checks_the_certificate_against_the_host_name(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """The connection is made to an address, but SNI and the certificate check use the name."""
    ca = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("feeds.example").configure_cert(context)
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "ca.pem"))
    server = Site("127.0.0.1", b"<rss>tls</rss>", context=context)
    try:
        zone = Resolver({"feeds.example": [["127.0.0.1"]], "other.example": [["127.0.0.1"]]})
        assert get(f"https://feeds.example:{server.port}/feed", OPEN, zone).content == b"<rss>tls</rss>"
        message = refusal(f"https://other.example:{server.port}/feed", OPEN, zone)
        assert "CERTIFICATE_VERIFY_FAILED" in message or "certificate" in message.lower()
    finally:
        server.stop()


def test_an_unknown_name_is_a_clear_error(site: Site) -> None:
    zone = Resolver({})
    for scheme in ("http", "https"):
        message = refusal(f"{scheme}://nowhere.example:{site.port}/feed", GUARDED, zone)
        assert "nowhere.example" in message
    assert site.hosts == []


# --- proxies: refused while the guard is on --------------------------------------------------------

@pytest.mark.parametrize(("variable", "scheme"), [("HTTPS_PROXY", "https"), ("HTTP_PROXY", "http"),
                                                  ("ALL_PROXY", "http")])
def test_a_url_a_proxy_would_carry_is_refused_with_the_guard_on(
        site: Site, monkeypatch: pytest.MonkeyPatch, variable: str, scheme: str) -> None:
    """The proxy would resolve the name itself, where the guard can't check it."""
    monkeypatch.setenv(variable, f"http://127.0.0.1:{site.port}")
    zone = Resolver({"news.example": [["127.0.0.1"]]})
    message = refusal(f"{scheme}://news.example/feed", GUARDED, zone)
    assert f"a proxy is set for {scheme if variable != 'ALL_PROXY' else 'all'} URLs" in message
    assert "allow_private_networks" in message
    assert zone.asked == [] and site.hosts == []  # neither resolved nor sent to the proxy


def test_a_host_exempted_by_no_proxy_is_fetched_directly_and_checked(
        site: Site, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    monkeypatch.setenv("NO_PROXY", "news.example")
    zone = Resolver({"news.example": [["127.0.0.1"]]})
    message = refusal(f"http://news.example:{site.port}/feed", GUARDED, zone)
    assert "resolves to a non-public address (127.0.0.1)" in message
    assert zone.asked == ["news.example"]


def test_with_the_guard_off_the_proxy_carries_the_request(
        site: Site, monkeypatch: pytest.MonkeyPatch) -> None:
    """allow_private_networks = true: the proxy variables are followed, as before (the site
    plays the proxy: an absolute URL in the request line, its own Host)."""
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{site.port}")
    # localhost:9, which nothing serves: without the proxy, the request would fail there
    result = get("http://localhost:9/feed", OPEN, Resolver({}))
    assert result.content == b"<rss>internal</rss>"
    assert site.hosts == ["localhost:9"]


# --- POSTs are the operator's: not guarded ------------------------------------------------------------

def test_a_notifier_on_the_local_network_is_reached_with_the_guard_on(site: Site) -> None:
    async def go() -> int:
        async with make_client(GUARDED) as client:
            return (await post(client, f"http://127.0.0.1:{site.port}/hook", b"{}", {}, 5.0)).status

    # the site answers GETs only: a 501 means the POST reached it
    assert asyncio.run(go()) == 501
