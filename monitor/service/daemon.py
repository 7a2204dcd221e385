"""The daemon: wiring of the stages, one cycle (`run --once`) and the scheduled loop (APScheduler 3).

SIGTERM/SIGINT stop it within seconds: every story is written in one transaction, so work
cut short is simply redone on the next run. SIGHUP reloads config.toml (Daemon.reload).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import logging
import multiprocessing
import os
import signal
from collections.abc import AsyncIterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from urllib.parse import urlsplit

from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

from monitor.service import metrics
from monitor.config import Config, FeedConfig, load_config
from monitor.errors import MonitorError
from monitor.store.feedset import active_feeds, interval_of
from monitor.fetch.client import Limits, make_client
from monitor.match.matcher import matcher_for
from monitor.models import ScheduleDecision
from monitor.notify import build_notifiers
from monitor.pipeline.events import NO_EVENTS, Events
from monitor.pipeline.update import CycleReport, Pipeline, utcnow
from monitor.decide.schedule import bounds
from monitor.service.process import Service
from monitor.store.database import Store

log = logging.getLogger("monitor")

DELIVERY_INTERVAL = 30.0  # seconds between passes over the outbox
# One more worker process than cores (at most 4): while the main process is busy storing, a
# finished worker's next page waits for it to be handed over, and the spare worker keeps the
# cores busy meanwhile (bench/run.py, cold cycle on 2 cores: 52% of bare extraction with 3
# workers against 49% with 2, measured one after the other).
EXTRACT_WORKERS = min(4, (os.cpu_count() or 1) + 1)


def make_executor() -> ProcessPoolExecutor:
    """Extraction is CPU-bound: worker processes use every core and keep the loop free.
    forkserver, because forking a process that runs threads (the resolver's) is unsafe."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["monitor.pipeline.analysis"])
    return ProcessPoolExecutor(max_workers=EXTRACT_WORKERS, mp_context=context)


@dataclass
class Runtime:
    pipeline: Pipeline
    store: Store


@contextlib.asynccontextmanager
async def open_runtime(config: Config, *, executor: bool = True,
                       events: Events = NO_EVENTS) -> AsyncIterator[Runtime]:
    """Everything a cycle needs, opened once and closed in order; ``events`` hears what the
    pipeline reports."""
    matcher = matcher_for(config)
    store = Store(config.database)
    client = make_client(config.fetch)
    pool = make_executor() if executor and config.fetch.fetch_pages else None
    try:
        notifiers = build_notifiers(config.notifiers, client)
        yield Runtime(Pipeline(config, store, matcher, client, notifiers, pool,
                                  events=events), store)
    finally:
        await client.aclose()
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
        store.close()


def interleave_by_host(feeds: list[FeedConfig]) -> list[FeedConfig]:
    """The feeds reordered so that hosts take turns: the first feed of each host, then the
    second of each... A host with many feeds is neither hammered at once nor, with its slots
    full, allowed to keep the workers from the other hosts' feeds."""
    rank: dict[str, int] = {}
    keyed = []
    for i, feed in enumerate(feeds):
        host = urlsplit(feed.url).netloc
        rank[host] = rank.get(host, -1) + 1
        keyed.append((rank[host], i, feed))
    return [feed for _, _, feed in sorted(keyed, key=lambda k: (k[0], k[1]))]


async def poll_feeds(pipeline: Pipeline, feeds: list[FeedConfig], report: CycleReport) -> None:
    """Poll every feed once, a bounded number at a time (workers taking the next feed from one
    list: no task per feed, so 10,000 feeds cost little more memory than 20)."""
    queue = iter(interleave_by_host(feeds))

    async def worker() -> None:
        for feed in queue:
            try:
                await pipeline.update_feed(feed, report)
            except Exception as e:  # a bug: loud in the log, the other feeds go on
                log.exception("feed %s: unexpected error", feed.url)
                report.errors.append(f"{feed.url}: unexpected {type(e).__name__}: {e}")

    # More workers than request slots: a worker waiting on a busy host's slot holds no slot.
    workers = max(1, min(2 * pipeline.config.fetch.concurrency, len(feeds)))
    await asyncio.gather(*(worker() for _ in range(workers)))
    pipeline.store.flush()


async def run_once(config: Config) -> CycleReport:
    """One whole cycle, now: every enabled feed (whatever its next check or backoff; a server's
    Retry-After still holds), then every pending alert whatever its backoff."""
    report = CycleReport()
    async with open_runtime(config) as runtime:
        await run_cycle(runtime, config, report)
    return report


async def run_cycle(runtime: Runtime, config: Config, report: CycleReport) -> None:
    """run_once's cycle in an open runtime (bench/run.py times it with the workers warm)."""
    await poll_feeds(runtime.pipeline, active_feeds(config, runtime.store), report)
    await runtime.pipeline.deliver_pending(report, force=True)


SYNC_INTERVAL = 60.0  # seconds between looks at the feeds added or changed by command
FLUSH_INTERVAL = 1.0  # seconds between writes of buffered poll records
STARTUP_SPREAD = 60.0  # overdue feeds are spread over at most this many seconds at start


class Daemon:
    """The scheduled loop: one APScheduler job per feed, whose next run is the feed's stored
    next check (so a restart keeps each feed's timing and backoff), at most one run at a time,
    missed runs coalesced.

    ``reload()`` is the one entry point of a configuration reload (SIGHUP); wrap it to add
    anything around a reload (issue 7's sd_notify RELOADING=1 / READY=1)."""

    def __init__(self, config: Config, runtime: Runtime, scheduler: AsyncIOScheduler) -> None:
        self.config = config
        self.runtime = runtime
        self.pipeline = runtime.pipeline
        self.store = runtime.store
        self.scheduler = scheduler
        self.feeds: dict[str, FeedConfig] = {}  # the feeds with a job, by URL
        self._delivering = asyncio.Lock()
        self._delivered_once = False

    @staticmethod
    def job_id(url: str) -> str:
        return f"feed:{url}"

    async def deliver(self) -> None:
        """The delivery worker: every DELIVERY_INTERVAL and right after a poll that flagged a
        story. Its first pass after a start tries every pending alert whatever its backoff
        (issue 4: after a restart, what was pending goes out at once)."""
        async with self._delivering:  # one pass over the outbox at a time: no alert sent twice
            force, self._delivered_once = not self._delivered_once, True
            try:
                await self.pipeline.deliver_pending(CycleReport(), force=force)
            except Exception:  # a bug: loud in the log; the next pass tries again
                log.exception("delivery pass: unexpected error")

    async def poll(self, url: str) -> None:
        feed = self.feeds.get(url)
        if feed is None:
            return
        report = CycleReport()
        decision = None
        try:
            decision = await self.pipeline.update_feed(feed, report)
        except Exception:
            log.exception("feed %s: unexpected error", feed.url)
            self.pipeline.events.error("unexpected")
        if report.flagged:
            await self.deliver()  # alert within seconds of the poll that found the story
        self._reschedule(feed, decision)

    def _reschedule(self, feed: FeedConfig, decision: ScheduleDecision | None) -> None:
        now = utcnow()
        if decision is not None and decision.next_check is None:  # disabled by the monitor
            self._remove(feed.url)
            return
        if decision is not None:
            when = decision.next_check
        else:  # deferred by Retry-After, or an unexpected error: try again later
            state = self.store.feed_state(feed.url)
            held = state.retry_after_until if state else None
            when = held if held and held > now else now + dt.timedelta(
                seconds=interval_of(feed, self.config))
        with contextlib.suppress(JobLookupError):
            self.scheduler.modify_job(self.job_id(feed.url), next_run_time=when)

    def _add(self, feed: FeedConfig, when: dt.datetime) -> None:
        lo, hi = bounds(interval_of(feed, self.config), self.config.schedule)
        # The trigger is only a fallback: every run sets the next one from the stored schedule.
        # Its period is the upper bound, so it never fires while a run is still going.
        self.scheduler.add_job(
            self.poll, IntervalTrigger(seconds=hi, jitter=min(60.0, lo / 10)), args=[feed.url],
            id=self.job_id(feed.url), max_instances=1, coalesce=True, misfire_grace_time=None,
            next_run_time=when, replace_existing=True)

    def _remove(self, url: str) -> None:
        self.feeds.pop(url, None)
        with contextlib.suppress(JobLookupError):
            self.scheduler.remove_job(self.job_id(url))

    def sync_feeds(self) -> None:
        """Bring the jobs in line with the feed set: config.toml plus the database."""
        wanted = {feed.url: feed for feed in active_feeds(self.config, self.store)}
        for url in [u for u in self.feeds if u not in wanted]:
            log.info("feed %s: removed from the schedule", url)
            self._remove(url)
        now = utcnow()
        overdue = []
        for url, feed in wanted.items():
            old = self.feeds.get(url)
            self.feeds[url] = feed
            if old is None:
                state = self.store.feed_state(url)
                if state and state.next_check and state.next_check > now:
                    self._add(feed, state.next_check)
                else:
                    overdue.append(feed)
            elif interval_of(old, self.config) != interval_of(feed, self.config):
                job = self.scheduler.get_job(self.job_id(url))
                soonest = now + dt.timedelta(seconds=interval_of(feed, self.config))
                if job is not None and job.next_run_time and job.next_run_time > soonest:
                    job.modify(next_run_time=soonest)
        spread = min(STARTUP_SPREAD, 0.05 * len(overdue))
        for i, feed in enumerate(overdue):
            self._add(feed, now + dt.timedelta(seconds=spread * i / max(1, len(overdue))))

    def reload(self) -> Config | None:
        """Read config.toml again. A valid file takes effect at once (feeds, rules, notifiers,
        fetch settings) without a restart; an invalid one is refused and the running one kept."""
        try:
            new = load_config(self.config.path)
            matcher = matcher_for(new)
            notifiers = build_notifiers(new.notifiers, self.pipeline.client)
        except MonitorError as e:
            log.error("reload refused, the running configuration is kept: %s", e)
            return None
        if new.database != self.config.database:
            log.warning("reload: [monitor] database changed; it takes effect at the next start")
            new = dataclasses.replace(new, database=self.config.database)
        if (new.fetch.concurrency, new.fetch.per_host) != (self.config.fetch.concurrency,
                                                           self.config.fetch.per_host):
            self.pipeline.limits = Limits(new.fetch.concurrency, new.fetch.per_host)
        self.pipeline.use(new, matcher, notifiers)
        self.config = new
        self.sync_feeds()
        log.info("configuration reloaded from %s: %d feeds scheduled, %d rules, %d notifiers",
                 new.path, len(self.feeds), len(new.rules), len(notifiers))
        return new

    def start(self) -> None:
        now = utcnow()
        self.sync_feeds()
        self.scheduler.add_job(self.deliver, IntervalTrigger(seconds=DELIVERY_INTERVAL),
                               id="deliver", max_instances=1, coalesce=True, next_run_time=now)
        # Coroutines, so that APScheduler runs them on the loop (a plain function would run in
        # a thread, and the SQLite connection belongs to the loop's thread).
        async def sync() -> None:
            self.sync_feeds()

        async def flush() -> None:
            self.store.flush()

        self.scheduler.add_job(sync, IntervalTrigger(seconds=SYNC_INTERVAL), id="sync-feeds",
                               max_instances=1, coalesce=True)
        self.scheduler.add_job(flush, IntervalTrigger(seconds=FLUSH_INTERVAL), id="flush",
                               max_instances=1, coalesce=True)
        self.scheduler.start()


async def run_forever(config: Config, stop: asyncio.Event | None = None) -> None:
    """Poll each feed when its schedule says and drain the outbox until SIGTERM or SIGINT;
    SIGHUP reloads config.toml (monitor.service adds sd_notify, the listener, retention)."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    service = Service(config)
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    loop.add_signal_handler(signal.SIGHUP, service.sighup)
    async with open_runtime(config, events=metrics.PrometheusEvents()) as runtime:
        scheduler = AsyncIOScheduler(event_loop=loop, timezone="UTC")
        daemon = Daemon(config, runtime, scheduler)
        service.engine_reload = daemon.reload  # SIGHUP: feeds, rules, notifiers, inside RELOADING=1
        daemon.start()
        service.started(scheduler, len(daemon.feeds))
        log.info("monitor running: %d feeds, %d rules, %d notifiers, database %s",
                 len(daemon.feeds), len(config.rules), len(runtime.pipeline.notifiers),
                 config.database)
        await stop.wait()
        log.info("stopping")
        loop.remove_signal_handler(signal.SIGHUP)
        service.stopping()
        scheduler.shutdown(wait=False)
        # Jobs still running are cancelled; their stories were not committed and are redone next time.
        current = asyncio.current_task()
        pending = [t for t in asyncio.all_tasks() if t is not current and not t.done()]
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
    log.info("stopped")
