"""Feed stage: the only module importing feedparser.

Response bytes + headers -> FeedMeta and a list of Entry records (pure; no network:
feedparser is only ever handed bytes).
"""

from __future__ import annotations

import calendar
import datetime as dt
import hashlib
import html
import json
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urljoin

import feedparser

from monitor.errors import ParseError
from monitor.models import Entry, FeedMeta
from monitor.units import parse_iso_datetime

BOM = b"\xef\xbb\xbf"


# sy:updatePeriod names, in seconds (RSS 1.0 syndication module).
UPDATE_PERIODS = {"hourly": 3600.0, "daily": 86400.0, "weekly": 7 * 86400.0,
                  "monthly": 30 * 86400.0, "yearly": 365 * 86400.0}


def ttl_seconds(value: object) -> float | None:
    """RSS <ttl>: minutes."""
    try:
        minutes = float(str(value).strip())
    except (TypeError, ValueError):
        return None
    return minutes * 60 if 0 < minutes < 1e6 else None


def update_period_seconds(period: object, frequency: object) -> float | None:
    """sy:updatePeriod (default daily) divided by sy:updateFrequency (default 1)."""
    if not period and not frequency:
        return None
    seconds = UPDATE_PERIODS.get(str(period or "daily").strip().lower())
    if seconds is None:
        return None
    try:
        times = int(str(frequency or "1").strip())
    except ValueError:
        times = 1
    return seconds / times if times > 0 else None


def _entry(feed_url: str, link: str | None, guid: str | None, title: str, summary: str,
           content: str, author: str, published: dt.datetime | None,
           source: str = "") -> Entry | None:
    """The entry, with a guid made from its text when it has neither link nor guid; None when
    it has nothing to identify the story by and nothing to read either."""
    if not (link or guid):
        if not (title or summary or content):
            return None
        guid = synthetic_guid(feed_url, title, published, content or summary)
    return Entry(feed_url=feed_url, guid=guid, url=link, title=title, summary=summary,
                 content=content, author=author, published=published, source=source)


def _text(value: object) -> str:
    return value.strip() if isinstance(value, str) else ""


def _absolute(link: str, base: str) -> str:
    """A link made absolute against ``base`` (a relative one is a path on the feed's site).
    Only links: guids are identities, compared as written, never resolved."""
    if not link:
        return link
    try:
        return urljoin(base, link)
    except ValueError:  # "http://[::1/x": kept as written, refused when fetched
        return link


def _when(entry: Mapping[str, Any]) -> dt.datetime | None:
    for key in ("published_parsed", "updated_parsed", "created_parsed"):
        parsed = entry.get(key)
        if parsed:
            try:
                return dt.datetime.fromtimestamp(calendar.timegm(parsed), tz=dt.timezone.utc)
            except (OverflowError, ValueError, OSError):
                continue
    return None


def _author(entry: Mapping[str, Any]) -> str:
    if entry.get("author"):
        return _text(entry.get("author"))
    names = [_text(a.get("name")) for a in entry.get("authors") or [] if isinstance(a, dict)]
    return ", ".join(n for n in names if n)


def _title(entry: Mapping[str, Any]) -> str:
    """The headline as text: an HTML title (Google Alerts bolds the words searched) loses its
    tags and entities."""
    title = _text(entry.get("title"))
    detail = entry.get("title_detail")
    markup = ("text/html", "application/xhtml+xml")
    if isinstance(detail, Mapping) and detail.get("type") in markup and "<" in title:
        title = " ".join(html.unescape(re.sub(r"<[^>]*>", "", title)).split())
    return title


def _source(entry: Mapping[str, Any]) -> str:
    """The publisher an aggregator's item names: RSS <source> (Google News), News:Source (Bing)."""
    source = entry.get("source")
    if isinstance(source, Mapping):
        return _text(source.get("title"))[:200]
    return _text(entry.get("news_source"))[:200]


def _content(entry: Mapping[str, Any]) -> str:
    contents = entry.get("content") or []
    # The longest content block is the fullest text the feed carries.
    values = [_text(c.get("value")) for c in contents if isinstance(c, dict)]
    return max(values, key=len, default="")


