"""A local feed server for the benchmark, on 127.0.0.1 only (asyncio, HTTP/1.1 keep-alive).

    /feed/N.xml         feed N: the 20 newest items of the current round (none in round 0),
                        with an ETag naming the round: a conditional request gets a 304; items
                        are dated a day before the server started plus their number in minutes,
                        so that they are recent news whenever the benchmark runs (as a cold
                        cycle's stories mostly are, and as the grouping's index expects); an
                        item's headline is its page's own <title>, as a real feed's would be
                        (a template headline shared by every item would make every story
                        look like a report of one event to the grouping)
    /page/N/J.html      the article page of item J of feed N (real pages from
                        ../shared/corpora/pages when present, else generated ones)
    /round/R            sets the round (R * items new items per feed); answers "ok"

Run: python bench/feedserver.py [--items 20] [--pages DIR] [--tls CERT KEY]; it prints its port
on stdout. With --tls it serves https (HTTP/1.1: it offers no HTTP/2).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import email.utils
import html
import re
import ssl
import sys
from pathlib import Path

ITEM = ("<item><title>{title}</title>"
        "<link>{base}/page/{n}/{j}.html</link><guid>{base}/page/{n}/{j}.html</guid>"
        "<pubDate>{date}</pubDate>"
        "<description>Summary of story {j} of feed {n}.</description></item>")


def generated_page(n: int, j: int) -> bytes:
    paragraphs = "".join(
        f"<p>Paragraph {k} of story {j} in feed {n}. Police seized servers and arrested suspects "
        f"running an illegal streaming service; the operator faces copyright infringement "
        f"charges, according to the prosecutor's statement published on Tuesday.</p>"
        for k in range(12))
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>Story {j}</title>"
            f"<meta name='author' content='Jane Reporter'></head><body><nav><a href='/'>Home</a>"
            f"</nav><article><h1>Story {j} of feed {n}</h1>{paragraphs}</article>"
            f"<footer>Copyright</footer></body></html>").encode()


def page_title(page: bytes) -> str:
    match = re.search(rb"<title[^>]*>(.*?)</title>", page, re.S | re.I)
    text = html.unescape(match.group(1).decode("utf-8", "replace")) if match else ""
    return " ".join(text.split())


class Server:
    def __init__(self, items: int, pages: list[bytes]) -> None:
        self.items = items
        self.pages = pages
        self.titles = [page_title(page) for page in pages]
        self.round = 0
        self.base = ""  # scheme://host:port
        self.feeds: dict[tuple[int, int], bytes] = {}
        now = dt.datetime.now(dt.timezone.utc).replace(second=0, microsecond=0)
        self.epoch = now - dt.timedelta(days=1)  # item j is dated j minutes after it

    def date(self, j: int) -> str:
        return email.utils.format_datetime(self.epoch + dt.timedelta(minutes=j), usegmt=True)

    def page(self, n: int, j: int) -> bytes:
        if self.pages:
            return self.pages[(n * 7919 + j) % len(self.pages)]
        return generated_page(n, j)

    def title(self, n: int, j: int) -> str:
        if self.pages:
            title = self.titles[(n * 7919 + j) % len(self.pages)]
            if title:
                return html.escape(title)
        return f"Story {j} of feed {n}: police raid a pirate IPTV operation"

    def feed(self, n: int) -> bytes:
        key = (n, self.round)
        if key not in self.feeds:
            newest = self.round * self.items
            items = "".join(ITEM.format(n=n, j=j, base=self.base, date=self.date(j),
                                        title=self.title(n, j))
                            for j in range(newest - 1, max(-1, newest - 1 - self.items), -1))
            self.feeds[key] = (
                f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
                f"<title>Bench feed {n}</title><link>{self.base}/</link>"
                f"<description>Feed {n}</description>{items}</channel></rss>").encode()
        return self.feeds[key]

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                path = lines[0].split(" ")[1]
                etag_sent = None
                for line in lines[1:]:
                    if line[:14].lower() == "if-none-match:":
                        etag_sent = line[14:].strip()
                writer.write(self.respond(path, etag_sent))
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, IndexError):
            pass
        finally:
            writer.close()

    def respond(self, path: str, etag_sent: str | None) -> bytes:
        status, ctype, body, etag = "200 OK", "text/plain", b"", None
        try:
            if path.startswith("/feed/"):
                n = int(path[6:].split(".")[0])
                etag = f'"{n}-{self.round}"'
                if etag_sent == etag:
                    status = "304 Not Modified"
                else:
                    ctype, body = "application/rss+xml; charset=utf-8", self.feed(n)
            elif path.startswith("/page/"):
                n, j = path[6:].removesuffix(".html").split("/")
                ctype, body = "text/html", self.page(int(n), int(j))
            elif path.startswith("/round/"):
                self.round, body = int(path[7:]), b"ok"
            else:
                status, body = "404 Not Found", b"not found"
        except ValueError:
            status, body = "400 Bad Request", b"bad request"
        headers = f"HTTP/1.1 {status}\r\nContent-Length: {len(body)}\r\n"
        if status != "304 Not Modified":
            headers += f"Content-Type: {ctype}\r\n"
        if etag:
            headers += f"ETag: {etag}\r\n"
        return (headers + "\r\n").encode() + body


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--items", type=int, default=20)
    parser.add_argument("--pages", type=Path)
    parser.add_argument("--tls", nargs=2, metavar=("CERT", "KEY"), help="serve https (PEM files)")
    args = parser.parse_args()
    pages = [p.read_bytes() for p in sorted(args.pages.glob("*.html"))] if args.pages else []
    server = Server(args.items, pages)
    context = None
    if args.tls:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(*args.tls)
    listener = await asyncio.start_server(server.handle, "127.0.0.1", 0, backlog=1024,
                                          ssl=context)
    port = listener.sockets[0].getsockname()[1]
    server.base = f"{'https' if context else 'http'}://127.0.0.1:{port}"
    print(port, flush=True)
    async with listener:
        await listener.serve_forever()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        sys.exit(0)
