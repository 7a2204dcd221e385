"""Running as a service: what `monitor run` adds around its scheduler (issue 7).

Service(config) is driven by daemon.run_forever: ``started(scheduler)`` once the scheduler runs
(retention job, [http] listener, watchdog pings from the event loop, READY=1), ``sighup()`` on
SIGHUP (a reload wrapped in RELOADING=1 / READY=1), ``stopping()`` on shutdown (STOPPING=1).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import threading
from collections.abc import Callable
from typing import Any

from apscheduler.triggers.interval import IntervalTrigger

from monitor.store import maintenance as dbcare
from monitor.service import logs
from monitor.service import metrics
from monitor.config import Config, load_config
from monitor.errors import MonitorError
from monitor.service.httpd import Listener
from monitor.service.systemd import SystemdNotifier

log = logging.getLogger("monitor")

RETENTION_EVERY = dt.timedelta(days=1)


def reload_config(current: Config) -> Config:
    """Re-read and validate the config file (rules compiled too): the new Config, or the
    current one, kept, when the new file is invalid."""
    from monitor.match.matcher import matcher_for

    try:
        new = load_config(current.path)
        matcher_for(new)
    except MonitorError as e:
        log.error("reload refused, the running configuration is kept: %s", e)
        return current
    return new


class Service:
    def __init__(self, config: Config, notifier: SystemdNotifier | None = None) -> None:
        self.config = config
        self.systemd = notifier or SystemdNotifier()
        self.listener: Listener | None = None
        self._stop = threading.Event()  # ends a retention pass running in a worker thread
        self._tasks: set[asyncio.Task[None]] = set()
        self._ready = False
        self._reload_pending = False  # a SIGHUP before READY=1 waits for it
        # The polling engine's reload (daemon.Daemon.reload): applies feeds, rules and notifiers
        # and returns the new Config, or None when the file is refused.
        self.engine_reload: Callable[[], Config | None] | None = None

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def started(self, scheduler: Any, feeds: int) -> None:
        """The scheduler runs: start the extras, then tell systemd we are ready."""
        metrics.watch_database(lambda: self.config)
        if self.config.http.enabled:
            self._listen()
        scheduler.add_job(self.retention, IntervalTrigger(seconds=RETENTION_EVERY.total_seconds()),
                          id="retention", max_instances=1, coalesce=True,
                          next_run_time=dt.datetime.now(dt.timezone.utc))
        if self.systemd.watchdog:
            # Pinged from the event loop itself: if the loop stalls, the pings stop and systemd
            # restarts the service (WatchdogSec=, Restart=on-failure).
            self._spawn(self._watchdog(self.systemd.watchdog / 2, scheduler))
        self.systemd.ready(f"polling {feeds} feeds")
        self._ready = True
        if self._reload_pending:
            self.sighup()

    def _listen(self) -> None:
        http = self.config.http
        try:
            self.listener = Listener(lambda: self.config, http.host, http.port)
        except OSError as e:
            log.error("http: cannot listen on %s:%d: %s; going on without /healthz and /metrics",
                      http.host, http.port, e)
            return
        self.listener.start()
        host, port = self.listener.address
        log.info("http: listening on http://%s:%d (/healthz, /metrics)",
                 f"[{host}]" if ":" in host else host, port)

    async def _watchdog(self, period: float, scheduler: Any) -> None:
        while True:
            if scheduler.running:
                self.systemd.ping()
            await asyncio.sleep(period)

    def sighup(self) -> None:
        """The SIGHUP handler: reload in a task of the loop (after start-up, so that systemd
        never hears READY=1 before the scheduler runs)."""
        if not self._ready:
            self._reload_pending = True
            return
        self._reload_pending = False
        self._spawn(self.reload())

    async def reload(self) -> None:
        with self.systemd.reloading():
            if self.engine_reload is not None:
                new = self.engine_reload() or self.config
            else:
                new = reload_config(self.config)
            if new is not self.config:
                self.apply(new)

    def apply(self, new: Config) -> None:
        """Take a valid new config: logging, status thresholds and retention follow at once.
        (Feeds, rules and notifiers are the polling engine's: ``engine_reload``.)"""
        self.config = new
        logs.configure(new)
        log.info("configuration reloaded from %s: logging, status thresholds and retention "
                 "applied; [http] changes take effect at the next start", new.path)

    async def retention(self) -> None:
        data = self.config.data
        if data.retention_days <= 0:
            return
        try:
            result = await asyncio.to_thread(
                dbcare.prune, self.config.database, retention_days=data.retention_days,
                keep_flagged=data.keep_flagged, stop=self._stop)
        except MonitorError as e:
            log.error("retention: %s", e)
            return
        log.info("retention: %d clippings first seen before %s deleted (%d matches, %d alerts)",
                 result.clippings, result.cutoff, result.matches, result.alerts)

    def stopping(self) -> None:
        self.systemd.stopping()
        self._stop.set()
        for task in list(self._tasks):
            task.cancel()
        if self.listener is not None:
            self.listener.stop()
            self.listener = None
