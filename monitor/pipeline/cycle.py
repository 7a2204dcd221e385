"""One cycle over the feeds: what a cycle needs opened (``open_runtime``), every feed polled a
bounded number at a time (``poll_feeds``), and `monitor run --once` (``run_once``).

The daemon (service.daemon) opens the same runtime once for its whole life and polls each feed
on its own schedule instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import AsyncIterator
from dataclasses import dataclass
from urllib.parse import urlsplit

from monitor.config import Config, FeedConfig
from monitor.fetch.client import make_client
from monitor.match.matcher import matcher_for
from monitor.models import Progress, no_progress
from monitor.notify import build_notifiers
from monitor.pipeline.events import NO_EVENTS, Events
from monitor.pipeline.update import CycleReport, Pipeline, utcnow
from monitor.pipeline.workers import ExtractionPool
from monitor.store.database import Store
from monitor.store.feedset import active_feeds

log = logging.getLogger("monitor")

# One worker process a core (at most 4): a spare one used to keep the cores busy while the main
# process stored, but the main process now takes a fifth of an article's CPU, and on 2 cores a
# third worker only adds contention (docs/design.md, The extraction worker pool).
EXTRACT_WORKERS = min(4, os.cpu_count() or 1)


MIB = 1024 * 1024


def make_pool(config: Config, store: Store) -> ExtractionPool:
    """Extraction is CPU-bound: worker processes use every core and keep the loop free. The
    pool's state is written to the database as it changes, for `monitor status`."""
    def record(state: str, detail: str | None) -> None:
        store.set_component("extraction", state, detail, utcnow())

    pool = ExtractionPool(EXTRACT_WORKERS, memory=config.fetch.worker_memory * MIB,
                          deadline=config.fetch.extract_timeout, on_change=record)
    record(pool.state, pool.detail)  # a new pool is whole, whatever the last run left
    return pool


@dataclass
class Runtime:
    pipeline: Pipeline
    store: Store
    pool: ExtractionPool | None = None


@contextlib.asynccontextmanager
async def open_runtime(config: Config, *, executor: bool = True,
                       events: Events = NO_EVENTS) -> AsyncIterator[Runtime]:
    """Everything a cycle needs, opened once and closed in order; ``events`` hears what the
    pipeline reports."""
    matcher = matcher_for(config)
    store = Store(config.database)
    client = make_client(config.fetch)
    # Made even without fetch_pages, for the feed entries with large HTML (pipeline.update);
    # its processes only start with the first task.
    pool = make_pool(config, store) if executor else None
    try:
        notifiers = build_notifiers(config.notifiers, client)
        yield Runtime(Pipeline(config, store, matcher, client, notifiers, pool,
                               events=events), store, pool)
    finally:
        await client.aclose()
        if pool is not None:
            pool.shutdown()
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


def progress_note(report: CycleReport) -> str:
    """What a cycle found so far, in a few words (a progress bar's or a log line's)."""
    return f"{report.new_clippings} new, {report.flagged} flagged, {len(report.errors)} errors"


async def poll_feeds(pipeline: Pipeline, feeds: list[FeedConfig], report: CycleReport,
                     progress: Progress = no_progress) -> None:
    """Poll every feed once, a bounded number at a time (workers taking the next feed from one
    list: no task per feed, so 10,000 feeds cost little more memory than 20). ``progress``
    hears of each feed done."""
    queue = iter(interleave_by_host(feeds))
    done = 0
    progress(0, len(feeds), progress_note(report))

    async def worker() -> None:
        nonlocal done
        for feed in queue:
            if pipeline.stopping:  # SIGTERM: the feeds not started wait for the next run
                return
            try:
                await pipeline.update_feed(feed, report)
            except Exception as e:  # a bug: loud in the log, the other feeds go on
                log.exception("feed %s: unexpected error", feed.url)
                report.errors.append(f"{feed.url}: unexpected {type(e).__name__}: {e}")
            done += 1
            progress(done, len(feeds), progress_note(report))

    # More workers than request slots: a worker waiting on a busy host's slot holds no slot.
    workers = max(1, min(2 * pipeline.config.fetch.concurrency, len(feeds)))
    await asyncio.gather(*(worker() for _ in range(workers)))
    pipeline.store.flush()


async def run_once(config: Config, progress: Progress = no_progress) -> CycleReport:
    """One whole cycle, now: every enabled feed (whatever its next check or backoff; a server's
    Retry-After still holds), then every pending alert whatever its backoff. ``progress``
    hears of each feed polled."""
    report = CycleReport()
    async with open_runtime(config) as runtime:
        # SIGTERM ends the cycle as it ends the daemon: the stories made are stored, then the
        # runtime closes (workers ended, semaphores released) and the command returns.
        loop = asyncio.get_running_loop()
        try:
            loop.add_signal_handler(signal.SIGTERM, runtime.pipeline.stop_work)
        except (RuntimeError, ValueError):  # not the main thread (a test): no handler
            pass
        try:
            await run_cycle(runtime, config, report, progress)
        finally:
            with contextlib.suppress(RuntimeError, ValueError):
                loop.remove_signal_handler(signal.SIGTERM)
    return report


async def run_cycle(runtime: Runtime, config: Config, report: CycleReport,
                    progress: Progress = no_progress) -> None:
    """run_once's cycle in an open runtime (bench/run.py times it with the workers warm)."""
    await poll_feeds(runtime.pipeline, active_feeds(config, runtime.store), report, progress)
    if not runtime.pipeline.stopping:
        await runtime.pipeline.deliver_pending(report, force=True)
