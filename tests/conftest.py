"""Fixtures shared by every test file: real servers on 127.0.0.1."""

from feedserver import feed_server  # noqa: F401
from servers import refused_port, smtp_server, webhook_receiver  # noqa: F401
