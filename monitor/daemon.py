"""The daemon: wiring of the stages, one cycle (`run --once`) and the scheduled loop (APScheduler 3).

SIGTERM/SIGINT stop it within seconds: every story is written in one transaction, so work
cut short is simply redone on the next run.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import multiprocessing
import signal
from collections.abc import AsyncIterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

from monitor import metrics
from monitor.config import Config, FeedConfig
from monitor.fetch import make_client
from monitor.match import compile_rules
from monitor.notify import build_notifiers
from monitor.pipeline import CycleReport, Pipeline, utcnow
from monitor.service import Service
from monitor.store import Store

log = logging.getLogger("monitor")

FEED_CONCURRENCY = 10
DELIVERY_INTERVAL = 30.0  # seconds between passes over the outbox
EXTRACT_WORKERS = 2


def make_executor() -> ProcessPoolExecutor:
    """Extraction is CPU-bound: worker processes use every core and keep the loop free.
    forkserver, because forking a process that runs threads (the resolver's) is unsafe."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["monitor.extract"])
    return ProcessPoolExecutor(max_workers=EXTRACT_WORKERS, mp_context=context)


@dataclass
class Runtime:
    pipeline: Pipeline
    store: Store


@contextlib.asynccontextmanager
async def open_runtime(config: Config, *, executor: bool = True) -> AsyncIterator[Runtime]:
    """Everything a cycle needs, opened once and closed in order."""
    matcher = compile_rules(config.rules, config.terms, config.entities)
    store = Store(config.database)
    client = make_client(config.fetch)
    pool = make_executor() if executor and config.fetch.fetch_pages else None
    try:
        notifiers = build_notifiers(config.notifiers, client)
        yield Runtime(Pipeline(config, store, matcher, client, notifiers, pool), store)
    finally:
        await client.aclose()
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
        store.close()


async def poll_feeds(pipeline: Pipeline, feeds: list[FeedConfig], report: CycleReport) -> None:
    limit = asyncio.Semaphore(FEED_CONCURRENCY)

    async def one(feed: FeedConfig) -> None:
        async with limit:
            try:
                await pipeline.update_feed(feed, report)
            except Exception as e:  # a bug: loud in the log, the other feeds go on
                log.exception("feed %s: unexpected error", feed.url)
                report.errors.append(f"{feed.url}: unexpected {type(e).__name__}: {e}")

    await asyncio.gather(*(one(f) for f in feeds))


async def run_once(config: Config) -> CycleReport:
    """One whole cycle, now: every enabled feed, then every pending alert whatever its backoff."""
    report = CycleReport()
    async with open_runtime(config) as runtime:
        await poll_feeds(runtime.pipeline, [f for f in config.feeds if f.enabled], report)
        await runtime.pipeline.deliver_pending(report, force=True)
    return report


async def run_forever(config: Config, stop: asyncio.Event | None = None) -> None:
    """Poll each feed at its interval and drain the outbox until SIGTERM or SIGINT;
    SIGHUP reloads the configuration (monitor.service: sd_notify, listener, retention)."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    service = Service(config)
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    loop.add_signal_handler(signal.SIGHUP, service.sighup)
    async with open_runtime(config) as runtime:
        pipeline = runtime.pipeline
        delivering = asyncio.Lock()

        async def deliver() -> None:
            async with delivering:  # one pass over the outbox at a time: no alert sent twice
                report = CycleReport()
                await pipeline.deliver_pending(report)

        async def poll(feed: FeedConfig) -> None:
            report = CycleReport()
            try:
                await pipeline.update_feed(feed, report)
            except Exception:
                log.exception("feed %s: unexpected error", feed.url)
                metrics.error("unexpected")
            if report.flagged:
                await deliver()  # alert within seconds of the poll that found the story

        scheduler = AsyncIOScheduler(event_loop=loop, timezone="UTC")
        now = utcnow()
        for i, feed in enumerate(f for f in config.feeds if f.enabled):
            interval = feed.interval or config.interval
            scheduler.add_job(
                poll, IntervalTrigger(seconds=interval, jitter=min(60.0, interval / 10)),
                args=[feed], id=f"feed:{feed.url}", max_instances=1, coalesce=True,
                misfire_grace_time=int(interval),
                # spread the first polls over a few seconds rather than all at once
                next_run_time=now + dt.timedelta(seconds=min(i * 0.2, 10.0)))
        scheduler.add_job(deliver, IntervalTrigger(seconds=DELIVERY_INTERVAL), id="deliver",
                          max_instances=1, coalesce=True, next_run_time=now)
        scheduler.start()
        service.started(scheduler, sum(f.enabled for f in config.feeds))
        log.info("monitor running: %d feeds, %d rules, %d notifiers, database %s",
                 sum(f.enabled for f in config.feeds), len(config.rules),
                 len(pipeline.notifiers), config.database)
        await stop.wait()
        log.info("stopping")
        service.stopping()
        scheduler.shutdown(wait=False)
        # Jobs still running are cancelled; their stories were not committed and are redone next time.
        current = asyncio.current_task()
        pending = [t for t in asyncio.all_tasks() if t is not current and not t.done()]
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
    log.info("stopped")

