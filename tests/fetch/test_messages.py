"""Fetch errors said plainly: the far end named (host and port, or the URL), the operating
system's reason or the status with its phrase, never a library's exception name. Real
exchanges with 127.0.0.1 (a refused port, a feed server), whichever transport (aiohttp for
http://, httpx for https:// and POSTs)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.feedserver import FeedServer
from support.helpers import monitor, write_config

from monitor.config import FetchConfig
from monitor.errors import FetchError
from monitor.fetch.client import fetch, make_client, post, status_message

CFG = FetchConfig(timeout=5.0, total_timeout=10.0, allow_private_networks=True)


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A port bound but not listening: connections to it are refused."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        yield s.getsockname()[1]


def fetch_error(url: str) -> FetchError:
    async def go() -> None:
        async with make_client(CFG) as client:
            await fetch(client, url, CFG)

    with pytest.raises(FetchError) as info:
        asyncio.run(go())
    return info.value


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_a_refused_connection_names_host_port_and_reason(closed_port: int, scheme: str) -> None:
    error = fetch_error(f"{scheme}://127.0.0.1:{closed_port}/feed")
    assert str(error) == f"cannot connect to 127.0.0.1:{closed_port} (connection refused)"
    assert error.url == f"{scheme}://127.0.0.1:{closed_port}/feed"


def test_a_refused_post_says_so_without_naming_the_receiver(closed_port: int) -> None:
    async def go() -> None:
        async with make_client(CFG) as client:
            await post(client, f"http://127.0.0.1:{closed_port}/hook", b"{}", {}, 2.0)

    with pytest.raises(FetchError) as info:
        asyncio.run(go())
    # a notifier's URL may hold a token: neither it nor its host is repeated
    assert str(info.value) == "cannot connect to the receiver (connection refused)"


def test_an_http_error_names_its_status_phrase_and_url(feed_server: FeedServer) -> None:
    url = feed_server.url("/no-such-feed.xml")
    error = fetch_error(url)
    assert str(error) == f"HTTP 404 Not Found at {url}" and error.status == 404


def test_status_message_without_a_standard_phrase() -> None:
    assert status_message(599, "http://x.example/") == "HTTP 599 at http://x.example/"
    assert status_message(410, "http://x.example/") == "HTTP 410 Gone at http://x.example/"


def test_the_poll_log_and_summary_carry_the_plain_message(
        tmp_path: Path, feed_server: FeedServer, closed_port: int) -> None:
    missing = feed_server.url("/gone.xml")
    refused = f"http://127.0.0.1:{closed_port}/feed.xml"
    config = write_config(tmp_path, [missing, refused])
    result = monitor(config, "run", "--once")
    assert result.code == 0 and "2 errors" in result.stdout, result.stdout
    assert f"HTTP 404 Not Found at {missing}" in result.stderr
    assert f"cannot connect to 127.0.0.1:{closed_port} (connection refused)" in result.stderr
    assert "ClientConnectorError" not in result.stderr and "ssl:default" not in result.stderr
    feeds = monitor(config, "feeds")
    assert f"HTTP 404 Not Found at {missing}" in feeds.stdout
