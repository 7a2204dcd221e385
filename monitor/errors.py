"""The one error tree of the monitor.

    MonitorError
    ├── ConfigError        a bad config file: names the file, the key and the reason
    ├── FeedError(url)     something wrong with one feed
    │   ├── FetchError     transport, HTTP status, size cap, refused address
    │   └── ParseError     the body is not a feed / has no entries
    ├── ExtractError       an article page yielded nothing usable
    ├── ClippingError      a clipping text that does not follow the format
    ├── RuleError          a rule query that does not compile (also a ConfigError at load)
    ├── UnknownId          no clipping has this id, prefix or URL
    ├── AmbiguousId        an id prefix several clippings share (the candidates)
    ├── NotifyError(channel, permanent, retry_after)
    └── StoreError         the database could not be opened or migrated
        └── DatabaseInUse  another process holds the database's writer lock (its pid)

Third-party exceptions are translated at the one module that calls the library,
always with ``raise ... from e``.
"""

from __future__ import annotations


class MonitorError(Exception):
    """Base of every error the monitor raises on purpose."""


class ConfigError(MonitorError):
    def __init__(self, message: str, *, path: str | None = None, key: str | None = None) -> None:
        self.path = path
        self.key = key
        self.reason = message
        where = ": ".join(p for p in (path, key) if p)
        super().__init__(f"{where}: {message}" if where else message)


class FeedError(MonitorError):
    def __init__(self, message: str, *, url: str = "") -> None:
        self.url = url
        super().__init__(message)


class FetchError(FeedError):
    """Transport failure, bad status, body too large or an address we refuse."""

    def __init__(self, message: str, *, url: str = "", status: int | None = None,
                 retry_after: float | None = None, blocked: bool = False) -> None:
        self.status = status
        self.retry_after = retry_after
        self.blocked = blocked  # an anti-bot challenge: the feed is walled off, not broken
        super().__init__(message, url=url)


class ParseError(FeedError):
    """The body is not a feed, or a feed with no entries."""


class BrokenListing(ParseError):
    """A watched page whose selector or pattern picks no link: its site changed its layout
    (the page is "broken"), which is not the same as a quiet day."""


class ExtractError(MonitorError):
    """An article page that trafilatura could not turn into text."""


class ClippingError(MonitorError):
    """Text that does not follow the clipping format."""


class RuleError(MonitorError):
    """A rule query that does not compile: names the rule, the position and what was expected."""

    def __init__(self, message: str, *, rule: str = "", position: int | None = None) -> None:
        self.rule = rule
        self.position = position
        super().__init__(message)


class UnknownId(MonitorError):
    """No clipping answers to what the user typed (an id, a prefix of one, or a URL)."""

    def __init__(self, message: str, *, ref: str = "") -> None:
        self.ref = ref
        super().__init__(message)


class AmbiguousId(MonitorError):
    """An id prefix several clippings share; ``candidates`` are (id, title), a few of them."""

    def __init__(self, message: str, *, ref: str = "",
                 candidates: tuple[tuple[str, str], ...] = ()) -> None:
        self.ref = ref
        self.candidates = candidates
        super().__init__(message)


class NotifyError(MonitorError):
    """A delivery that failed. ``permanent`` failures are not retried."""

    def __init__(self, message: str, *, channel: str = "", permanent: bool = False,
                 retry_after: float | None = None) -> None:
        self.channel = channel
        self.permanent = permanent
        self.retry_after = retry_after
        super().__init__(message)


class StoreError(MonitorError):
    """The database could not be opened, migrated or written."""


class DatabaseInUse(StoreError):
    """Another process holds the database's writer lock; ``pid`` is the holder's, when known."""

    def __init__(self, message: str, *, pid: int | None = None) -> None:
        self.pid = pid
        super().__init__(message)
