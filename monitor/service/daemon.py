"""The daemon (`monitor run`): the one object whose life is the process's.

start: the runtime opened (pipeline.cycle), the jobs scheduled (service.scheduler), the [http]
    listener (service.httpd), watchdog pings from the event loop, then READY=1 (service.systemd).
reload, on SIGHUP: config.toml read again between RELOADING=1 and READY=1; a valid file takes
    effect at once, an invalid one is refused and the running one kept.
stop, on SIGTERM or SIGINT: no new work; the polls under way store the stories already made
    and return, within STOP_GRACE, then the workers are ended: well within the unit's
    TimeoutStopSec. Every story is written whole, so work cut short is redone on the next run.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import logging
import signal
import threading
from collections.abc import AsyncIterator, Coroutine
from typing import Any

from monitor.config import Config, load_config
from monitor.errors import MonitorError, StoreError
from monitor.match.matcher import matcher_for
from monitor.parse.listing import check_pages
from monitor.notify import build_notifiers
from monitor.preflight import check_environment
from monitor.pipeline.cycle import Runtime, open_runtime
from monitor.service import logs, metrics
from monitor.service.httpd import Listener, open_listener
from monitor.service.scheduler import Scheduler
from monitor.service.systemd import SystemdNotifier
from monitor.store import maintenance as dbcare
from monitor.store.lock import DAEMON, Holder, hold_writer_lock

log = logging.getLogger("monitor")

RETENTION_EVERY = dt.timedelta(days=1)
# Seconds the polls under way get, at a stop, to store what they made before they are
# cancelled; the extraction workers then get at most 10 more (pipeline.workers): both well
# under systemd/monitor.service's TimeoutStopSec=30, after which systemd would SIGKILL.
STOP_GRACE = 12.0
# Seconds between looks at the database's path: deleted or replaced under the daemon, the file
# it writes to is one nobody can read, and everything written from then on is lost at exit.
DATABASE_CHECK_INTERVAL = 5.0


class Daemon:
    """``run()`` is the process's life: ``start``, ``reload`` on each SIGHUP, ``stop`` on
    SIGTERM or SIGINT (or when the ``stop`` event given to run() is set)."""

    def __init__(self, config: Config, systemd: SystemdNotifier | None = None) -> None:
        self.config = config
        # Made first: it takes systemd's variables out of the environment before the extraction
        # workers are started, so that they never talk to systemd in the daemon's name.
        self.systemd = systemd or SystemdNotifier()
        self.scheduler: Scheduler | None = None
        self.listener: Listener | None = None
        self._stop_retention = threading.Event()  # ends a retention pass in its worker thread
        self._tasks: set[asyncio.Task[None]] = set()
        self._ready = False
        self._reload_pending = False  # a SIGHUP before READY=1 waits for it
        self._stop = asyncio.Event()
        self.failure: MonitorError | None = None  # why the daemon stopped itself

    async def run(self, stop: asyncio.Event | None = None) -> None:
        self._stop = stop = stop or asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        loop.add_signal_handler(signal.SIGHUP, self.sighup)
        async with self._locked_runtime() as runtime:
            self.start(runtime)
            await stop.wait()
            log.info("stopping")
            loop.remove_signal_handler(signal.SIGHUP)
            await self.stop()
        if self.failure is not None:
            raise self.failure  # `monitor run` exits non-zero: systemd's Restart= takes over
        log.info("stopped")

    @contextlib.asynccontextmanager
    async def _locked_runtime(self) -> AsyncIterator[Runtime]:
        """The runtime, opened once the database's writer lock is ours: a second daemon on the
        same database stops here, before anything is opened or written (store.lock)."""
        with hold_writer_lock(self.config.database, DAEMON, hint=_second_daemon):
            async with open_runtime(self.config, events=metrics.PrometheusEvents()) as runtime:
                yield runtime

    def start(self, runtime: Runtime) -> None:
        """Schedule the jobs and start the extras, then tell systemd we are ready (so systemd
        never hears READY=1 before the scheduler runs)."""
        self.scheduler = scheduler = Scheduler(self.config, runtime, asyncio.get_running_loop())
        scheduler.start()
        # The callables read self.config when asked: a reload's thresholds apply at once.
        metrics.watch_database(lambda: self.config)
        if self.config.http.enabled:
            self.listener = open_listener(lambda: self.config)
        scheduler.every(RETENTION_EVERY.total_seconds(), self.retention, "retention", now=True)
        scheduler.every(DATABASE_CHECK_INTERVAL, self.check_database, "check-database")
        if self.systemd.watchdog:
            # Pinged from the event loop itself: if the loop stalls, the pings stop and systemd
            # restarts the service (WatchdogSec=, Restart=on-failure).
            self._spawn(self._watchdog(self.systemd.watchdog / 2))
        self.systemd.ready(f"polling {len(scheduler.feeds)} feeds")
        self._ready = True
        if self._reload_pending:
            self.sighup()
        log.info("monitor running: %d feeds, %d rules, %d notifiers, database %s",
                 len(scheduler.feeds), len(self.config.rules), len(runtime.pipeline.notifiers),
                 self.config.database)
        log.info("%s", scheduler.next_polls())

    def sighup(self) -> None:
        """The SIGHUP handler: reload in a task of the loop, once started."""
        if not self._ready:
            self._reload_pending = True
            return
        self._reload_pending = False
        self._spawn(self.reload())

    async def reload(self) -> None:
        """Read config.toml again. A valid file takes effect at once (feeds, rules, notifiers,
        fetch limits, logging, status thresholds, retention) without a restart; [monitor]
        database and [http] at the next start. An invalid one is refused, the running one kept."""
        assert self.scheduler is not None, "reload before start"
        with self.systemd.reloading():
            try:
                new = load_config(self.config.path)
                warnings = check_environment(new)  # the checks `monitor run` makes at start
                matcher = matcher_for(new)
                check_pages(new)
                notifiers = build_notifiers(new.notifiers, self.scheduler.pipeline.client)
            except MonitorError as e:
                log.error("reload refused, the running configuration is kept: %s", e)
                return
            for problem in warnings:
                log.warning("reload: %s", problem)
            if new.database != self.config.database:
                log.warning("reload: [monitor] database changed; it takes effect at the next start")
                new = dataclasses.replace(new, database=self.config.database)
            self.scheduler.use(new, matcher, notifiers)
            self.config = new
            logs.configure(new)
            log.info("configuration reloaded from %s: %d feeds scheduled, %d rules, %d notifiers; "
                     "[http] changes take effect at the next start", new.path,
                     len(self.scheduler.feeds), len(new.rules), len(notifiers))

    async def stop(self) -> None:
        """STOPPING=1, then everything ended: the extras and the scheduler at once; the jobs
        still running are told to stop taking work, so that a poll stores the stories it made
        and returns; any still running after STOP_GRACE is cancelled (its unstored stories
        are redone next time). A cancellation is no error: nothing is logged as one."""
        self.systemd.stopping()
        self._stop_retention.set()
        for task in list(self._tasks):
            task.cancel()
        if self.listener is not None:
            self.listener.stop()
            self.listener = None
        if self.scheduler is not None:
            self.scheduler.pause()
            self.scheduler.pipeline.stop_work()
        current = asyncio.current_task()
        pending = [t for t in asyncio.all_tasks() if t is not current and not t.done()]
        if pending:
            _, late = await asyncio.wait(pending, timeout=STOP_GRACE)
            if late:
                log.warning("stop: %d jobs still running after %.0fs, cancelled", len(late),
                            STOP_GRACE)
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)
        if self.scheduler is not None:
            self.scheduler.shutdown()

    async def check_database(self) -> None:
        """Stop, with an error, once the database file is deleted or replaced under us."""
        assert self.scheduler is not None, "check before start"
        problem = self.scheduler.store.replaced()
        if problem is None or self.failure is not None:
            return
        self.failure = StoreError(f"{problem}; stopping, since nothing written from now on "
                                  "could be read (start again once the right file is back)")
        log.error("%s", self.failure)
        self._stop.set()

    async def retention(self) -> None:
        """The daily database care: clippings older than [data] retention_days deleted."""
        data = self.config.data
        if data.retention_days <= 0:
            return
        try:
            result = await asyncio.to_thread(
                dbcare.prune, self.config.database, retention_days=data.retention_days,
                keep_flagged=data.keep_flagged, stop=self._stop_retention)
        except MonitorError as e:
            log.error("retention: %s", e)
            return
        log.info("retention: %d clippings first seen before %s deleted (%d matches, %d alerts)",
                 result.clippings, result.cutoff, result.matches, result.alerts)

    async def _watchdog(self, period: float) -> None:
        while True:
            if self.scheduler is not None and self.scheduler.running:
                self.systemd.ping()
            await asyncio.sleep(period)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


def _second_daemon(holder: Holder | None) -> str:
    return ("one daemon per database; stop that one first (systemctl stop monitor), or "
            "reload its configuration (systemctl reload monitor)")


async def run_forever(config: Config, stop: asyncio.Event | None = None) -> None:
    """`monitor run`: poll each feed when its schedule says and drain the outbox until SIGTERM
    or SIGINT (or ``stop``); SIGHUP reloads config.toml."""
    await Daemon(config).run(stop)
