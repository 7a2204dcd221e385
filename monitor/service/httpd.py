"""The optional [http] listener: GET /healthz (the `monitor status` verdict) and GET /metrics
(Prometheus text format), on a loopback address, with the standard library's threaded server.

It runs in its own threads and reads the database through its own read-only connections, so a
scrape never waits on the daemon's event loop (and the loop never waits on a scrape).
"""

from __future__ import annotations

import json
import logging
import socket
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from monitor.service import health
from monitor.service import metrics
from monitor.config import Config

log = logging.getLogger("monitor")

# /healthz answers 200 while the monitor works, even degraded (it still polls and alerts),
# and 503 when it is down, so a plain HTTP check tells "down"; the body says which.
HEALTHZ_CODES = {health.HEALTHY: 200, health.DEGRADED: 200, health.DOWN: 503}


def _handler(config: Callable[[], Config]) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "monitor"
        sys_version = ""
        timeout = 10  # seconds a client may take to send its request

        def do_GET(self) -> None:  # noqa: N802 (the http.server naming)
            path = self.path.split("?", 1)[0]
            if path == "/healthz":
                status = health.check(config())
                body = (json.dumps({"status": status.status, "reasons": list(status.reasons),
                                    "checked_at": status.checked_at}) + "\n").encode()
                self._send(HEALTHZ_CODES[status.status], body, "application/json")
            elif path == "/metrics":
                body, content_type = metrics.exposition(self.headers.get("Accept"))
                self._send(200, body, content_type)
            else:
                self._send(404, b"not found: try /healthz or /metrics\n", "text/plain")

        def _send(self, code: int, body: bytes, content_type: str) -> None:
            self.send_response(code)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            log.debug("http: %s %s", self.address_string(), format % args)

    return Handler


class _IPv6Server(ThreadingHTTPServer):
    address_family = socket.AF_INET6


class Listener:
    """The server and its thread; ``address`` is where it listens (port 0 picks a free one)."""

    def __init__(self, config: Callable[[], Config], host: str, port: int) -> None:
        server_class = _IPv6Server if ":" in host else ThreadingHTTPServer
        self.server = server_class((host, port), _handler(config))
        self.server.daemon_threads = True
        self.server.timeout = 10
        bound = self.server.server_address
        self.address: tuple[str, int] = (str(bound[0]), int(bound[1]))
        self.thread = threading.Thread(target=self.server.serve_forever, name="http",
                                       kwargs={"poll_interval": 0.5}, daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


def open_listener(config: Callable[[], Config]) -> Listener | None:
    """Listen where [http] says and serve in the background; None, logged, when the address
    cannot be had: the daemon goes on polling and alerting without /healthz and /metrics."""
    http = config().http
    try:
        listener = Listener(config, http.host, http.port)
    except OSError as e:
        log.error("http: cannot listen on %s:%d: %s; going on without /healthz and /metrics",
                  http.host, http.port, e)
        return None
    listener.start()
    host, port = listener.address
    log.info("http: listening on http://%s:%d (/healthz, /metrics)",
             f"[{host}]" if ":" in host else host, port)
    return listener
