"""Orchestration only: one feed's update and the delivery of pending alerts.

update_feed(feed):
    skip while a server's Retry-After holds
    fetch conditionally            -> 304: record "not_modified", done
    parse entries                  -> a broken feed: record the error, done
    for each entry never seen (canonical URL or guid):
        fetch its page and extract the article in a worker process
            (or fall back to the feed's own text: origin "feed")
        build the clipping, match it, tag it with the entities found
        store story + clipping + matches + alerts in one transaction
    record the feed's success
deliver_pending(): send each pending alert; sent, or retried later with backoff, or failed for good.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import random
import time
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Any

from monitor import clipping as clippings
from monitor import metrics
from monitor.config import Config, FeedConfig
from monitor.errors import ExtractError, FeedError, NotifyError
from monitor.extract import article_from_entry, extract_article
from monitor.feeds import parse_feed
from monitor.fetch import fetch
from monitor.identity import canonical_url, story_key
from monitor.match import Matcher
from monitor.models import Article, Clipping, Document, Entry, Match
from monitor.notify import Notifier
from monitor.store import Store

log = logging.getLogger("monitor")

Clock = Callable[[], dt.datetime]


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


@dataclass
class CycleReport:
    feeds_polled: int = 0
    not_modified: int = 0
    new_clippings: int = 0
    flagged: int = 0
    alerts_sent: int = 0
    alerts_failed: int = 0
    errors: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return (f"{self.feeds_polled} feeds polled ({self.not_modified} not modified), "
                f"{self.new_clippings} new clippings, {self.flagged} flagged, "
                f"{self.alerts_sent} alerts sent, {self.alerts_failed} alerts not delivered, "
                f"{len(self.errors)} errors")


def retry_delay(attempts: int, retry_after: float | None) -> float:
    """Exponential backoff with jitter (30 s doubling to 1 h); a server's Retry-After wins."""
    if retry_after is not None:
        return min(max(retry_after, 1.0), 86400.0)
    base = min(3600.0, 30.0 * 2 ** max(0, attempts))
    return base * random.uniform(0.8, 1.2)


def build_clipping(entry: Entry, article: Article, feed: FeedConfig, feed_title: str,
                   entities: tuple[str, ...], matches: list[Match]) -> Clipping:
    """The clipping of a story: the feed's headline and date first, the page's text and metadata."""
    source = article.sitename or feed.name or feed_title
    events = [t for m in matches for t in m.tags]
    return clippings.make_clipping(
        title=entry.title or article.title,
        standfirst=article.description,
        source=source,
        url=entry.url or "",
        date=entry.published.date() if entry.published else article.date,
        author=article.author or entry.author,
        body=article.body,
        tags=(*entities, *events, source),
    )


def route_alerts(matches: list[Match], config: Config, enabled: set[str]) -> dict[str, tuple[str, ...]]:
    """notifier -> the rules that fired for it. A rule naming no notifier goes to all of them."""
    routes: dict[str, list[str]] = {}
    targets = {r.name: r.notifiers for r in config.rules}
    for m in matches:
        for notifier in targets.get(m.rule) or sorted(enabled):
            if notifier in enabled:
                routes.setdefault(notifier, [])
                if m.rule not in routes[notifier]:
                    routes[notifier].append(m.rule)
    return {n: tuple(rules) for n, rules in routes.items()}