def synthetic_guid(feed_url: str, title: str, published: dt.datetime | None, text: str) -> str:
    """A stable identity for an entry that has neither a link nor a guid: its feed,
    title and date, or its feed and text when it has no title. Polling the same feed again
    gives the same identity, so the entry is not taken for a new story each time."""
    if title:
        basis = f"{feed_url}\n{title}\n{published.isoformat() if published else ''}"
    else:
        basis = f"{feed_url}\n\n{text}"
    return "urn:monitor:" + hashlib.sha256(basis.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def _looks_like_json(content: bytes) -> bool:
    head = content[:64].lstrip(b" \t\r\n")
    if head.startswith(BOM):
        head = head[len(BOM):].lstrip(b" \t\r\n")
    return head[:1] in (b"{", b"[") or head.startswith(b"null")


def parse_feed(content: bytes, headers: dict[str, str], url: str,
               base: str | None = None) -> tuple[FeedMeta, list[Entry]]:
    """Parse a feed document. An ill-formed feed with entries yields them, with ``problem`` set;
    so does a feed with no entries at all. A document that is not a feed raises ParseError.
    ``url``: the feed's identity; ``base``: where it was fetched from (after redirects; default
    ``url``), against which relative links are resolved, after any xml:base of the feed."""
    base = base or url
    if _looks_like_json(content):
        return parse_json_feed(content, url, base)
    # feedparser reads the charset from Content-Type; it never fetches when given bytes.
    parsed = feedparser.parse(content, response_headers=headers or {}, sanitize_html=True)
    problem = None
    if parsed.get("bozo"):
        exc = parsed.get("bozo_exception")
        problem = f"{type(exc).__name__}: {exc}" if exc else "ill-formed feed"
    raw_entries = parsed.get("entries") or []
    feed = parsed.get("feed") or {}
    if not raw_entries and not _is_feed_without_entries(parsed, content):
        raise ParseError(f"not a feed: {problem or 'no feed format recognised'}"
                         + _html_hint(content), url=url)
    meta = FeedMeta(title=_text(feed.get("title")), link=_absolute(_text(feed.get("link")), base),
                    problem=problem,
                    ttl=ttl_seconds(feed.get("ttl")),
                    update_period=update_period_seconds(feed.get("sy_updateperiod"),
                                                        feed.get("sy_updatefrequency")))
    entries = []
    for raw in raw_entries:
        link = _absolute(_text(raw.get("link")), base) or None
        guid = _text(raw.get("id")) or None
        title = _title(raw)
        summary = _text(raw.get("summary"))
        content_text = _content(raw)
        published = _when(raw)
        entry = _entry(url, link, guid, title, summary, content_text, _author(raw), published,
                       _source(raw))
        if entry is not None:
            entries.append(entry)
    return meta, entries


def _is_feed_without_entries(parsed: Mapping[str, Any], content: bytes) -> bool:
    """A feed with no entries (yet) is a feed: one whose format feedparser recognised, or whose
    channel has a title, link, description or date (CDF, say), unless the document is HTML."""
    if _is_html(content):
        return False
    if parsed.get("version"):
        return True
    feed = parsed.get("feed") or {}
    return any(_text(feed.get(key)) for key in ("title", "link", "subtitle", "updated"))


def _is_html(content: bytes) -> bool:
    head = content[:2048].lstrip().lower()
    return head.startswith((b"<!doctype html", b"<html")) or b"<html" in head[:512]


def _html_hint(content: bytes) -> str:
    if _is_html(content):
        return " (this is an HTML page: `monitor feeds add` finds the feed a page links to)"
    return ""


def _iso_datetime(value: object) -> dt.datetime | None:
    """An RFC 3339 date (JSON Feed) in UTC; a date without a zone is taken as UTC."""
    if not isinstance(value, str) or not value.strip():
        return None
    return parse_iso_datetime(value)


def _authors(value: object) -> list[str]:
    """JSON Feed 1.1 ``authors`` (a list) or 1.0 ``author`` (one object); names only."""
    if isinstance(value, dict):
        value = [value]
    if not isinstance(value, list):
        return []
    return [_text(a.get("name")) for a in value if isinstance(a, dict) and _text(a.get("name"))]


def _json_id(value: object) -> str | None:
    # 1.1 says a string; 1.0 feeds in the wild use numbers too.
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        return None
    text = str(value).strip()
    return text or None


def parse_json_feed(content: bytes, url: str,
                    base: str | None = None) -> tuple[FeedMeta, list[Entry]]:
    """JSON Feed 1.0 and 1.1 (https://jsonfeed.org), which feedparser 6 does not read.

    Lenient like the readers people use: an unknown ``version`` or a field of the wrong type
    drops that field, not the feed. An entry with no ``url`` and no ``id`` gets a stable
    identity from its title and date (or its text). Relative URLs, which the format forbids
    but feeds carry, are resolved against ``base`` (default ``url``)."""
    base = base or url
    if content.startswith(BOM):
        content = content[len(BOM):]
    try:
        doc = json.loads(content)
    except (ValueError, UnicodeDecodeError, RecursionError) as e:
        raise ParseError(f"not a feed: invalid JSON ({e})", url=url) from e
    if doc is None:  # a JSON feed that is just "null": empty
        return FeedMeta(title="", link="", problem="the JSON document is null"), []
    if not isinstance(doc, dict):
        raise ParseError("not a feed: JSON that is not a JSON Feed object", url=url)
    version = doc.get("version")
    items = doc.get("items")
    if "rss" in doc and "version" not in doc:
        raise ParseError("not a feed: RSS-in-JSON, not a JSON Feed", url=url)
    if not isinstance(items, list):
        if items is None and isinstance(version, str) and "jsonfeed" in version:
            items = []
        else:
            raise ParseError("not a feed: JSON without JSON Feed items", url=url)
    problem = None
    if not (isinstance(version, str) and version.rstrip("/").split("/")[-1] in ("1", "1.0", "1.1")):
        problem = f"unknown JSON Feed version {version!r}; read as 1.1"
    feed_authors = _authors(doc.get("authors")) or _authors(doc.get("author"))
    entries = []
    for item in items:
        if not isinstance(item, dict):
            continue
        link = _absolute(_text(item.get("url")) or _text(item.get("external_url")), base) or None
        guid = _json_id(item.get("id"))
        title = _text(item.get("title"))
        summary = _text(item.get("summary"))
        content_text = _text(item.get("content_html")) or _text(item.get("content_text"))
        published = (_iso_datetime(item.get("date_published"))
                     or _iso_datetime(item.get("date_modified")))
        authors = _authors(item.get("authors")) or _authors(item.get("author")) or feed_authors
        entry = _entry(url, link, guid, title, summary, content_text, ", ".join(authors),
                       published)
        if entry is not None:
            entries.append(entry)
    meta = FeedMeta(title=_text(doc.get("title")),
                    link=_absolute(_text(doc.get("home_page_url")), base), problem=problem)
    return meta, entries
