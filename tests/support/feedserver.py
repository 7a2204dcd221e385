"""A real HTTP server on 127.0.0.1 serving feeds and article pages for the tests.

Each path has a body and a content type; the ETag is a hash of the body, so a conditional
request for an unchanged document gets a 304, as from a well-behaved publisher.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import hashlib
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import pytest
from support.loopback import ServedInThread, running

HOST = "127.0.0.1"


class _Server(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client may close a kept-alive connection whenever it likes (the monitor does at the
        # end of a cycle); socketserver would print that to the test's stderr as a traceback.
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


LAST_MODIFIED = "Mon, 02 Nov 2026 10:00:00 GMT"

# A feed entry every enforcement rule flags.
RAID = {
    "title": "Police shut down pirate IPTV service and arrest three suspects",
    "summary": "Spanish police have shut down a pirate IPTV service that sold illegal streams of "
               "LaLiga football matches to more than 50,000 subscribers, and arrested three "
               "suspects. Officers seized servers during raids on four addresses; the suspects "
               "face charges of copyright infringement.",
}


@dataclass
class Document:
    body: bytes
    content_type: str
    status: int = 200
    delay: float = 0.0  # seconds before answering: a slow server


class FeedServer(ServedInThread):
    def __init__(self) -> None:
        self.documents: dict[str, Document] = {}
        self.hits: list[tuple[str, int]] = []  # (path, status answered)
        self.requested: list[str] = []  # paths asked for, as soon as asked
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                with server._lock:  # the query string (tracking parameters...) is not part of the key
                    doc = server.documents.get(urlsplit(self.path).path)
                    server.requested.append(urlsplit(self.path).path)
                if doc is not None and doc.delay:
                    time.sleep(doc.delay)
                if doc is None:
                    self._answer(404, b"not found", "text/plain")
                    return
                etag = '"' + hashlib.sha256(doc.body).hexdigest()[:20] + '"'
                if doc.status == 200 and self.headers.get("If-None-Match") == etag:
                    self._answer(304, b"", None, etag)
                    return
                self._answer(doc.status, doc.body, doc.content_type, etag)

            def _answer(self, status: int, body: bytes, ctype: str | None, etag: str | None = None) -> None:
                with server._lock:
                    server.hits.append((self.path, status))
                self.send_response(status)
                if ctype:
                    self.send_header("Content-Type", ctype)
                if etag:
                    self.send_header("ETag", etag)
                    self.send_header("Last-Modified", LAST_MODIFIED)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = _Server((HOST, 0), Handler)
        self.server.daemon_threads = True
        self.base = f"http://{HOST}:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def url(self, path: str) -> str:
        return self.base + path

    def put(self, path: str, body: str | bytes, content_type: str = "text/html; charset=utf-8",
            status: int = 200, delay: float = 0.0) -> str:
        data = body.encode("utf-8") if isinstance(body, str) else body
        with self._lock:
            self.documents[path] = Document(data, content_type, status, delay)
        return self.url(path)

    def hits_for(self, path: str) -> list[int]:
        with self._lock:
            return [status for p, status in self.hits if p == path]



@pytest.fixture
def feed_server() -> Iterator[FeedServer]:
    yield from running(FeedServer())


def article_page(title: str, paragraphs: list[str], *, site: str = "Piracy Daily",
                 author: str = "Jane Reporter") -> str:
    """An article page wrapped in the navigation and footer boilerplate of a real news site."""
    body = "\n".join(f"<p>{p}</p>" for p in paragraphs)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title} | {site}</title>
<meta name="author" content="{author}"><meta property="og:site_name" content="{site}">
<meta name="description" content="{paragraphs[0][:80]}"></head>
<body>
<header><nav><ul><li><a href="/">Home</a></li><li><a href="/news">News</a></li>
<li><a href="/newsletter">Subscribe to our newsletter</a></li><li><a href="/login">Log in</a></li></ul></nav></header>
<main><article><h1>{title}</h1>
<p class="byline">By {author}</p>
{body}
</article>
<aside><h3>Most read</h3><ul><li><a href="/x">Ten gadgets for the summer</a></li><li><a href="/y">Weather for the weekend</a></li></ul></aside>
</main>
<footer><p>Copyright 2026 {site}. All rights reserved.</p><p><a href="/privacy">Privacy policy</a> | <a href="/cookies">Cookie settings</a></p></footer>
</body></html>"""


def published_now(hours_ago: float = 0.0, *, iso: bool = False) -> str:
    """A publication date ``hours_ago`` before now, as RSS (RFC 822) or Atom (ISO 8601) write it.
    Items default to "just published": a feed's first poll does not alert on stories older
    than backlog_max_age, and a fixed date would age past it."""
    moment = dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=hours_ago)
    if iso:
        return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
    return email.utils.format_datetime(moment, usegmt=True)


def rss(title: str, items: list[dict[str, str]]) -> str:
    entries = "\n".join(
        f"""<item><title>{i['title']}</title><link>{i['link']}</link><guid>{i.get('guid', i['link'])}</guid>
<pubDate>{i.get('date') or published_now()}</pubDate><description>{i.get('summary', '')}</description></item>"""
        for i in items)
    return f"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>{title}</title><link>http://127.0.0.1/</link>
<description>{title}</description>
{entries}
</channel></rss>"""


def atom(title: str, items: list[dict[str, str]]) -> str:
    entries = "\n".join(
        f"""<entry><title>{i['title']}</title><link href="{i['link']}"/><id>{i.get('guid', i['link'])}</id>
<updated>{i.get('date') or published_now(iso=True)}</updated><author><name>{i.get('author', 'Staff')}</name></author>
<summary>{i.get('summary', '')}</summary></entry>"""
        for i in items)
    return f"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><title>{title}</title><id>urn:test:{title}</id>
<updated>2026-11-03T09:00:00Z</updated>
{entries}
</feed>"""