class Pipeline:
    def __init__(self, config: Config, store: Store, matcher: Matcher, client: Any,
                 notifiers: dict[str, Notifier], executor: Executor | None,
                 clock: Clock = utcnow) -> None:
        self.config = config
        self.store = store
        self.matcher = matcher
        self.client = client
        self.notifiers = notifiers
        self.executor = executor
        self.clock = clock
        self._in_flight: set[str] = set()  # stories being processed, across concurrent feeds

    async def update_feed(self, feed: FeedConfig, report: CycleReport) -> None:
        now = self.clock()
        state = self.store.feed(feed.url)
        if state and state.retry_after_until and state.retry_after_until > now:
            log.info("feed %s: deferred until %s (Retry-After)", feed.url, state.retry_after_until)
            return
        report.feeds_polled += 1
        started = time.monotonic()
        try:
            result = await fetch(self.client, feed.url, self.config.fetch,
                                 etag=state.etag if state else None,
                                 last_modified=state.last_modified if state else None)
            metrics.fetched("feed", time.monotonic() - started)
            if result.not_modified:
                self.store.record_feed_success(feed.url, feed.name, now=now, status="not_modified")
                report.not_modified += 1
                metrics.polled("not_modified")
                log.info("feed %s: not_modified", feed.url)
                return
            meta, entries = parse_feed(result.content, result.headers, feed.url)
        except FeedError as e:
            retry_until = None
            if getattr(e, "retry_after", None):
                retry_until = now + dt.timedelta(seconds=float(e.retry_after))  # type: ignore[attr-defined]
            self.store.record_feed_error(feed.url, feed.name, now=now, error=str(e),
                                         retry_after_until=retry_until)
            report.errors.append(f"{feed.url}: {e}")
            log.warning("feed %s: error: %s", feed.url, e)
            metrics.poll_failed(e)
            return
        if meta.problem:
            log.warning("feed %s: ill-formed, %d entries kept: %s", feed.url, len(entries), meta.problem)
        new = flagged = 0
        for entry in entries:
            outcome = await self._add_entry(entry, feed, meta.title)
            new += outcome is not None
            flagged += bool(outcome)
        report.new_clippings += new
        report.flagged += flagged
        self.store.record_feed_success(feed.url, feed.name, now=now, status="updated", title=meta.title,
                                       etag=result.etag, last_modified=result.last_modified,
                                       problem=meta.problem)
        log.info("feed %s: updated, %d entries, %d new, %d flagged", feed.url, len(entries), new, flagged)
        metrics.polled("updated", new=new, flagged=flagged)

    async def _add_entry(self, entry: Entry, feed: FeedConfig, feed_title: str) -> bool | None:
        """Process one entry; None if it was seen before, else whether it was flagged."""
        canonical = canonical_url(entry.url) if entry.url else ""
        if self.store.is_seen(canonical or None, entry.guid):
            return None
        key = story_key(canonical or entry.guid or f"{feed.url}\n{entry.title}")
        if key in self._in_flight:
            return None
        self._in_flight.add(key)
        try:
            article, origin = await self._article(entry)
            draft = Document(title=entry.title or article.title, body=article.body,
                             source=article.sitename or feed.name or feed_title, url=entry.url or "")
            matches = self.matcher.find_matches(draft)
            entities = self.matcher.find_entities(draft)
            clipping = build_clipping(entry, article, feed, feed_title, entities, matches)
            enabled = set(self.notifiers)
            stored = self.store.add_story(
                clipping_id=key, clipping=clipping, text=clippings.render(clipping), origin=origin,
                fingerprint=article.fingerprint, feed_url=feed.url, guid=entry.guid,
                canonical=canonical or None, published=entry.published, matches=matches,
                alerts=route_alerts(matches, self.config, enabled), now=self.clock())
        finally:
            self._in_flight.discard(key)
        if not stored:
            return None
        if matches:
            log.info("story %s flagged by %s: %s", key, ", ".join(m.rule for m in matches), clipping.title)
        return bool(matches)

    async def _article(self, entry: Entry) -> tuple[Article, str]:
        """The page's article, or the feed's own text when the page fails."""
        if self.config.fetch.fetch_pages and entry.url:
            try:
                started = time.monotonic()
                page = await fetch(self.client, entry.url, self.config.fetch)
                metrics.fetched("page", time.monotonic() - started)
                loop = asyncio.get_running_loop()
                article = await loop.run_in_executor(self.executor, extract_article, page.content, page.url)
                return article, "page"
            except (FeedError, ExtractError) as e:
                log.warning("story %s: page not used (%s); built from the feed", entry.url, e)
                metrics.error("page")
        return article_from_entry(entry), "feed"

    async def deliver_pending(self, report: CycleReport, *, force: bool = False) -> None:
        """Send pending alerts. ``force`` tries every one now, whatever its backoff."""
        now = self.clock()
        for alert in self.store.pending_alerts(now=None if force else now):
            notifier = self.notifiers.get(alert.notifier)
            if notifier is None:
                log.warning("alert %s: notifier %r is not configured or disabled; kept pending",
                            alert.key, alert.notifier)
                continue
            try:
                await notifier.send(alert)
            except NotifyError as e:
                delay = retry_delay(alert.attempts, e.retry_after)
                self.store.mark_failed_attempt(alert.id, error=str(e), permanent=e.permanent,
                                               next_attempt=self.clock() + dt.timedelta(seconds=delay))
                report.alerts_failed += 1
                metrics.delivered(alert.notifier, "failed" if e.permanent else "retry")
                report.errors.append(f"alert {alert.key}: {e}")
                log.warning("alert %s via %s: %s%s", alert.key, alert.notifier, e,
                            " (permanent, not retried)" if e.permanent else f" (retry in {delay:.0f}s)")
                continue
            self.store.mark_sent(alert.id, now=self.clock())
            report.alerts_sent += 1
            metrics.delivered(alert.notifier, "sent")
            log.info("alert %s sent via %s", alert.key, alert.notifier)
