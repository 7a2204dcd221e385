"""Orchestration only: one feed's update and the delivery of pending alerts.

update_feed(feed):
    skip while a server's Retry-After holds
    re-check the pages of this feed's flagged stories that are due (store.evidence)
    fetch conditionally (at its moved URL, if it moved)
                                   -> failure: record it, back off (schedule.next_check), done
                                   -> 304, or the same body as last time: record, done
    parse entries (in a thread)    -> a broken feed: record the error, back off, done
        (a watched page's links, and engines' links unwrapped to the publishers': sources)
    the entries never seen (canonical URL or guid); past max_new_per_poll, only the oldest
        (the others stay new for the next polls: no validators or body hash kept), and
    for each of them, a few at a time:
        fetch its page and extract the article in a worker process
            (or fall back to the feed's own text, off the loop too: origin "feed")
        build the clipping, match it, tag it with the entities found
        on a feed's first poll, a story older than backlog_max_age is backlog: no alert
    store the new stories STORY_BATCH at a time, several per transaction (as many as fit in
        WRITE_SLICE: one commit for a usual feed, not one per story), each story whole:
        story + clipping + matches + alerts, with its story (one per event) and its raw
        page as evidence (store.archive); should one fail, the others are
        stored one by one
    record the feed's success and its next check (hints, rhythm)
deliver_pending(): the outbox (pipeline.deliver): digests, flood control, each pending alert;
    sent, or retried later with backoff, or failed for good.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import functools
import hashlib
import logging
import time
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Any, TypeVar

from monitor.store import archive
from monitor.store import evidence
from monitor import clipping as clippings
from monitor.pipeline.analysis import PageAnalysis, TextAnalysis, analyse_entry, analyse_page
from monitor.config import Config, FeedConfig
from monitor.errors import BrokenListing, ExtractError, FeedError, FetchError, ParseError
from monitor.parse.extract import extract_article, plain_article_from_entry
from monitor.fetch.body import page_text
from monitor.fetch.client import Limits, fetch, parse_retry_after
from monitor.parse.identity import canonical_url, story_key
from monitor.match.matcher import Matcher, document
from monitor.models import (Article, Clipping, Entry, FeedState, FeedUpdate, FetchResult, Match,
                            NewStory, PollResult, ScheduleDecision)
from monitor.decide.schedule import cache_lifetime, next_check, rhythm
from monitor.notify import Notifier
from monitor.pipeline import sources
from monitor.safetext import escape
from monitor.pipeline.events import NO_EVENTS, Events
from monitor.pipeline.deliver import Outbox
from monitor.pipeline.workers import ExtractionPool
from monitor.store.database import Store

log = logging.getLogger("monitor")

ENTRY_CONCURRENCY = 4  # new stories of one feed processed at once (page fetch + extraction)
# New stories of a feed stored per transaction: one commit (one fsync) for a usual feed, since
# a commit per story made storing the slowest step of a cold cycle; and a feed with thousands
# of new entries still commits as it goes.
STORY_BATCH = 20
WRITE_SLICE = 0.05  # seconds of storing per transaction, at most a story over, then the loop runs
# Entries of a feed looked up in the database between two turns of the event loop: a feed
# listing 30,000 entries must not hold the loop (and the watchdog's pings) while they are.
LOOKUP_SLICE = 200
# A feed entry with more HTML than this (characters) has it extracted in a worker process,
# under the workers' deadline and memory cap; a usual one, in a thread, which costs no process.
FEED_TEXT_IN_WORKER = 50_000

Clock = Callable[[], dt.datetime]
T = TypeVar("T")


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
    digests_sent: int = 0  # alerts_sent counts the alerts inside them too
    backlog: int = 0  # flagged on a feed's first poll but too old to alert

    def summary(self) -> str:
        extra = ""
        if self.digests_sent:
            extra += f" ({self.digests_sent} digests)"
        text = (f"{self.feeds_polled} feeds polled ({self.not_modified} not modified), "
                f"{self.new_clippings} new clippings, {self.flagged} flagged, "
                f"{self.alerts_sent} alerts sent{extra}, {self.alerts_failed} alerts not "
                f"delivered, {len(self.errors)} errors")
        if self.backlog:
            text += f"; {self.backlog} flagged stories were backlog (not alerted)"
        return text


def build_clipping(entry: Entry, article: Article, feed: FeedConfig, feed_title: str,
                   entities: tuple[str, ...], matches: list[Match]) -> Clipping:
    """The clipping of a story: the feed's headline and date first (the page's date is only
    looked for when the feed gives none), the page's text and metadata;
    its source the publisher an aggregator's item names, else the page's site, else the feed."""
    source = entry.source or article.sitename or feed.name or feed_title
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


def is_backlog(entry: Entry, article: Article, before: dt.datetime | None) -> bool:
    """Published before ``before`` (the feed's first poll minus backlog_max_age): the feed's
    date, else the page's; a story with no date at all is news."""
    if before is None:
        return False
    published = entry.published
    if published is None and article.date is not None:
        published = dt.datetime.combine(article.date, dt.time(), tzinfo=dt.timezone.utc)
    if published is None:
        return False
    if published.tzinfo is None:
        published = published.replace(tzinfo=dt.timezone.utc)
    return published < before


def oldest_first(entries: list[Entry]) -> list[Entry]:
    """``entries`` oldest first: by date, the undated last (as the newest) in the reverse of the
    feed's order, since feeds list their newest entries first."""
    def when(item: tuple[int, Entry]) -> tuple[int, float, int]:
        position, entry = item
        if entry.published is None:
            return (1, 0.0, -position)
        return (0, entry.published.timestamp(), -position)
    return [entry for _, entry in sorted(enumerate(entries), key=when)]


def route_alerts(matches: list[Match], config: Config, enabled: set[str]) -> dict[str, tuple[str, ...]]:
    """notifier -> the rules that fired for it. A rule naming no notifier goes to all of them;
    a notifier takes a rule only when its score reaches the notifier's ``min_score``, so a
    noisy channel can be kept for the strongest matches."""
    routes: dict[str, list[str]] = {}
    targets = {r.name: r.notifiers for r in config.rules}
    min_scores = {n.name: n.delivery.min_score for n in config.notifiers}
    for m in matches:
        for notifier in targets.get(m.rule) or sorted(enabled):
            if notifier in enabled and m.score >= min_scores.get(notifier, 0.0):
                routes.setdefault(notifier, [])
                if m.rule not in routes[notifier]:
                    routes[notifier].append(m.rule)
    return {n: tuple(rules) for n, rules in routes.items()}


@dataclass(slots=True)
class _Draft:
    """A new story, processed and ready to store (Pipeline._prepare -> Pipeline._write)."""
    key: str
    published: dt.datetime | None
    page: FetchResult | None
    story: NewStory
    matches: list[Match]
    backlog: bool
    backlog_before: dt.datetime | None
    analysis: PageAnalysis | None = None  # the page's, when the clipping was made from it
    text: TextAnalysis | None = None  # the feed text's, when the clipping was made from it


class Pipeline:
    def __init__(self, config: Config, store: Store, matcher: Matcher, client: Any,
                 notifiers: dict[str, Notifier],
                 executor: Executor | ExtractionPool | None,
                 clock: Clock = utcnow, events: Events = NO_EVENTS) -> None:
        self.config = config
        self.store = store
        self.matcher = matcher
        self.client = client
        self.notifiers = notifiers
        self.executor = executor
        self.clock = clock
        self.events = events  # what it reports as it works (the daemon's metrics)
        self._in_flight: set[str] = set()  # stories being processed, across concurrent feeds
        # Set on SIGTERM: no new story or feed is started, the page work in flight is dropped,
        # and what is ready is stored (stop_work).
        self._stopping = asyncio.Event()
        self.stories = archive.settings_of(config)  # grouping, evidence, page re-checks
        self.outbox = Outbox(store, notifiers, {n.name: n for n in config.notifiers}, clock,
                             update_window=self.stories.update_window, events=events,
                             review=config.review)
        # Feeds and pages share one global and one per-host limit: a page fetch is a request
        # to a host like any other, and politeness counts them all.
        self.limits = Limits(config.fetch.concurrency, config.fetch.per_host)

    def use(self, config: Config, matcher: Matcher, notifiers: dict[str, Notifier]) -> None:
        """Switch to a reloaded configuration (SIGHUP) between two polls."""
        if (config.fetch.concurrency, config.fetch.per_host) != (self.config.fetch.concurrency,
                                                                 self.config.fetch.per_host):
            self.limits = Limits(config.fetch.concurrency, config.fetch.per_host)
        self.config = config
        self.matcher = matcher
        self.notifiers = notifiers
        self.stories = archive.settings_of(config)
        self.outbox = Outbox(self.store, notifiers, {n.name: n for n in config.notifiers},
                             self.clock, update_window=self.stories.update_window,
                             events=self.events, review=config.review)

    def stop_work(self) -> None:
        """Stop taking work (SIGTERM): polls under way store the stories already made and
        return at once, leaving their feeds to the next run; no new poll starts."""
        self._stopping.set()

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    async def update_feed(self, feed: FeedConfig, report: CycleReport) -> ScheduleDecision | None:
        """Poll one feed now, record the outcome and when to poll it next (the decision is
        returned for the scheduler). None: a server's Retry-After still holds, or the daemon
        is stopping; not polled, or not to the end. Any exception is a bug, but one recorded
        on the feed as an error outcome (backoff, status), so it is seen, not only logged."""
        if self.stopping:
            return None
        now = self.clock()
        try:
            return await self._update_feed(feed, report, now)
        except Exception as e:
            log.exception("feed %s: unexpected error", feed.url)  # the traceback, for the bug
            self.events.error("unexpected")
            return self._failed(feed, self.store.feed_state(feed.url), now, report, PollResult(
                outcome="error", error=f"unexpected {type(e).__name__}: {e}"))

    async def _update_feed(self, feed: FeedConfig, report: CycleReport,
                           now: dt.datetime) -> ScheduleDecision | None:
        state, polled_before = self.store.poll_start(feed.url)
        if state and state.retry_after_until and state.retry_after_until > now:
            log.info("feed %s: deferred until %s (Retry-After)", feed.url, state.retry_after_until)
            return None
        report.feeds_polled += 1
        try:
            await self.recheck_pages(feed.url)  # whatever the feed answers next
        except Exception as e:  # a bug; each page's own failures are caught in recheck_pages
            log.exception("feed %s: re-checks failed, the feed polled all the same", feed.url)
            self.events.error("unexpected")
            report.errors.append(f"{feed.url}: re-checks: unexpected {type(e).__name__}: {e}")
        # On a feed's first successful poll, old stories are backlog, not news: subscribing
        # to a feed must not alert on everything it ever published.
        backlog_before = None
        if not polled_before:
            age = feed.backlog_max_age or self.config.backlog_max_age
            backlog_before = now - dt.timedelta(seconds=age)
        target = state.moved_to if state and state.moved_to else feed.url
        started = time.monotonic()
        try:
            result = await fetch(self.client, target, self.config.fetch,
                                 etag=state.etag if state else None,
                                 last_modified=state.last_modified if state else None,
                                 limits=self.limits)
            self.events.fetched("feed", time.monotonic() - started)
        except FetchError as e:
            self.events.poll_failed(e)
            outcome = "blocked" if e.blocked else "error"
            return self._failed(feed, state, now, report, PollResult(
                outcome=outcome, status=e.status, error=str(e), retry_after=e.retry_after))
        lifetime = cache_lifetime(result.headers, now)
        retry_after = parse_retry_after(result.headers.get("retry-after"))
        if result.moved_to:
            log.info("feed %s: moved permanently to %s", feed.url, result.moved_to)
        digest = hashlib.sha256(result.content).hexdigest() if not result.not_modified else None
        if result.not_modified or (state and digest == state.body_hash):
            # 304, or the very body parsed last time: nothing new, nothing to parse
            decision = self._decide(feed, state, now, PollResult(
                outcome="not_modified", status=result.status, max_age=lifetime,
                retry_after=retry_after))
            self.store.record_poll(FeedUpdate(
                feed.url, name=feed.name, checked_at=now, outcome="not_modified",
                decision=decision, http_status=result.status, etag=result.etag,
                last_modified=result.last_modified, moved_to=result.moved_to))
            report.not_modified += 1
            self.events.polled("not_modified")
            log.debug("feed %s: not_modified", feed.url)  # the usual case: the summary counts it
            return decision
        try:
            # In a thread: parsing a large feed takes seconds, which the loop (its requests'
            # timeouts, the watchdog's pings) cannot wait.
            meta, entries = await asyncio.to_thread(sources.read_entries, feed, result)
        except ParseError as e:
            self.events.poll_failed(e)
            return self._failed(feed, state, now, report, PollResult(
                outcome="broken" if isinstance(e, BrokenListing) else "error",
                status=result.status, error=str(e), max_age=lifetime),
                moved_to=result.moved_to)
        if meta.problem:
            log.warning("feed %s: ill-formed, %d entries kept: %s", feed.url, len(entries), meta.problem)
        entries = await sources.resolve_links(self.client, self.config.fetch, self.limits, feed,
                                              entries, self.store.is_seen)
        baseline = sources.is_baseline(feed, entries, backlog_before is not None,
                                       self.store.is_seen)
        if baseline:
            backlog_before = now  # a page's baseline: every link is backlog, whatever its date
        unseen = await self._unseen(entries)
        cap = self.config.fetch.max_new_per_poll
        taken, left = unseen, 0
        if len(unseen) > cap:  # the oldest now, the others at the next polls
            taken, left = oldest_first(unseen)[:cap], len(unseen) - cap
        limit = asyncio.Semaphore(ENTRY_CONCURRENCY)

        ready: list[_Draft] = []  # prepared, not stored yet
        outcomes: list[bool | None] = []

        async def one(entry: Entry) -> None:
            async with limit:
                if self.stopping:
                    return
                try:
                    draft = await self._prepare(entry, feed, meta.title, backlog_before,
                                                baseline=baseline)
                except Exception as e:  # a bug, met on this entry alone: the others go on
                    which = escape(entry.url or entry.guid or "")  # may hold what broke it
                    log.exception("feed %s: entry %s: unexpected error; not stored, tried "
                                  "again when the feed changes", feed.url, which)
                    self.events.error("unexpected")
                    report.errors.append(f"{feed.url}: entry {which}: "
                                         f"unexpected {type(e).__name__}: {escape(str(e))}")
                    return
            if draft is not None:
                ready.append(draft)
                if len(ready) >= STORY_BATCH:
                    batch = ready[:]
                    ready.clear()
                    outcomes.extend(await self._write(batch, report))

        try:
            results = await asyncio.gather(*(one(entry) for entry in taken),
                                           return_exceptions=True)
            outcomes.extend(await self._write(ready, report))
        finally:
            for draft in ready:  # cut short (cancelled, or a write failed): claims released
                self._in_flight.discard(draft.key)
            ready.clear()
        failures = [r for r in results if isinstance(r, BaseException)]
        if failures:  # the others were stored first
            raise failures[0]
        if self.stopping:
            # Cut short: the stories made are stored, the rest are still new to the next run.
            # Nothing recorded, lest the body's hash make the next poll skip them.
            log.info("feed %s: stopped, %d new stories stored before the stop", feed.url,
                     sum(o is not None for o in outcomes))
            return None
        new = sum(o is not None for o in outcomes)
        flagged = sum(bool(o) for o in outcomes)
        report.new_clippings += new
        report.flagged += flagged
        gap, newest = rhythm((e.published for e in entries), now)
        decision = self._decide(feed, state, now, PollResult(
            outcome="updated", status=result.status, max_age=lifetime, ttl=meta.ttl,
            update_period=meta.update_period, median_gap=gap, newest_entry=newest,
            retry_after=retry_after))
        # Entries left for the next poll: it must fetch the whole feed again and parse it even
        # if unchanged, so neither the validators nor the body's hash are kept.
        partial = left > 0
        self.store.record_poll(FeedUpdate(
            feed.url, name=feed.name, checked_at=now, outcome="updated", decision=decision,
            http_status=result.status, error=meta.problem,
            etag=None if partial else result.etag,
            last_modified=None if partial else result.last_modified, title=meta.title,
            moved_to=result.moved_to, body_hash=None if partial else digest, median_gap=gap,
            newest_entry=newest, partial=partial))
        self.events.polled("updated", new=new, flagged=flagged)
        log.info("feed %s: updated, %d entries, %d new, %d flagged%s", feed.url, len(entries),
                 new, flagged, f", {left} more new left for the next poll (max_new_per_poll)"
                 if partial else "")
        return decision

    async def _unseen(self, entries: list[Entry]) -> list[Entry]:
        """The entries never seen (by canonical URL or guid), each story once, looked up a
        slice at a time with the loop's turn in between."""
        unseen: list[Entry] = []
        keys: set[str] = set()
        for i, entry in enumerate(entries):
            if i and i % LOOKUP_SLICE == 0:
                await asyncio.sleep(0)
            canonical = canonical_url(entry.url) if entry.url else ""
            key = canonical or entry.guid or entry.title
            if key in keys or self.store.is_seen(canonical or None, entry.guid):
                continue
            keys.add(key)
            unseen.append(entry)
        return unseen

    def _decide(self, feed: FeedConfig, state: FeedState | None, now: dt.datetime,
                poll: PollResult) -> ScheduleDecision:
        return next_check(state or FeedState(url=feed.url), poll, now,
                          interval=feed.interval or self.config.interval,
                          config=self.config.schedule)

    def _failed(self, feed: FeedConfig, state: FeedState | None, now: dt.datetime,
                report: CycleReport, poll: PollResult, moved_to: str | None = None) -> ScheduleDecision:
        decision = self._decide(feed, state, now, poll)
        # An error's text may carry what the feed sent, lone surrogates included, which
        # SQLite's UTF-8 refuses: escaped, or recording the failure would fail in turn.
        error = poll.error.encode("utf-8", "backslashreplace").decode("utf-8") if poll.error else None
        self.store.record_poll(FeedUpdate(
            feed.url, name=feed.name, checked_at=now, outcome=poll.outcome, decision=decision,
            http_status=poll.status, error=error, moved_to=moved_to))
        report.errors.append(f"{feed.url}: {error}")
        if decision.disabled_reason:
            log.warning("feed %s: disabled: %s", feed.url, decision.disabled_reason)
        else:
            log.warning("feed %s: %s: %s (retry at %s)", feed.url, poll.outcome, error,
                        decision.next_check.isoformat(timespec="seconds") if decision.next_check else "-")
        return decision

    async def _prepare(self, entry: Entry, feed: FeedConfig, feed_title: str,
                       backlog_before: dt.datetime | None, *,
                       baseline: bool = False) -> _Draft | None:
        """An entry never seen, made into a story ready to store (page fetched and extracted,
        matched, its alerts routed); None if it was seen before or is being processed. Its key
        stays claimed (``_in_flight``) until ``_write`` stored it. A story published before
        ``backlog_before`` (any, with ``baseline``) is stored and flagged but not alerted."""
        canonical = canonical_url(entry.url) if entry.url else ""
        if self.store.is_seen(canonical or None, entry.guid):
            return None
        key = story_key(canonical or entry.guid or f"{feed.url}\n{entry.title}")
        if key in self._in_flight:
            return None
        self._in_flight.add(key)
        try:
            work = asyncio.ensure_future(self._article_page(entry))
            stop = asyncio.ensure_future(self._stopping.wait())
            try:
                await asyncio.wait([work, stop], return_when=asyncio.FIRST_COMPLETED)
            finally:
                stop.cancel()
                if not work.done():  # stopping: the page is fetched again by the next run
                    work.cancel()
            if not work.done() or work.cancelled():
                self._in_flight.discard(key)
                return None
            article, origin, page, analysis, failure, text = work.result()
            if entry.published is None:  # the page's date, else the time first seen
                page_date = (dt.datetime.combine(article.date, dt.time(), dt.timezone.utc)
                             if article.date else None)
                entry = dataclasses.replace(entry, published=page_date or self.clock())
            doc = document(entry.title or article.title, article.body,
                           source=entry.source or article.sitename or feed.name or feed_title,
                           url=entry.url or "",
                           lang=analysis.lang if analysis else None)
            matches = self.matcher.find_matches(doc)
            entities = self.matcher.find_entities(doc)
            clipping = build_clipping(entry, article, feed, feed_title, entities, matches)
            backlog = baseline or is_backlog(entry, article, backlog_before)
            story = NewStory(
                clipping_id=key, clipping=clipping, text=clippings.render(clipping), origin=origin,
                fingerprint=article.fingerprint, feed_url=feed.url, guid=entry.guid,
                canonical=canonical or None, published=entry.published, matches=tuple(matches),
                alerts={} if backlog else route_alerts(matches, self.config, set(self.notifiers)),
                backlog=backlog, extract_error=failure)
        except BaseException:
            self._in_flight.discard(key)
            raise
        return _Draft(key, entry.published, page, story, matches, backlog, backlog_before,
                      analysis, text)

    async def _write(self, drafts: list[_Draft], report: CycleReport | None) -> list[bool | None]:
        """Store new stories of a feed (each with its clipping, matches, alerts, story and
        evidence: store.archive), several per transaction: as many as fit in WRITE_SLICE
        seconds, so cheap stories cost one commit (one fsync) for many, while storing costly
        ones (a long grouping) still lets the loop run between two, as it must for the
        timeouts of the requests in flight. Should one story fail, those of its transaction are
        stored one by one, and the first error is raised once all are done.
        Returns, per draft, None if it was stored already, else whether it was flagged."""
        stored: list[bool] = []
        first_error: BaseException | None = None
        try:
            while len(stored) < len(drafts):
                if stored:
                    await asyncio.sleep(0)  # the loop's turn between two transactions
                done, error = self._write_slice(drafts[len(stored):])
                stored += done
                first_error = first_error or error
        finally:
            for draft in drafts:
                self._in_flight.discard(draft.key)
        outcomes = [self._stored(d, ok, report) for d, ok in zip(drafts, stored)]
        if first_error is not None:
            raise first_error
        return outcomes

    def _write_slice(self, drafts: list[_Draft]) -> tuple[list[bool], BaseException | None]:
        """One transaction, from the first of ``drafts`` on, until WRITE_SLICE is spent: what
        each story stored came to, and the first error."""
        started = time.monotonic()
        stored: list[bool] = []
        try:
            with self.store.batch():
                for draft in drafts:
                    stored.append(self._record(draft))
                    if time.monotonic() - started > WRITE_SLICE:
                        break
            return stored, None
        except Exception:  # rolled back: the slice's stories one by one, each on its own
            tried = drafts[:len(stored) + 1]
        stored, first_error = [], None
        for draft in tried:
            try:
                stored.append(self._record(draft))
            except Exception as e:
                first_error = first_error or e
                stored.append(False)
        return stored, first_error

    def _record(self, draft: _Draft) -> bool:
        return archive.record_story(self.store, self.stories, draft.story, now=self.clock(),
                                    at=draft.published, page=draft.page, analysis=draft.analysis,
                                    text=draft.text)

    def _stored(self, draft: _Draft, stored: bool, report: CycleReport | None) -> bool | None:
        if not stored:
            return None
        title = draft.story.clipping.title
        if draft.matches and draft.backlog:
            log.info("story %s flagged by %s, backlog (published before %s: not alerted): %s",
                     draft.key, ", ".join(m.rule for m in draft.matches), draft.backlog_before,
                     title)
            if report is not None:
                report.backlog += 1
        elif draft.matches:
            log.info("story %s flagged by %s: %s", draft.key,
                     ", ".join(m.rule for m in draft.matches), title)
        return bool(draft.matches)

    async def _in_worker(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` in an extraction worker: through the self-healing pool (deadline,
        retry once on a dead worker), or a plain executor (None: the loop's threads)."""
        if isinstance(self.executor, ExtractionPool):
            return await self.executor.run(fn, *args)
        return await asyncio.get_running_loop().run_in_executor(self.executor, fn, *args)

    async def _article_page(self, entry: Entry) -> tuple[
            Article, str, FetchResult | None, PageAnalysis | None, str | None,
            TextAnalysis | None]:
        """The story's article: from its page (extracted and analysed in a worker process) or
        else from the feed (in a worker too); where it came from; the page fetched (kept as
        evidence), if any; the page's analysis, when the article is the page's; why extraction
        failed, when the page was fetched but not used (or the feed's text could not be
        extracted); and the feed text's analysis, when the article is the feed's."""
        page = None
        failure = None
        if self.config.fetch.fetch_pages and entry.url:
            try:
                started = time.monotonic()
                page = await fetch(self.client, entry.url, self.config.fetch, limits=self.limits)
                self.events.fetched("page", time.monotonic() - started)
                # The page's byline is looked for even when the feed has one: a feed's author
                # is often the desk's ("Staff"), the page's the reporter's.
                analysis = await self._in_worker(analyse_page, page, entry.title,
                                                 entry.published is None)
                return analysis.article, "page", page, analysis, None, None
            except (FeedError, ExtractError) as e:
                log.warning("story %s: page not used (%s); built from the feed", entry.url, e)
                self.events.error("page")
                if isinstance(e, ExtractError):
                    failure = str(e)
            except Exception as e:  # a bug the page set off: this story's, not the feed's
                log.exception("feed %s: story %s: page not used (unexpected error); built "
                              "from the feed", entry.feed_url, entry.url)
                self.events.error("page")
                failure = f"unexpected {type(e).__name__}: {e}"
        # The feed's own HTML is hostile too (megabytes of it cost seconds and a gigabyte to
        # extract): never on the loop; a large one in a worker, under its deadline and memory
        # cap. Should that fail, the plain text, which costs little whatever the markup.
        try:
            if len(entry.content) + len(entry.summary) > FEED_TEXT_IN_WORKER:
                text = await self._in_worker(analyse_entry, entry)
            else:
                text = await asyncio.to_thread(analyse_entry, entry)
        except ExtractError as e:
            log.warning("story %s: the feed's text not extracted (%s); kept as plain text",
                        entry.url or entry.guid, e)
            self.events.error("page")
            return plain_article_from_entry(entry), "feed", page, None, failure or str(e), None
        return text.article, "feed", page, None, failure, text

    async def recheck_pages(self, feed_url: str | None = None) -> int:
        """Fetch again the pages of flagged stories that are due, for evidence; a page
        that changed or disappeared is kept beside the first version. How many were checked."""
        rechecks = self.stories.rechecks
        if not rechecks:
            return 0
        due = evidence.due_rechecks(self.store, now=self.clock(), feed_url=feed_url)
        for row in due:
            try:
                await self._recheck(row.clipping_id, row.url, rechecks)
            except Exception as e:  # a bug one page set off: recorded on its story, the rest go on
                log.exception("feed %s: story %s (%s): re-check failed (unexpected error)",
                              feed_url, row.clipping_id, row.url)
                self.events.error("unexpected")
                try:
                    evidence.record_recheck(self.store, rechecks, row.clipping_id,
                                            now=self.clock(),
                                            error=f"unexpected {type(e).__name__}: {e}")
                except Exception:
                    log.exception("story %s: the failed re-check could not be recorded",
                                  row.clipping_id)
        return len(due)

    async def _recheck(self, clipping_id: str, url: str, rechecks: tuple[float, ...]) -> None:
        """Fetch one flagged story's page again and record what became of it."""
        try:
            page = await fetch(self.client, url, self.config.fetch, limits=self.limits)
        except FeedError as e:
            status = getattr(e, "status", None)
            if status not in evidence.GONE_STATUSES:  # down, or refused: nothing concluded
                evidence.record_recheck(self.store, rechecks, clipping_id, now=self.clock(),
                                        error=str(e))
                log.info("story %s: re-check failed: %s", clipping_id, e)
                return
            page = FetchResult(url=url, status=status)  # the page was pulled
        text = None
        if page.status < 400:
            try:
                # the body alone is compared: no date or author looked for
                text = (await self._in_worker(functools.partial(extract_article, date=False,
                                                                author=False),
                                              page_text(page), page.url)).body
            except ExtractError:
                text = None
        state = evidence.record_recheck(self.store, rechecks, clipping_id, now=self.clock(),
                                        page=page, text=text)
        log.info("story %s: page re-checked: %s", clipping_id, state)

    async def deliver_pending(self, report: CycleReport, *, force: bool = False) -> None:
        """Send what the outbox holds (pipeline.deliver). ``force`` tries every pending alert and
        digest now, whatever its backoff (a receiver's Retry-After still holds)."""
        await self.outbox.deliver(report, force=force)
