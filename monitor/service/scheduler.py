"""The daemon's timetable, on APScheduler 3 (imported here only): one job per feed, the delivery
pass, the sync with the feed set, the flush of poll records, and the daemon's own periodic jobs.

A feed's job runs at the feed's stored next check (decide.schedule chose it), so a restart keeps
each feed's timing and backoff; at most one run at a time, missed runs coalesced.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import datetime as dt
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

from monitor.config import Config, FeedConfig
from monitor.decide.schedule import bounds
from monitor.match.matcher import Matcher
from monitor.models import ScheduleDecision
from monitor.notify import Notifier
from monitor.pipeline.cycle import Runtime
from monitor.pipeline.update import CycleReport, utcnow
from monitor.store.feedset import active_feeds, interval_of

log = logging.getLogger("monitor")

DELIVERY_INTERVAL = 30.0  # seconds between passes over the outbox
SYNC_INTERVAL = 60.0  # seconds between looks at the feeds added or changed by command
FLUSH_INTERVAL = 1.0  # seconds between writes of buffered poll records
POOL_CHECK_INTERVAL = 2.0  # seconds between looks for a dead extraction worker
RESCHEDULE_MARGIN = dt.timedelta(seconds=1)  # a feed's next run, at the soonest after its last
STARTUP_SPREAD = 60.0  # overdue feeds are spread over at most this many seconds at start
NEXT_BATCH = dt.timedelta(minutes=1)  # feeds due this close to the soonest count as one batch


@dataclass
class Tally:
    """What the polls since the last summary found (``Scheduler.summarise``)."""

    feeds: set[str] = field(default_factory=set)
    new: int = 0
    flagged: int = 0
    errors: int = 0

    def add(self, url: str, report: CycleReport) -> None:
        self.feeds.add(url)
        self.new += report.new_clippings
        self.flagged += report.flagged
        self.errors += len(report.errors)


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def summary_line(tally: Tally, scheduled: int) -> str:
    """The distinct feeds polled since the last summary, of those scheduled, and what they
    found: "polled 120/400 feeds, 35 new, 3 flagged, 2 errors"."""
    return (f"polled {len(tally.feeds)}/{scheduled} feeds, {tally.new} new, {tally.flagged} "
            f"flagged, {_plural(tally.errors, 'error')}")


def _after(seconds: float) -> str:
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    minutes = round(seconds / 60)
    return f"{minutes}m" if minutes < 60 else f"{minutes // 60}h{minutes % 60:02d}m"


def next_polls_line(due: list[dt.datetime], now: dt.datetime) -> str:
    """When the next polls are due: the feeds due within NEXT_BATCH of the soonest, its time (in
    local time, as the log lines' own) and how many more within the hour: "next polls: 12 feeds
    due in 4m, next at 18:42; 57 within the hour"."""
    if not due:
        return "next polls: none scheduled"
    soonest = min(due)
    batch = sum(when <= soonest + NEXT_BATCH for when in due)
    hour = sum(when <= now + dt.timedelta(hours=1) for when in due)
    wait = (soonest - now).total_seconds()
    when = "now" if wait < 1 else f"in {_after(wait)}"
    at = soonest.astimezone().strftime("%H:%M")
    line = f"next polls: {_plural(batch, 'feed')} due {when}, next at {at}"
    return line + (f"; {hour} within the hour" if hour > batch else "")


def quiet(job: Callable[..., Awaitable[None]]) -> Callable[..., Awaitable[None]]:
    """``job`` for APScheduler, whose runner logs every exception of a job as an ERROR with its
    traceback, CancelledError included: a job cancelled at a stop just ends."""
    @functools.wraps(job)
    async def run(*args: Any) -> None:
        try:
            await job(*args)
        except asyncio.CancelledError:
            log.debug("job %s: cancelled by the stop", getattr(job, "__name__", job))

    return run


class Scheduler:
    """The jobs of a running daemon over one open runtime (pipeline.cycle.Runtime)."""

    def __init__(self, config: Config, runtime: Runtime, loop: asyncio.AbstractEventLoop) -> None:
        self.config = config
        self.pipeline = runtime.pipeline
        self.store = runtime.store
        self.pool = runtime.pool
        self.jobs = AsyncIOScheduler(event_loop=loop, timezone="UTC")
        self.feeds: dict[str, FeedConfig] = {}  # the feeds with a job, by URL
        self._delivering = asyncio.Lock()
        self._delivered_once = False
        self.tally = Tally()  # the polls since the last summary

    @property
    def running(self) -> bool:
        return bool(self.jobs.running)

    @staticmethod
    def job_id(url: str) -> str:
        return f"feed:{url}"

    def start(self) -> None:
        self.sync_feeds()
        self.every(DELIVERY_INTERVAL, self.deliver, "deliver", now=True)

        async def sync() -> None:
            self.sync_feeds()

        async def flush() -> None:
            self.store.flush()

        self.every(SYNC_INTERVAL, sync, "sync-feeds")
        self.every(FLUSH_INTERVAL, flush, "flush")
        self.every(self.config.log.summary_every, self.summarise, "summary")
        pool = self.pool
        if pool is not None:
            async def check_pool() -> None:
                pool.check()

            self.every(POOL_CHECK_INTERVAL, check_pool, "check-pool")
        self.jobs.start()

    def every(self, seconds: float, job: Callable[[], Awaitable[None]], job_id: str, *,
              now: bool = False) -> None:
        """Run ``job`` every ``seconds`` (first at once if ``now``), one run at a time. A
        coroutine function, so that it runs on the loop: a plain function would run in a thread,
        and the SQLite connection belongs to the loop's thread."""
        first: dict[str, Any] = {"next_run_time": utcnow()} if now else {}
        self.jobs.add_job(quiet(job), IntervalTrigger(seconds=seconds), id=job_id,
                          max_instances=1, coalesce=True, **first)

    def pause(self) -> None:
        """No job starts after this; the runs in progress go on (a stop lets them finish)."""
        self.jobs.pause()

    def shutdown(self) -> None:
        """The end: APScheduler cancels the runs still in progress."""
        self.jobs.shutdown(wait=False)

    def use(self, config: Config, matcher: Matcher, notifiers: dict[str, Notifier]) -> None:
        """A reloaded configuration: the pipeline switches to it, the feed jobs follow."""
        self.pipeline.use(config, matcher, notifiers)
        if config.log.summary_every != self.config.log.summary_every:
            with contextlib.suppress(JobLookupError):
                self.jobs.reschedule_job("summary", trigger=IntervalTrigger(
                    seconds=config.log.summary_every))
        self.config = config
        self.sync_feeds()

    def next_polls(self) -> str:
        """When the next polls are due (next_polls_line), from the feed jobs."""
        due = [job.next_run_time for job in self.jobs.get_jobs()
               if job.id.startswith("feed:") and job.next_run_time is not None]
        return next_polls_line(due, utcnow())

    async def summarise(self) -> None:
        """Log what the polls since the last summary found, then when the next are due; quiet
        while nothing was polled, so an idle daemon does not fill the journal."""
        if not self.tally.feeds:
            return
        tally, self.tally = self.tally, Tally()
        log.info("%s", summary_line(tally, len(self.feeds)))
        log.info("%s", self.next_polls())

    async def deliver(self) -> None:
        """The delivery pass: every DELIVERY_INTERVAL and right after a poll that flagged a
        story. The first pass after a start tries every pending alert whatever its backoff:
        what was pending when the daemon stopped goes out at once, not an hour later."""
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
        try:  # update_feed records its own failures; this is for one in recording them
            decision = await self.pipeline.update_feed(feed, report)
        except Exception:  # a bug: loud in the log, the feed tried again later
            log.exception("feed %s: unexpected error", feed.url)
            self.pipeline.events.error("unexpected")
            report.errors.append(f"{feed.url}: unexpected error")
        if decision is not None or report.errors:  # polled (not deferred, nor cut short)
            self.tally.add(feed.url, report)
        if self.pipeline.stopping:
            return
        if report.flagged:
            await self.deliver()  # alert within seconds of the poll that found the story
        self._reschedule(feed, decision)

    def _reschedule(self, feed: FeedConfig, decision: ScheduleDecision | None) -> None:
        now = utcnow()
        if decision is not None and decision.next_check is None:  # disabled by the monitor
            self._remove(feed.url)
            return
        if decision is not None:
            when = decision.next_check or now
        else:  # deferred by Retry-After, or an unexpected error: try again later
            state = self.store.feed_state(feed.url)
            held = state.retry_after_until if state else None
            when = held if held and held > now else now + dt.timedelta(
                seconds=interval_of(feed, self.config))
        # Never due before this run has ended: APScheduler would find the job still running,
        # skip it and take the next time from the fallback trigger, hours away.
        when = max(when, now + RESCHEDULE_MARGIN)
        with contextlib.suppress(JobLookupError):
            self.jobs.modify_job(self.job_id(feed.url), next_run_time=when)

    def _add(self, feed: FeedConfig, when: dt.datetime) -> None:
        lo, hi = bounds(interval_of(feed, self.config), self.config.schedule)
        # The trigger is only a fallback: every run sets the next one from the stored schedule.
        # Its period is the upper bound, so it never fires while a run is still going.
        self.jobs.add_job(
            quiet(self.poll), IntervalTrigger(seconds=hi, jitter=min(60.0, lo / 10)), args=[feed.url],
            id=self.job_id(feed.url), max_instances=1, coalesce=True, misfire_grace_time=None,
            next_run_time=when, replace_existing=True)

    def _remove(self, url: str) -> None:
        self.feeds.pop(url, None)
        with contextlib.suppress(JobLookupError):
            self.jobs.remove_job(self.job_id(url))

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
                job = self.jobs.get_job(self.job_id(url))
                soonest = now + dt.timedelta(seconds=interval_of(feed, self.config))
                if job is not None and job.next_run_time and job.next_run_time > soonest:
                    job.modify(next_run_time=soonest)
        spread = min(STARTUP_SPREAD, 0.05 * len(overdue))
        for i, feed in enumerate(overdue):
            self._add(feed, now + dt.timedelta(seconds=spread * i / max(1, len(overdue))))
