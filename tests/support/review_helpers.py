"""Helpers of the issue 6 tests: our own test articles (tests/data/stories/articles.jsonl:
events reported by several outlets, reworded or syndicated, and different events worded
alike), published on the test feed server, and configs with the review settings."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from support.feedserver import FeedServer, article_page, rss
from support.helpers import write_config

DATA = Path(__file__).resolve().parents[1] / "data" / "stories" / "articles.jsonl"
ARTICLES: dict[str, dict[str, Any]] = {
    a["id"]: a for a in (json.loads(line) for line in DATA.read_text(encoding="utf-8").splitlines()
                         if line.strip())}


def paragraphs(article: dict[str, Any]) -> list[str]:
    return [p.strip() for p in article["body"].split("\n\n") if p.strip()]


def publish(server: FeedServer, feed_path: str, ids: list[str], *, title: str = "Feed") -> str:
    """A feed of these articles (each with its page on the server); the feed's URL."""
    items = []
    for article_id in ids:
        a = ARTICLES[article_id]
        path = f"/news/{article_id}"
        server.put(path, article_page(a["title"], paragraphs(a), site=a["source"]))
        items.append({"title": a["title"], "link": server.url(path),
                      "summary": paragraphs(a)[0]})
    return server.put(feed_path, rss(title, items), "application/rss+xml")


def review_config(folder: Path, feeds: list[str], *, webhook_url: str | None = None,
                  fetch_pages: bool = True, monitor_extra: str = "") -> Path:
    """helpers.write_config, with the review keys added to [monitor]."""
    path = write_config(folder, feeds, webhook_url=webhook_url, fetch_pages=fetch_pages)
    text = path.read_text(encoding="utf-8")
    text = re.sub(r'(?m)^interval = "15m"$', f'interval = "15m"\n{monitor_extra}', text, count=1)
    path.write_text(text, encoding="utf-8")
    return path
