"""fetch.client.redirect_target: where a news engine's link leads, asked once and not followed,
through the same guard as every request (end to end against 127.0.0.1 only); and the guard,
as a pure function, on the addresses the links of a hostile listing resolve to."""

from __future__ import annotations

import asyncio
import dataclasses
import ipaddress
from urllib.parse import urlsplit

import pytest
from support.hostile import HostileServer

from monitor.config import FetchConfig
from monitor.errors import FetchError
from monitor.fetch.client import make_client, redirect_target, refused_addresses
from monitor.parse.listing import read_listing

LOOPBACK = FetchConfig(timeout=5, allow_private_networks=True)


def ask(url: str, cfg: FetchConfig = LOOPBACK) -> str | None:
    async def run() -> str | None:
        async with make_client(cfg) as client:
            return await redirect_target(client, url, cfg)
    return asyncio.run(run())


def test_a_redirect_is_read_not_followed(hostile_server: HostileServer) -> None:
    hostile_server.put("/stories/raid", "<html><body>raid</body></html>", "text/html")
    assert ask(hostile_server.url("/found/stories/raid?oc=5")) == hostile_server.url("/stories/raid")
    assert hostile_server.hits["/stories/raid"] == 0
    assert ask(hostile_server.url("/moved/elsewhere")) == hostile_server.url("/elsewhere")


def test_no_redirect_is_none(hostile_server: HostileServer) -> None:
    page = hostile_server.put("/stories/raid", "<html><body>raid</body></html>", "text/html")
    assert ask(page) is None
    assert ask(hostile_server.url("/status/404")) is None


def test_the_guard_refuses_before_asking(hostile_server: HostileServer) -> None:
    guarded = dataclasses.replace(LOOPBACK, allow_private_networks=False)
    with pytest.raises(FetchError, match="non-public address"):
        ask(hostile_server.url("/found/stories/raid"), guarded)
    with pytest.raises(FetchError, match="refused URL scheme"):
        ask("file:///etc/passwd")
    assert hostile_server.hits["/found/stories/raid"] == 0


def test_links_of_a_listing_to_private_addresses_are_refused_by_the_guard() -> None:
    """A hostile page lists links into private networks; even a pattern that lets every host
    in leaves them to the guard, which refuses their addresses (checked here on the addresses,
    without resolving or connecting anywhere)."""
    targets = ["http://10.0.0.1/admin", "http://192.168.1.1/", "http://169.254.169.254/latest/",
               "http://[::1]:8080/", "http://[fd00::1]/", "http://127.0.0.1:9/x",
               "http://[::ffff:10.1.2.3]/", "http://100.64.0.1/"]
    html = "<html><body><main>" + "".join(f'<a href="{t}">Story {i}</a>'
                                          for i, t in enumerate(targets)) + "</main></body></html>"
    listing = read_listing(html.encode(), {}, "https://newsroom.example/", pattern="re:.")
    hosts = [urlsplit(link.url).hostname or "" for link in listing.links]
    assert len(hosts) == len(targets)
    assert all(ipaddress.ip_address(h) for h in hosts)
    assert refused_addresses(hosts) == hosts
    assert read_listing(html.encode(), {}, "https://newsroom.example/").links == ()
