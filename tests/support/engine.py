"""Run the polling engine in-process on a real config, a real SQLite file and real servers,
with an injectable clock: for tests that need to look inside a cycle or move time."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
from pathlib import Path
from typing import Any

from support.helpers import write_config

from monitor.config import Config, load_config
from monitor.pipeline.cycle import open_runtime, poll_feeds
from monitor.store.feedset import active_feeds
from monitor.pipeline.update import CycleReport
from monitor.store.database import Store


def engine_config(folder: Path, feeds: list[str], *, fetch_pages: bool = False,
                  interval: str = "15m", **fetch: Any) -> Config:
    """A config on the default rules with ``feeds``; keyword arguments override [fetch] keys."""
    config = load_config(write_config(folder, feeds, fetch_pages=fetch_pages, interval=interval))
    return dataclasses.replace(config, fetch=dataclasses.replace(config.fetch, **fetch))


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, start: dt.datetime | None = None) -> None:
        self.now = start or dt.datetime(2026, 11, 3, 12, 0, tzinfo=dt.timezone.utc)

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += dt.timedelta(**delta)


def cycle(config: Config, clock: Clock | None = None, timeout: float = 120) -> CycleReport:
    """One polling cycle over the active feeds, in this process."""

    async def run() -> CycleReport:
        report = CycleReport()
        async with open_runtime(config, executor=False) as runtime:
            if clock is not None:
                runtime.pipeline.clock = clock
            await poll_feeds(runtime.pipeline, active_feeds(config, runtime.store), report)
        return report

    return asyncio.run(asyncio.wait_for(run(), timeout))


def feed_rows(config: Config) -> dict[str, dict[str, Any]]:
    """The feeds table as stored, row by URL."""
    with Store(config.database) as store:
        return {r["url"]: r for r in store.db.query("select * from feeds")}


def titles(config: Config) -> list[str]:
    store = Store(config.database)
    try:
        return sorted(c.clipping.title for c in store.clippings())
    finally:
        store.close()
