"""Feed stage: the only module importing feedparser.

Response bytes + headers -> FeedMeta and a list of Entry records (pure; no network:
feedparser is only ever handed bytes).
"""

from __future__ import annotations

import calendar
import datetime as dt
import json
from typing import Any

import feedparser

from monitor.errors import ParseError
from monitor.models import Entry, FeedMeta


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


def _when(entry: Any) -> dt.datetime | None:
    for key in ("published_parsed", "updated_parsed", "created_parsed"):
        parsed = entry.get(key)
        if parsed:
            try:
                return dt.datetime.fromtimestamp(calendar.timegm(parsed), tz=dt.timezone.utc)
            except (OverflowError, ValueError, OSError):
                continue
    return None


def _author(entry: Any) -> str:
    if entry.get("author"):
        return _text(entry.get("author"))
    names = [_text(a.get("name")) for a in entry.get("authors") or [] if isinstance(a, dict)]
    return ", ".join(n for n in names if n)


def _content(entry: Any) -> str:
    contents = entry.get("content") or []
    # The longest content block is the fullest text the feed carries.
    values = [_text(c.get("value")) for c in contents if isinstance(c, dict)]
    return max(values, key=len, default="")


def parse_feed(content: bytes, headers: dict[str, str], url: str) -> tuple[FeedMeta, list[Entry]]:
    """Parse a feed document. An ill-formed feed with entries yields them, with ``problem`` set;
    a document with no entries that is ill-formed or not a feed at all raises ParseError."""
    if content.removeprefix(b"\xef\xbb\xbf").lstrip()[:1] == b"{":
        return parse_json_feed(content, url)
    # feedparser reads the charset from Content-Type; it never fetches when given bytes.
    parsed = feedparser.parse(content, response_headers=headers or {}, sanitize_html=True)
    problem = None
    if parsed.get("bozo"):
        exc = parsed.get("bozo_exception")
        problem = f"{type(exc).__name__}: {exc}" if exc else "ill-formed feed"
    raw_entries = parsed.get("entries") or []
    if not raw_entries and (problem or not parsed.get("version")):
        raise ParseError(f"not a feed: {problem or 'no feed format recognised'}", url=url)
    feed = parsed.get("feed") or {}
    meta = FeedMeta(title=_text(feed.get("title")), link=_text(feed.get("link")), problem=problem)
    entries = []
    for raw in raw_entries:
        link = _text(raw.get("link")) or None
        guid = _text(raw.get("id")) or None
        title = _text(raw.get("title"))
        if not (link or guid or title):
            continue  # nothing to identify the story by
        entries.append(Entry(
            feed_url=url,
            guid=guid,
            url=link,
            title=title,
            summary=_text(raw.get("summary")),
            content=_content(raw),
            author=_author(raw),
            published=_when(raw),
        ))
    return meta, entries


def _iso_datetime(value: Any) -> dt.datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        when = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.timezone.utc)
    return when.astimezone(dt.timezone.utc)


def parse_json_feed(content: bytes, url: str) -> tuple[FeedMeta, list[Entry]]:
    """JSON Feed 1.0 / 1.1 (https://jsonfeed.org), which feedparser 6 does not read."""
    try:
        doc = json.loads(content)
    except (ValueError, UnicodeDecodeError, RecursionError) as e:
        raise ParseError(f"not a feed: invalid JSON ({e})", url=url) from e
    if not isinstance(doc, dict) or "jsonfeed.org" not in str(doc.get("version", "")):
        raise ParseError("not a feed: JSON without a JSON Feed version", url=url)
    items = doc.get("items")
    if not isinstance(items, list):
        raise ParseError("not a feed: JSON Feed without items", url=url)
    entries = []
    for item in items:
        if not isinstance(item, dict):
            continue
        link = _text(item.get("url")) or _text(item.get("external_url")) or None
        raw_id = item.get("id")
        guid = str(raw_id).strip() or None if isinstance(raw_id, (str, int, float)) else None
        title = _text(item.get("title"))
        if not (link or guid or title):
            continue
        authors = item.get("authors")
        if not isinstance(authors, list) or not authors:  # 1.1 "authors", else 1.0 "author"
            authors = [item["author"]] if isinstance(item.get("author"), dict) else []
        author = ", ".join(_text(a.get("name")) for a in authors if isinstance(a, dict) and a.get("name"))
        entries.append(Entry(
            feed_url=url,
            guid=guid,
            url=link,
            title=title,
            summary=_text(item.get("summary")),
            content=_text(item.get("content_html")) or _text(item.get("content_text")),
            author=author,
            published=_iso_datetime(item.get("date_published")) or _iso_datetime(item.get("date_modified")),
        ))
    meta = FeedMeta(title=_text(doc.get("title")), link=_text(doc.get("home_page_url")))
    return meta, entries
