"""Orchestration for sources that are not plain feeds, called by pipeline.update: a watched page
read as a feed (parse.listing), and engines' links turned into the publishers' (parse.search),
offline or by asking the engine once where its link redirects.

    read_entries      the fetched body -> FeedMeta and entries (a page's links, a feed's items);
                      BrokenListing: a page picks nothing
    resolve_links     engines' wrapped links -> the publishers': offline where the link carries
                      it, else (new entries only) by asking the engine once where it redirects
    is_baseline       a page's links to store as backlog, not alert: its first poll, or a set
                      sharing nothing with what it listed before (its layout changed)
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Callable
from typing import Any

from monitor.config import FeedConfig, FetchConfig
from monitor.errors import FetchError
from monitor.fetch.client import Limits, redirect_target
from monitor.models import Entry, FeedMeta, FetchResult
from monitor.parse.feeds import parse_feed
from monitor.parse.identity import canonical_url
from monitor.parse.listing import listing_entries
from monitor.parse.search import is_engine_link, unwrap_entry, unwrap_link

log = logging.getLogger("monitor")

Seen = Callable[[str | None, str | None], bool]  # Store.is_seen: (canonical URL, guid)

RESOLVE_CONCURRENCY = 4  # engine links asked at once for one feed (the per-host limit applies too)
# Engine links asked per poll of one feed: a search feed has a hundred items at most; a feed
# with thousands of opaque links is hostile, and the rest keep the engine's link.
RESOLVE_MAX = 200
# A page whose links all changed at once changed its layout (or its addresses): its new set is
# taken as a new backlog, not as this many stories to alert. Below this many links, all new is
# just a quiet newsroom's news.
BASELINE_MIN = 5


def read_entries(feed: FeedConfig, result: FetchResult) -> tuple[FeedMeta, list[Entry]]:
    """A fetched source's entries. A watched page: its links (BrokenListing when none is
    left); a feed: its items. ParseError when the body is neither."""
    if feed.kind == "page":
        return listing_entries(result.content, result.headers, result.url, page_url=feed.url,
                               selector=feed.selector, pattern=feed.pattern)
    return parse_feed(result.content, result.headers, feed.url, result.url)


async def resolve_links(client: Any, cfg: FetchConfig, limits: Limits, feed: FeedConfig,
                        entries: list[Entry], seen: Seen) -> list[Entry]:
    """The entries with engines' wrapped links replaced by the publishers' URLs (and the
    publisher's name off the headline): read offline where the link carries the URL; else, for
    a link still at an engine (or, in a search feed, at the host that served it), asked once
    through the guarded client where it redirects. Only entries never seen (by guid) are
    asked; a link that does not redirect, or whose engine fails, stays as it is (its page fetch
    follows the redirects)."""
    own_host = feed.url if feed.kind == "search" else ""
    resolved = [unwrap_entry(e) for e in entries]
    todo = [i for i, (e, was) in enumerate(zip(resolved, entries))
            if e.url and e.url == was.url and is_engine_link(e.url, own_host)
            and not seen(canonical_url(e.url), e.guid)]
    if not todo:
        return resolved
    if len(todo) > RESOLVE_MAX:
        log.warning("feed %s: %d links point at an engine; the first %d are followed, the rest "
                    "keep the engine's link", feed.url, len(todo), RESOLVE_MAX)
        todo = todo[:RESOLVE_MAX]
    limit = asyncio.Semaphore(RESOLVE_CONCURRENCY)

    async def one(i: int) -> None:
        entry = resolved[i]
        assert entry.url is not None
        async with limit:
            try:
                target = await redirect_target(client, entry.url, cfg, limits=limits)
            except FetchError as e:
                log.info("feed %s: link %s not unwrapped: %s", feed.url, entry.url, e)
                return
        if target and target.startswith(("http://", "https://")):
            resolved[i] = dataclasses.replace(entry, url=unwrap_link(target) or target)

    await asyncio.gather(*(one(i) for i in todo))
    return resolved


def is_baseline(feed: FeedConfig, entries: list[Entry], first_poll: bool, seen: Seen) -> bool:
    """Whether a page's links are all backlog this time: on its first poll (what a newsroom
    lists when we start is not news), and when none of at least BASELINE_MIN links was ever
    seen (the site changed its layout or its addresses: no alert storm)."""
    if feed.kind != "page":
        return False
    if first_poll:
        return True
    if len(entries) < BASELINE_MIN:
        return False
    return not any(seen(canonical_url(e.url), None) for e in entries if e.url)
