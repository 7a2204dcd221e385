"""Parse stage: saved news searches (pure). A query and its locales -> the engines' RSS search
feeds; an engine's wrapped link -> the publisher's URL, offline where the link carries it.

Google News search, Bing News search and Google Alerts hand out links that point at the engine
(a redirect or a click counter) with the publisher's address inside; a story's identity is the
publisher's URL, so the same story from a search feed and from the publisher's own feed is one.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import re
from urllib.parse import parse_qsl, quote_plus, urlsplit

from monitor.config import FeedConfig, SearchConfig
from monitor.models import Entry

ENGINES = {
    "google": "https://news.google.com/rss/search?q={query}&hl={hl}&gl={country}"
              "&ceid={country}:{lang}",
    "bing": "https://www.bing.com/news/search?q={query}&format=rss&setlang={locale}"
            "&cc={country}",
}
LOCALE = re.compile(r"^([a-z]{2,3})-([A-Z]{2})$")


def parse_locale(locale: str) -> tuple[str, str]:
    """("fr", "FR") from "fr-FR"; ValueError for anything else."""
    found = LOCALE.match(locale.strip())
    if not found:
        raise ValueError(f"expected a language and a country such as fr-FR or en-US, got "
                         f"{locale!r}")
    return found.group(1), found.group(2)


def search_feeds(query: str, locales: tuple[str, ...],
                 engines: tuple[str, ...]) -> list[tuple[str, str]]:
    """(label, feed URL) for each engine and locale, in that order: the RSS feeds that run the
    search. Google's ``hl`` is the language, with the country for English (as Google News
    writes it); Bing takes the locale and the country."""
    feeds = []
    for engine in engines:
        template = ENGINES.get(engine, engine)
        label = engine if engine in ENGINES else (urlsplit(engine).hostname or "custom")
        for locale in locales:
            lang, country = parse_locale(locale)
            hl = f"{lang}-{country}" if lang == "en" else lang
            url = (template.replace("{query}", quote_plus(query)).replace("{lang}", lang)
                   .replace("{country}", country).replace("{locale}", f"{lang}-{country}")
                   .replace("{hl}", hl))
            feeds.append((f"{label} {lang}-{country}", url))
    return feeds


def _host(url: str) -> str:
    try:
        return (urlsplit(url).hostname or "").lower()
    except ValueError:
        return ""


def _is_google(host: str) -> bool:
    """google.com, www.google.fr, google.co.uk..."""
    labels = host.split(".")
    if len(labels) >= 2 and labels[-2] == "google":
        return len(labels) == 2 or labels[:-2] in (["www"], ["news"])
    return (len(labels) >= 3 and labels[-3] == "google" and labels[-2] in ("co", "com")
            and (len(labels) == 3 or labels[:-3] in (["www"], ["news"])))


def _web_url(value: str) -> str | None:
    value = value.strip()
    return value if value.startswith(("http://", "https://")) and _host(value) else None


def _google_article(path: str) -> str | None:
    """The publisher's URL inside a Google News article id (/rss/articles/CBMi...), when the
    id is the older kind that carries it: base64 of a small protobuf message whose
    length-delimited field holds the URL. The newer, opaque ids give None."""
    token = path.rstrip("/").rsplit("/", 1)[-1]
    if not token or len(token) > 4096:
        return None
    try:
        data = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (binascii.Error, ValueError):
        return None
    i = 0
    while i < len(data):
        key = data[i]
        i += 1
        wire = key & 7
        if wire == 0:  # a varint: skip it
            while i < len(data) and data[i] & 0x80:
                i += 1
            i += 1
        elif wire == 2:  # length-delimited: the URL, if it is one
            size, shift = 0, 0
            while i < len(data) and shift < 35:
                size |= (data[i] & 0x7F) << shift
                shift += 7
                i += 1
                if not data[i - 1] & 0x80:
                    break
            value = data[i:i + size]
            i += size
            if value.startswith((b"http://", b"https://")):
                try:
                    return _web_url(value.decode("utf-8"))
                except UnicodeDecodeError:
                    return None
        else:
            return None
    return None


def _bing_click(value: str) -> str | None:
    """Bing's /ck/a links carry ``u=a1`` + the URL in URL-safe base64."""
    if not value.startswith("a1"):
        return None
    token = value[2:]
    try:
        return _web_url(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode("utf-8"))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        return None


def unwrap_link(url: str) -> str | None:
    """The publisher's URL an engine's link carries, read offline; None when ``url`` is not
    an engine's wrapped link or does not carry it. Google's redirects (``/url?url=`` or
    ``?q=``, Google Alerts' links among them) and Google News article ids of the older kind;
    Bing News click links (``apiclick.aspx?url=``) and Bing's ``/ck/a?u=a1...``."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return None
    host = (parts.hostname or "").lower()
    params = dict(parse_qsl(parts.query, keep_blank_values=True))
    if _is_google(host):
        if parts.path == "/url":
            return _web_url(params.get("url", "")) or _web_url(params.get("q", ""))
        if host == "news.google.com" and "/articles/" in parts.path:
            return _google_article(parts.path)
        return None
    if host == "bing.com" or host.endswith(".bing.com"):
        path = parts.path.lower()
        if path.endswith("/apiclick.aspx"):
            return _web_url(params.get("url", ""))
        if path == "/ck/a":
            return _bing_click(params.get("u", ""))
    return None


def is_engine_link(url: str, feed_url: str = "") -> bool:
    """A link that still points at an engine (or, for a search feed, back at the host that
    served it) once offline unwrapping failed: one redirect away from the publisher."""
    host = _host(url)
    if not host:
        return False
    if feed_url and host == _host(feed_url):
        return True
    return host == "news.google.com" or host == "bing.com" or host.endswith(".bing.com") or (
        _is_google(host) and urlsplit(url).path == "/url")


def publisher_title(title: str, source: str) -> str:
    """Google News writes "Headline - Publisher": the headline alone."""
    if source and title.endswith(f" - {source}"):
        return title[:-len(source) - 3].rstrip()
    return title


def unwrap_entry(entry: Entry) -> Entry:
    """An entry whose engine link is replaced by the publisher's URL (read offline), and whose
    title loses the publisher's name that engines append."""
    url = unwrap_link(entry.url) if entry.url else None
    title = publisher_title(entry.title, entry.source)
    if url is None and title == entry.title:
        return entry
    return dataclasses.replace(entry, url=url or entry.url, title=title)


def as_feeds(search: SearchConfig) -> list[FeedConfig]:
    """A saved search as the feeds that run it, one per engine and locale (kind "search")."""
    name = search.name or search.query
    return [FeedConfig(url=url, name=f"{name} ({label})", interval=search.interval,
                       enabled=search.enabled, backlog_max_age=search.backlog_max_age,
                       kind="search")
            for label, url in search_feeds(search.query, search.locales, search.engines)]
