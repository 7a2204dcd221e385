"""Feed discovery: a URL -> the feed behind it.

The URL itself when it is a feed; else the feeds its page announces (<link rel="alternate">,
found by extract.feed_links), tried in order until one parses. Every request goes through
fetch(), so the private-address guard, the limits and the deadline hold here too.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from monitor.config import FetchConfig
from monitor.errors import FeedError, ParseError
from monitor.parse.extract import feed_links
from monitor.parse.feeds import parse_feed
from monitor.parse.listing import Listing, read_listing
from monitor.fetch.body import page_text
from monitor.fetch.client import Limits, fetch
from monitor.models import Progress, no_progress

MAX_CANDIDATES = 5


async def fetch_listing(client: Any, url: str, cfg: FetchConfig, *, selector: str = "",
                        pattern: str = "") -> tuple[str, Listing]:
    """A watched page fetched now (the guard, caps and deadline as for any poll) and what it
    lists: its final URL and its links. For `monitor pages test` and `pages add`."""
    result = await fetch(client, url, cfg)
    return result.url, read_listing(result.content, result.headers, result.url,
                                    selector=selector, pattern=pattern)


@dataclass(frozen=True, slots=True)
class Discovered:
    url: str  # the feed's URL
    title: str
    via: str | None = None  # the page that linked to it, when the URL given was a page
    entries: int = 0


async def discover(client: Any, url: str, cfg: FetchConfig,
                   limits: Limits | None = None) -> Discovered:
    """The feed at ``url`` or announced by the page at ``url``; FeedError when there is none."""
    result = await fetch(client, url, cfg, limits=limits)
    try:
        meta, entries = parse_feed(result.content, result.headers, url)
        return Discovered(url=result.moved_to or url, title=meta.title, entries=len(entries))
    except ParseError:
        pass
    candidates = [c for c in feed_links(page_text(result), result.url) if c != url]
    problems = []
    for candidate in candidates[:MAX_CANDIDATES]:
        try:
            found = await fetch(client, candidate, cfg, limits=limits)
            meta, entries = parse_feed(found.content, found.headers, candidate)
        except FeedError as e:
            problems.append(f"{candidate}: {e}")
            continue
        return Discovered(url=found.moved_to or candidate, title=meta.title, via=url,
                          entries=len(entries))
    if problems:
        raise ParseError(f"no usable feed at {url}: " + "; ".join(problems), url=url)
    raise ParseError(f"no feed at {url}: it is not a feed and its page announces none "
                     '(<link rel="alternate" type="application/rss+xml" ...>); to watch the '
                     f"page's links instead: monitor pages test {url}", url=url)


@dataclass(frozen=True, slots=True)
class Checked:
    """One URL of a list checked as `monitor feeds add` checks it: the feed found, or why not."""

    url: str  # as listed
    found: Discovered | None = None
    error: str | None = None


async def check_feeds(client: Any, urls: list[str], cfg: FetchConfig,
                      progress: Progress = no_progress) -> list[Checked]:
    """Each URL through ``discover``, several at once within the fetch limits (an OPML file
    lists hundreds); in the order given. ``progress`` hears of each one checked."""
    limits = Limits(cfg.concurrency, cfg.per_host)
    results: list[Checked] = [Checked(url) for url in urls]
    done = failed = 0
    progress(0, len(urls))

    async def one(i: int, url: str) -> None:
        nonlocal done, failed
        try:
            results[i] = Checked(url, found=await discover(client, url, cfg, limits))
        except FeedError as e:
            results[i] = Checked(url, error=str(e))
            failed += 1
        done += 1
        progress(done, len(urls), f"{failed} failed")

    await asyncio.gather(*(one(i, url) for i, url in enumerate(urls)))
    return results
