"""Every feed file of ../shared/corpora/feeds, served over HTTP from one local server with the
headers its upstream test used, goes through one polling cycle (page fetching off: the corpus
links to real sites) without a crash or a hang: well-formed feeds are read, documents that are
not feeds are recorded as feed errors, ill-formed ones give entries or a recorded error."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlsplit

import pytest
from support.engine import cycle, engine_config, feed_rows
from support.hostile import HostileServer

SHARED = Path(__file__).resolve().parents[3] / "shared"
CORPORA = SHARED / "corpora"

# Documents the corpus files as must_parse that are not feeds to us, and why.
NOT_FEEDS_TO_US = {
    # a <note> document from miniflux's XML-decoder tests: XML, but no feed format at all
    "feeds/miniflux/xml/testdata/iso88591.xml",
}
CONTENT_TYPES = {".json": "application/feed+json", ".html": "text/html"}


def serve(records: list[dict[str, Any]]) -> tuple[ThreadingHTTPServer, dict[str, str]]:
    routes: dict[str, tuple[Path, dict[str, str]]] = {}
    urls: dict[str, str] = {}
    for record in records:
        path = "/" + quote(record["path"])
        headers = dict(record.get("serve_with_headers") or {})
        if not any(k.lower() == "content-type" for k in headers):
            headers["Content-Type"] = CONTENT_TYPES.get(Path(record["path"]).suffix, "application/xml")
        routes[unquote(path)] = (CORPORA / record["path"], headers)
        urls[record["path"]] = path

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            route = routes.get(unquote(urlsplit(self.path).path))
            if route is None:
                body, headers, status = b"not found", {"Content-Type": "text/plain"}, 404
            else:
                body, headers, status = route[0].read_bytes(), route[1], 200
            HostileServer.send(self, status, body, headers)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    return server, {name: base + path for name, path in urls.items()}


@pytest.mark.slow
def test_every_corpus_feed_goes_through_a_cycle(tmp_path: Path) -> None:
    if not (CORPORA / "feeds_index.json").exists():
        pytest.skip(f"the shared corpora are not here ({CORPORA}): this test needs ../shared "
                    "beside the clone, as CI has it")
    records = json.loads((CORPORA / "feeds_index.json").read_text(encoding="utf-8"))["files"]
    server, urls = serve(records)
    try:
        config = engine_config(tmp_path, list(urls.values()), fetch_pages=False,
                               concurrency=8, per_host=8, timeout=10, total_timeout=30)
        started = time.monotonic()
        report = cycle(config, timeout=600)
        elapsed = time.monotonic() - started
    finally:
        server.shutdown()
        server.server_close()
    assert not [e for e in report.errors if "unexpected" in e], report.errors[:5]
    assert report.feeds_polled == len(records)
    rows = feed_rows(config)
    outcomes: Counter[tuple[str, str]] = Counter()
    wrong = []
    for record in records:
        row = rows[urls[record["path"]]]
        status = row["last_status"]
        assert status in ("updated", "not_modified", "error"), (record["path"], row)
        outcomes[(record["expect"], status)] += 1
        expect = record["expect"]
        if expect == "must_parse" and status == "error" and record["path"] not in NOT_FEEDS_TO_US:
            wrong.append((record["path"], row["last_error"]))
        if expect == "not_a_feed" and status != "error":
            wrong.append((record["path"], "read as a feed"))
    assert not wrong, wrong[:20]
    print(f"\n{len(records)} corpus feeds in {elapsed:.0f}s, {report.new_clippings} clippings: "
          f"{dict(outcomes)}")
