"""The least CPU a cold cycle can spend on one article, against bare `trafilatura.extract`.

The cold-cycle aim (bench/run.py) is throughput within 10% of bare `trafilatura.extract` on the
same pages with the same number of processes: on 2 busy cores that is a CPU budget per article
of bare extraction's CPU divided by 0.9. This bench asks whether any pipeline could fit in it.
It measures, on the feed server's pages (bench/feedserver.py on 127.0.0.1, the real pages of
../shared/corpora/pages), the cheapest way we know of doing each thing a cold cycle cannot skip,
each in a few lines with no monitor code around it but the matcher:

- extract: `trafilatura.extract` with what the clipping shows (markdown, links, formatting;
  no comments, no images, no metadata: the feed gives title and date), and bare with defaults,
  the reference;
- fetch: the page's bytes over a kept-alive socket, the request written and the response read
  by hand (no HTTP library), and the feed server's CPU to answer it (it shares the 2 cores);
- feed: the page's item in its feed, parsed by feedparser (a twentieth of a 20-item feed), and
  by a bare lxml walk over the items, the least a feed parser can do;
- store: a row with the clipping's text and an FTS5 row for search, 20 rows a transaction in a
  SQLite file, with no index but the primary key's;
- match: the default rules with the learned model (monitor's Matcher) on the extracted text.

Then the least of what the product adds to that: a story's grouping signature (the distinct
hashed words of its text, a set any near-duplicate test starts from), the evidence (the page
at zlib's fastest level), and the byline and date from the meta tags (one XPath on the tree
trafilatura would share; the parse is counted in the extraction). Beside them, the monitor's
own worker (`analyse_page`: extraction, the page's metadata and byline
for the clipping, language, grouping signature, gzip and SHA-256 of the page as evidence), to
show what the product's own work adds to the least extraction.

Every part is CPU time (process_time) in this process, pages in turn, parts in a rotating order,
so that all see the same load. The floor is the sum of the cheapest of each. Left out, and so
making the floor lower than any real pipeline: scheduling, logging, moving pages between
processes, and finding a story's group in the database.

    python bench/bench_floor.py                  # 240 pages, 3 rounds (under a minute here)
    python bench/bench_floor.py --rounds 1 --limit 60
"""

from __future__ import annotations

import argparse
import contextlib
import os
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import zlib
from collections.abc import Callable
from pathlib import Path

import lxml.html
from lxml import etree

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
PAGES = REPO.parent / "shared" / "corpora" / "pages" / "trafilatura"
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(BENCH))

from bench_match import default_matcher  # noqa: E402  (config.toml's rules and model)
from run import cpu_seconds  # noqa: E402  (user + system CPU of a pid, from /proc)


def start_server(items: int) -> tuple[subprocess.Popen[str], int]:
    server = subprocess.Popen([sys.executable, str(BENCH / "feedserver.py"), "--items", str(items),
                               "--pages", str(PAGES)], stdout=subprocess.PIPE, text=True)
    assert server.stdout is not None
    port = int(server.stdout.readline())
    return server, port


