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
from monitor.models import FeedRow, FeedState
from monitor.parse.search import as_feeds
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


def config_feeds(config: Config) -> list[FeedConfig]:
    """What config.toml polls: its [[feeds]], its [[pages]], and the feeds of its [[searches]]
    (one per engine and locale), each URL once."""
    feeds = [*config.feeds, *(p.as_feed() for p in config.pages),
             *(f for s in config.searches for f in as_feeds(s))]
    unique: dict[str, FeedConfig] = {}
    for feed in feeds:
        unique.setdefault(feed.url, feed)
    return list(unique.values())


def feed_set(config: Config, store: Store) -> list[FeedInfo]:
    """Every feed, config first (in file order: feeds, pages, searches), then those added by
    command."""
    rows = store.feed_rows()
    infos = []
    in_config: set[str] = set()
    for feed in config_feeds(config):
        row = rows.get(feed.url)
        infos.append(FeedInfo(feed, "config", feed.enabled, row.state if row else None))
        in_config.add(feed.url)
    for row in store.command_feeds():
        if row.url in in_config:
            continue
        command = command_feed(row)
        infos.append(FeedInfo(command, "command", command.enabled, row.state))
    return infos


def command_feed(row: FeedRow) -> FeedConfig:
    """A feed added by command, as the pipeline polls it."""
    return FeedConfig(url=row.url, name=row.name, interval=row.interval_setting,
                      enabled=row.enabled, kind=row.kind, selector=row.selector,
                      pattern=row.pattern)


def active_feeds(config: Config, store: Store) -> list[FeedConfig]:
    """The feeds of feed_set() that are active, found without reading every feed's whole
    row: a cycle over 10,000 feeds starts here, and needs only which ones were disabled."""
    disabled = store.disabled_feeds()
    listed = config_feeds(config)
    in_config = {feed.url for feed in listed}
    active = [feed for feed in listed if feed.enabled and feed.url not in disabled]
    for row in store.command_feeds():
        if row.url not in in_config and row.enabled and row.url not in disabled:
            active.append(command_feed(row))
    return active


def find_feed(config: Config, store: Store, url: str) -> FeedInfo | None:
    for info in feed_set(config, store):
        if info.feed.url == url:
            return info
    return None


def interval_of(feed: FeedConfig, config: Config) -> float:
    return feed.interval or config.interval
