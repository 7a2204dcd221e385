"""Fixtures shared by every test file: real servers on 127.0.0.1."""

from collections.abc import Iterator

import pytest

from support.feedserver import feed_server  # noqa: F401
from support.servers import refused_port, smtp_server, webhook_receiver  # noqa: F401
from support.hostile import HostileServer


@pytest.fixture
def hostile_server() -> Iterator[HostileServer]:
    """A misbehaving HTTP server on 127.0.0.1 (support/hostile.py), stopped after the test."""
    server = HostileServer().start()
    try:
        yield server
    finally:
        server.stop()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "slow: a test of a minute or so, started first")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The longest tests first, so that with several workers (pytest-xdist) the suite doesn't end
    waiting on one of them started last."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)
