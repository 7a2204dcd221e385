"""OPML 2.0: the list format every feed reader imports and exports (pure).

parse_opml(bytes) -> [OpmlFeed]: every outline with an xmlUrl, at any depth (folders are
flattened). render_opml([OpmlFeed]) -> text.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import xml.etree.ElementTree as ET
from dataclasses import dataclass

from monitor.errors import MonitorError


class OpmlError(MonitorError):
    """A file that is not OPML."""


@dataclass(frozen=True, slots=True)
class OpmlFeed:
    url: str
    title: str = ""
    html_url: str = ""


def parse_opml(data: bytes) -> list[OpmlFeed]:
    # OPML needs no DTD: refusing one rules out entity expansion (billion laughs) and
    # external entities whatever the XML parser would do with them.
    if b"<!DOCTYPE" in data[:4096].upper() or b"<!ENTITY" in data.upper():
        raise OpmlError("not OPML: a document type declaration is not allowed")
    try:
        root = ET.fromstring(data)
    except ET.ParseError as e:
        raise OpmlError(f"not OPML: {e}") from e
    if root.tag.lower() != "opml":
        raise OpmlError(f"not OPML: the root element is <{root.tag}>")
    body = root.find("body")
    if body is None:
        raise OpmlError("not OPML: no <body>")
    feeds: list[OpmlFeed] = []
    seen: set[str] = set()
    for outline in body.iter("outline"):
        url = (outline.get("xmlUrl") or outline.get("xmlurl") or "").strip()
        if not url or url in seen:
            continue
        seen.add(url)
        title = (outline.get("title") or outline.get("text") or "").strip()
        feeds.append(OpmlFeed(url=url, title=title,
                              html_url=(outline.get("htmlUrl") or "").strip()))
    return feeds


def render_opml(feeds: list[OpmlFeed], *, title: str = "monitor feeds",
                now: dt.datetime | None = None) -> str:
    root = ET.Element("opml", version="2.0")
    head = ET.SubElement(root, "head")
    ET.SubElement(head, "title").text = title
    when = now or dt.datetime.now(dt.timezone.utc)
    ET.SubElement(head, "dateCreated").text = email.utils.format_datetime(when, usegmt=True)
    body = ET.SubElement(root, "body")
    for feed in feeds:
        attributes = {"type": "rss", "text": feed.title or feed.url, "title": feed.title or feed.url,
                      "xmlUrl": feed.url}
        if feed.html_url:
            attributes["htmlUrl"] = feed.html_url
        ET.SubElement(body, "outline", attributes)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
