"""The feed set: the feeds of config.toml and the feeds added by command, merged.

config.toml is authoritative for its URLs: their name, interval and `enabled` come from it, and
`monitor feeds disable` refuses them. Feeds added with `monitor feeds add` or `feeds import` live
in the database with their own settings. A URL in both is the config's; removed from
config.toml, it is the command's again. Either kind is skipped while the monitor has disabled it
(410 Gone, 404 for days) until `monitor feeds enable URL`.
"""

from __future__ import annotations

from dataclasses import dataclass

from monitor.config import Config, FeedConfig
from monitor.models import FeedState
from monitor.store.database import Store


@dataclass(frozen=True, slots=True)
class FeedInfo:
    feed: FeedConfig
    origin: str  # "config" or "command"
    enabled: bool  # the setting, from config.toml or from `monitor feeds enable/disable`
    state: FeedState | None

    @property
    def active(self) -> bool:
        """Polled: enabled, and not disabled by the monitor."""
        return self.enabled and not (self.state and self.state.disabled_reason)


def feed_set(config: Config, store: Store) -> list[FeedInfo]:
    """Every feed, config first (in file order), then those added by command."""
    rows = store.feed_rows()
    infos = []
    for feed in config.feeds:
        row = rows.get(feed.url)
        infos.append(FeedInfo(feed, "config", feed.enabled, row.state if row else None))
    in_config = {f.url for f in config.feeds}
    for row in store.command_feeds():
        if row.url in in_config:
            continue
        command = FeedConfig(url=row.url, name=row.name, interval=row.interval_setting,
                             enabled=row.enabled)
        infos.append(FeedInfo(command, "command", command.enabled, row.state))
    return infos


def active_feeds(config: Config, store: Store) -> list[FeedConfig]:
    return [info.feed for info in feed_set(config, store) if info.active]


def find_feed(config: Config, store: Store, url: str) -> FeedInfo | None:
    for info in feed_set(config, store):
        if info.feed.url == url:
            return info
    return None


def interval_of(feed: FeedConfig, config: Config) -> float:
    return feed.interval or config.interval