class RawClient:
    """HTTP/1.1 GETs on one kept-alive socket, parsed by hand: the least an HTTP client does."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.buffer = b""

    def get(self, path: str) -> bytes:
        self.sock.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
        while b"\r\n\r\n" not in self.buffer:
            self.buffer += self.sock.recv(65536)
        head, _, rest = self.buffer.partition(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        chunks, have = [rest], len(rest)
        while have < length:
            chunk = self.sock.recv(65536)
            chunks.append(chunk)
            have += len(chunk)
        data = b"".join(chunks)
        self.buffer = data[length:]
        return data[:length]


META = etree.XPath(
    '/html/head/meta[@name="author" or @property="article:author" or @name="date"'
    ' or @property="article:published_time"]/@content')


def lxml_items(feed: bytes) -> list[tuple[str, str, str]]:
    root = etree.fromstring(feed)
    return [(i.findtext("title") or "", i.findtext("link") or "", i.findtext("pubDate") or "")
            for i in root.iter("item")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--limit", type=int, default=240, help="pages (default: all 240)")
    args = parser.parse_args()
    if not PAGES.is_dir():
        sys.exit(f"bench_floor: no pages at {PAGES.name}: ../shared/corpora is needed")

    import feedparser
    import trafilatura

    from monitor.errors import ExtractError
    from monitor.models import Document, FetchResult
    from monitor.pipeline.analysis import analyse_page

    items = 20
    feeds = (args.limit + items - 1) // items
    server, port = start_server(items)
    folder = tempfile.mkdtemp(prefix="bench-floor-")
    try:
        base = f"http://127.0.0.1:{port}"
        client = RawClient(port)
        client.get("/round/1")
        pages = [(f"{base}/page/{n}/{j}.html", f"/page/{n}/{j}.html", n)
                 for n in range(feeds) for j in range(items)][:args.limit]
        feed_bytes = {n: client.get(f"/feed/{n}.xml") for n in range(feeds)}
        html = {path: client.get(path) for _, path, _ in pages}
        texts: dict[str, str] = {}
        trees = {path: lxml.html.document_fromstring(page) for path, page in html.items()}
        m = default_matcher(model=True)
        db = sqlite3.connect(os.path.join(folder, "floor.db"))
        db.execute("pragma journal_mode=wal")
        db.execute("pragma synchronous=normal")
        db.execute("create table stories (id integer primary key, url text, title text,"
                   " date text, body text)")
        db.execute("create virtual table stories_fts using fts5(title, body,"
                   " content='stories', content_rowid='id')")
        pending: list[tuple[str, str, str, str]] = []

        def extract_clipping(url: str, path: str, n: int) -> None:
            texts[path] = trafilatura.extract(
                html[path], url=url, include_links=True, include_images=False,
                include_formatting=True, include_comments=False, output_format="markdown") or ""

        def worker(url: str, path: str, n: int) -> None:
            with contextlib.suppress(ExtractError):  # a page of links only
                analyse_page(FetchResult(url, 200, html[path], {"content-type": "text/html"}),
                             "title", date=False)

        def signature(url: str, path: str, n: int) -> None:
            set(map(hash, texts.get(path, "").lower().split()))

        def evidence(url: str, path: str, n: int) -> None:
            zlib.compress(html[path], 1)

        def meta_tags(url: str, path: str, n: int) -> None:
            META(trees[path])

        def extract_bare(url: str, path: str, n: int) -> None:
            trafilatura.extract(html[path], url=url)

        def fetch(url: str, path: str, n: int) -> None:
            client.get(path)

        def feed_feedparser(url: str, path: str, n: int) -> None:
            feedparser.parse(feed_bytes[n])

        def feed_lxml(url: str, path: str, n: int) -> None:
            lxml_items(feed_bytes[n])

        def store(url: str, path: str, n: int) -> None:
            pending.append((url, "title", "2026-12-06", texts.get(path, "")))
            if len(pending) == items:
                with db:
                    for row in pending:
                        rowid = db.execute("insert into stories (url, title, date, body)"
                                           " values (?, ?, ?, ?)", row).lastrowid
                        db.execute("insert into stories_fts (rowid, title, body) values (?, ?, ?)",
                                   (rowid, row[1], row[3]))
                pending.clear()

        def match(url: str, path: str, n: int) -> None:
            m.find_matches(Document("title", texts.get(path, "")))

        parts: dict[str, Callable[[str, str, int], None]] = {
            "extract, bare defaults": extract_bare, "extract, the clipping's": extract_clipping,
            "monitor's worker": worker, "signature, least": signature,
            "evidence, least": evidence, "meta tags, least": meta_tags,
            "fetch, raw socket": fetch, "feed, feedparser": feed_feedparser,
            "feed, lxml walk": feed_lxml, "store, row + FTS5": store,
            "match, rules + model": match}
        # a feed is parsed once for its 20 items: its part is counted a twentieth a page
        share = {"feed, feedparser": 1 / items, "feed, lxml walk": 1 / items}
        cpu = {name: 0.0 for name in parts}
        server_cpu = 0.0
        for _, path, _ in pages:  # warm: the first extraction builds trafilatura's caches
            extract_clipping(base + path, path, 0)
        load = os.getloadavg()[0]
        for r in range(args.rounds):
            names = list(parts)
            for k, (url, path, n) in enumerate(pages):
                order = names[(k + r) % len(names):] + names[:(k + r) % len(names)]
                for name in order:
                    if name == "fetch, raw socket":
                        s0 = cpu_seconds(server.pid)
                    t0 = time.process_time()
                    if name in share:
                        if (k % items) == 0:
                            parts[name](url, path, n)
                    else:
                        parts[name](url, path, n)
                    cpu[name] += time.process_time() - t0
                    if name == "fetch, raw socket":
                        server_cpu += cpu_seconds(server.pid) - s0
            print(f"round {r + 1} of {args.rounds} done", file=sys.stderr)
        done = len(pages) * args.rounds
        ms = {name: 1000 * cpu[name] / done for name in parts}
        ms["fetch, the server's side"] = 1000 * server_cpu / done
        load = (load + os.getloadavg()[0]) / 2
    finally:
        server.terminate()
        server.wait()

    print(f"bench_floor: {len(pages)} pages x {args.rounds} rounds, CPU ms per article "
          f"(load average about {load:.1f})")
    for name, value in ms.items():
        print(f"  {name:28s} {value:7.2f} ms")
    bare = ms["extract, bare defaults"]
    budget = bare / 0.9
    rest = (ms["fetch, raw socket"] + ms["fetch, the server's side"]
            + min(ms["feed, feedparser"], ms["feed, lxml walk"])
            + ms["store, row + FTS5"] + ms["match, rules + model"])
    extraction = ms["extract, the clipping's"]
    print(f"  budget at 90% of bare:         {budget:7.2f} ms (bare / 0.9); beside the least"
          f" extraction it leaves {budget - extraction:.2f} ms, and the rest of the floor takes"
          f" {rest:.2f}")
    product = ms["signature, least"] + ms["evidence, least"] + ms["meta tags, least"]
    server = ms["fetch, the server's side"]
    print("  floors, with the feed server's CPU (it shares the cores in bench/run.py) and without:")
    for label, total in (("the least extraction", extraction + rest),
                         ("with the least the product adds", extraction + rest + product),
                         ("the same, matching free", extraction + rest + product
                          - ms["match, rules + model"]),
                         ("the monitor's worker", ms["monitor's worker"] + rest)):
        print(f"    {label:34s} {total:6.2f} ms -> at most {bare / total:4.0%} of bare extraction's"
              f" throughput; without the server {total - server:6.2f} ms -> {bare / (total - server):4.0%}")

if __name__ == "__main__":
    main()
