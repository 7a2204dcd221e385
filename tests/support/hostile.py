"""A hostile HTTP server on 127.0.0.1 for the tests: every way a publisher can hurt a poller.

Routes (any other path is served from ``documents`` like feedserver.FeedServer):
  /trickle        a feed sent one byte every half second, forever
  /endless        a body that never ends, as fast as the client reads
  /bomb.gz        a small gzip body that inflates to BOMB_SIZE bytes
  /bomb.br        the same with brotli
  /loop/N         a redirect to /loop/N+1, forever
  /status/CODE    that status, with Retry-After: 120 for 429 and 503
  /challenge      a 503 anti-bot challenge page (cf-mitigated: challenge)
  /moved/PATH     301 to /PATH;  /moved308/PATH  308 to /PATH;  /found/PATH  302 to /PATH
"""

from __future__ import annotations

import threading
import time
import zlib
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import brotli

HOST = "127.0.0.1"
BOMB_SIZE = 200_000_000
_BOMBS: dict[str, bytes] = {}


def bomb(kind: str) -> bytes:
    if kind not in _BOMBS:
        chunk = b"\0" * 1_000_000
        if kind == "gz":
            z = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
            parts = [z.compress(chunk) for _ in range(BOMB_SIZE // len(chunk))]
            parts.append(z.flush())
            _BOMBS[kind] = b"".join(parts)
        else:
            c = brotli.Compressor(quality=5)
            parts = [c.process(chunk) for _ in range(BOMB_SIZE // len(chunk))]
            parts.append(c.finish())
            _BOMBS[kind] = b"".join(parts)
    return _BOMBS[kind]


class HostileServer:
    def __init__(self) -> None:
        self.documents: dict[str, tuple[bytes, str, dict[str, str]]] = {}
        self.hits: Counter[str] = Counter()
        self.hit_times: dict[str, list[float]] = {}  # path -> time.monotonic() of each request
        self.active: Counter[str] = Counter()  # requests in progress, by host:port
        self.peak: Counter[str] = Counter()
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                path = urlsplit(self.path).path
                with server.lock:
                    server.hits[path] += 1
                    server.hit_times.setdefault(path, []).append(time.monotonic())
                try:
                    server.route(self, path)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer((HOST, 0), Handler)
        self.server.daemon_threads = True
        self.server.block_on_close = False
        self.base = f"http://{HOST}:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def url(self, path: str) -> str:
        return self.base + path

    def put(self, path: str, body: str | bytes, content_type: str = "application/rss+xml",
            headers: dict[str, str] | None = None) -> str:
        data = body.encode("utf-8") if isinstance(body, str) else body
        with self.lock:
            self.documents[path] = (data, content_type, headers or {})
        return self.url(path)

    def start(self) -> HostileServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        self.server.shutdown()
        self.server.server_close()

    # -- behaviours --------------------------------------------------------------------------

    @staticmethod
    def send(h: BaseHTTPRequestHandler, status: int, body: bytes = b"",
             headers: dict[str, str] | None = None) -> None:
        h.send_response(status)
        for name, value in (headers or {}).items():
            h.send_header(name, value)
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)

    def route(self, h: BaseHTTPRequestHandler, path: str) -> None:
        if path == "/trickle":
            h.send_response(200)
            h.send_header("Content-Type", "application/rss+xml")
            h.end_headers()
            body = b'<?xml version="1.0"?><rss version="2.0"><channel><title>slow</title>' * 1000
            for byte in body:
                if self.stopping.is_set():
                    return
                h.wfile.write(bytes([byte]))
                h.wfile.flush()
                time.sleep(0.5)
        elif path == "/endless":
            h.send_response(200)
            h.send_header("Content-Type", "application/rss+xml")
            h.end_headers()
            h.wfile.write(b'<?xml version="1.0"?><rss version="2.0"><channel><title>x</title>')
            item = b"<item><title>again</title><link>http://127.0.0.1/x</link></item>" * 1000
            while not self.stopping.is_set():
                h.wfile.write(item)
        elif path in ("/bomb.gz", "/bomb.br"):
            kind = path.rsplit(".", 1)[1]
            self.send(h, 200, bomb(kind), {"Content-Type": "application/rss+xml",
                                           "Content-Encoding": "gzip" if kind == "gz" else "br"})
        elif path.startswith("/loop/"):
            n = int(path.rsplit("/", 1)[1])
            self.send(h, 302, b"", {"Location": f"/loop/{n + 1}"})
        elif path.startswith("/status/"):
            code = int(path.rsplit("/", 1)[1])
            headers = {"Content-Type": "text/plain"}
            if code in (429, 503):
                headers["Retry-After"] = "120"
            self.send(h, code, f"status {code}".encode(), headers)
        elif path == "/challenge":
            page = (b"<!DOCTYPE html><html><head><title>Just a moment...</title></head><body>"
                    b"<script src='/cdn-cgi/challenge-platform/h/b/orchestrate/jsch/v1'></script>"
                    b"</body></html>")
            self.send(h, 503, page, {"Content-Type": "text/html", "cf-mitigated": "challenge",
                                     "Server": "cloudflare"})
        elif path.startswith(("/moved/", "/moved308/", "/found/")):
            kind, rest = path[1:].split("/", 1)
            status = {"moved": 301, "moved308": 308, "found": 302}[kind]
            self.send(h, status, b"", {"Location": "/" + rest})
        else:
            with self.lock:
                doc = self.documents.get(path)
            if doc is None:
                self.send(h, 404, b"not found", {"Content-Type": "text/plain"})
                return
            data, ctype, extra = doc
            delay = float(extra.get("X-Test-Delay", "0"))
            host = h.headers.get("Host", "")
            with self.lock:
                self.active[host] += 1
                self.peak[host] = max(self.peak[host], self.active[host])
            try:
                if delay:
                    time.sleep(delay)
                headers = {"Content-Type": ctype, **{k: v for k, v in extra.items()
                                                     if not k.startswith("X-Test-")}}
                self.send(h, 200, data, headers)
            finally:
                with self.lock:
                    self.active[host] -= 1
