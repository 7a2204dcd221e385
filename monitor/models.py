"""Records passed between the pipeline stages: frozen dataclasses, no I/O.

fetch -> FetchResult; feeds -> FeedMeta, [Entry]; extract -> Article;
clipping -> Clipping; match -> [Match]; store -> Alert (outbox rows) -> notify.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

# Declared with its settings in config.py; named here too for the callers that import it here.

# A clipping's id is 16 hex digits; people see and type its head, git-style.
SHORT_ID = 8      # digits shown in listings and alerts
MIN_PREFIX = 6    # fewest digits taken as an id prefix


def short_id(clipping_id: str) -> str:
    """The head of a clipping's id that listings and alerts show."""
    return clipping_id[:SHORT_ID]


@dataclass(frozen=True, slots=True)
class FeedState:
    """What the store remembers about a feed between polls."""

    url: str
    etag: str | None = None
    last_modified: str | None = None
    error_count: int = 0
    retry_after_until: dt.datetime | None = None
    # What the scheduler needs to carry a feed's timing and health across restarts.
    next_check: dt.datetime | None = None
    interval: float | None = None  # the interval chosen last time (adaptive), seconds
    failing_since: dt.datetime | None = None  # first error of the current run of errors
    missing_since: dt.datetime | None = None  # first 404 of the current run of 404s
    median_gap: float | None = None  # the feed's rhythm: median seconds between its stories
    newest_entry: dt.datetime | None = None
    status: str | None = None  # "ok", "not_modified", "error", "blocked", "broken", "disabled"
    disabled_reason: str | None = None  # set when the monitor disabled the feed (410, 404 for days)
    moved_to: str | None = None  # the new address after a 301 or 308; polled instead of url
    body_hash: str | None = None  # of the last body parsed: an unchanged body is not parsed again


@dataclass(frozen=True, slots=True)
class PollResult:
    """What one poll of a feed came to: the input of ``schedule.next_check``."""

    outcome: str  # "updated", "not_modified", "error", "blocked" or "broken" (a watched page)
    status: int | None = None  # the HTTP status; None for a transport failure or a parse error
    error: str = ""
    retry_after: float | None = None  # seconds, from Retry-After
    max_age: float | None = None  # seconds, from Cache-Control max-age or Expires
    ttl: float | None = None  # seconds, from RSS <ttl>
    update_period: float | None = None  # seconds, from sy:updatePeriod / sy:updateFrequency
    median_gap: float | None = None  # the rhythm of the entries just read, when known
    newest_entry: dt.datetime | None = None


@dataclass(frozen=True, slots=True)
class ScheduleDecision:
    """When to poll a feed next, and the state that goes with it (an intent to write)."""

    next_check: dt.datetime | None  # None: not again (the feed was disabled)
    interval: float
    error_count: int
    status: str
    failing_since: dt.datetime | None = None
    missing_since: dt.datetime | None = None
    retry_after_until: dt.datetime | None = None
    disabled_reason: str | None = None


@dataclass(frozen=True, slots=True)
class FetchResult:
    """A completed HTTP exchange. ``not_modified`` is a normal outcome (304)."""

    url: str  # the final URL, after redirects
    status: int
    content: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    not_modified: bool = False
    etag: str | None = None
    last_modified: str | None = None
    moved_to: str | None = None  # where a chain of 301/308 from the requested URL led


@dataclass(frozen=True, slots=True)
class FeedMeta:
    title: str
    link: str
    problem: str | None = None  # set when the feed was ill-formed but still yielded entries
    ttl: float | None = None  # RSS <ttl>, in seconds
    update_period: float | None = None  # sy:updatePeriod / sy:updateFrequency, in seconds


@dataclass(frozen=True, slots=True)
class Entry:
    """One item of a feed, as the feed describes it."""

    feed_url: str
    guid: str | None
    url: str | None
    title: str
    summary: str  # HTML or text, as found
    content: str  # HTML or text, the fullest content the feed carries
    author: str
    published: dt.datetime | None  # UTC
    source: str = ""  # the publisher an aggregator's item names (RSS <source>, Bing's News:Source)


@dataclass(frozen=True, slots=True)
class Article:
    """What trafilatura found on a story's page."""

    title: str
    author: str
    date: dt.date | None
    sitename: str
    description: str
    body: str  # markdown
    fingerprint: str


@dataclass(frozen=True, slots=True)
class Clipping:
    """The clipping document (see seeds/): every field of the text format, nothing else.

    Single-line fields are normalised by ``clipping.normalise`` before they
    reach this record, so that ``parse(render(c)) == c``.
    """

    title: str
    standfirst: str
    source: str
    url: str
    date: dt.date | None
    author: str
    body: str
    tags: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Document:
    """The text the matcher looks at."""

    title: str
    body: str
    source: str = ""
    lang: str = ""
    url: str = ""


@dataclass(frozen=True, slots=True)
class MatchedTerm:
    """A term that matched: the text as found, which field, and its character offsets there."""

    text: str
    field: str  # "title", "body", "source", ...
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class Match:
    """A rule that fired on a document."""

    rule: str
    score: float
    terms: tuple[MatchedTerm, ...]
    tags: tuple[str, ...] = ()  # event tags (takedown, raid, ...) and the rule's own tags
    # The [[watch]] lists paired with this rule that the story names: its alert says so.
    watches: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class StorySource:
    """One clipping of a story: an outlet that reported the event."""

    clipping_id: str
    title: str
    source: str
    url: str
    date: dt.date | None


@dataclass(frozen=True, slots=True)
class Alert:
    """An outbox row ready for delivery: one per story and notifier, listing every rule that fired."""

    id: int
    key: str  # idempotency key, stable across retries
    notifier: str
    clipping_id: str
    clipping: Clipping
    matches: tuple[Match, ...]
    origin: str  # "page" or "feed"
    created_at: dt.datetime
    attempts: int = 0  # deliveries tried so far
    # The story (one per event) this clipping belongs to, every source of it so far,
    # and whether this is an update of a story already alerted.
    story_id: int | None = None
    sources: tuple[StorySource, ...] = ()
    update: bool = False
    # The story's page on the review site ([review] base_url), or "" when none is configured.
    review_url: str = ""


@dataclass(frozen=True, slots=True)
class Digest:
    """Several alerts of one notifier sent as one message (on a digest schedule, or by flood
    control). Its membership is fixed when it is made, so retries send the same thing."""

    id: int
    key: str  # idempotency key, stable across retries (webhook-id, Message-ID)
    notifier: str
    alerts: tuple[Alert, ...]  # newest first
    reason: str  # "schedule" or "flood"
    created_at: dt.datetime
    attempts: int = 0


@dataclass(frozen=True, slots=True)
class FeedUpdate:
    """One poll of a feed and the schedule decided from it (an intent to write).
    ``None`` (or "") leaves a stored field as it was, except etag and last_modified, which an
    updated feed replaces even with nothing."""

    url: str
    name: str
    checked_at: dt.datetime
    outcome: str  # "updated", "not_modified", "error" or "blocked"
    decision: ScheduleDecision
    http_status: int | None = None
    error: str | None = None
    etag: str | None = None
    last_modified: str | None = None
    title: str = ""
    moved_to: str | None = None
    body_hash: str | None = None
    median_gap: float | None = None
    newest_entry: dt.datetime | None = None
    # New entries were left for the next poll (max_new_per_poll): nothing that would make the
    # next poll skip them is kept (validators, body hash), nor does it end the feed's first poll.
    partial: bool = False


@dataclass(frozen=True, slots=True)
class FeedRow:
    """A feed as stored: what the scheduler needs (``state``), its last outcome, and how it
    was added ("config": config.toml, "command": `monitor feeds add` or an OPML import)."""

    state: FeedState
    name: str = ""
    title: str = ""
    origin: str = "config"
    enabled: bool = True  # the command's setting; a config feed's comes from config.toml
    interval_setting: float | None = None  # a command feed's interval, seconds
    added_at: dt.datetime | None = None
    last_status: str | None = None
    last_error: str | None = None
    last_checked: dt.datetime | None = None
    last_success: dt.datetime | None = None
    last_http_status: int | None = None
    kind: str = "feed"  # "feed", "page" (`monitor pages add`) or "search"
    selector: str = ""  # a page's region
    pattern: str = ""  # a page's link pattern

    @property
    def url(self) -> str:
        return self.state.url


@dataclass(frozen=True, slots=True)
class NewStory:
    """A new story ready to store (an intent to write): its clipping, the matches, and the
    alerts routed from them (notifier -> the rules that route to it)."""

    clipping_id: str
    clipping: Clipping
    text: str  # the clipping rendered
    origin: str  # "page" or "feed"
    fingerprint: str
    feed_url: str
    guid: str | None
    canonical: str | None
    published: dt.datetime | None
    matches: tuple[Match, ...] = ()
    alerts: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    backlog: bool = False  # an old story found on a feed's first poll: stored, not alerted
    extract_error: str | None = None  # why its page, fetched, was not used (origin "feed")


@dataclass(frozen=True, slots=True)
class AlertRow:
    """An alert as `monitor alerts` lists it: its delivery state and its story's headline."""

    id: int
    key: str
    notifier: str
    status: str  # "pending", "sending" (claimed), "sent", "failed" or "grouped"
    attempts: int
    last_error: str | None
    next_attempt: dt.datetime | None
    retry_after_until: dt.datetime | None
    created_at: dt.datetime
    sent_at: dt.datetime | None
    digest_id: int | None
    rules: tuple[str, ...]
    clipping_id: str
    title: str | None
    source: str | None
    link: str | None
    claimed_until: dt.datetime | None = None  # while "sending": when the claim lapses
    claimed_by: str | None = None  # the claiming process: "<pid>-<random>"

    @property
    def claimed_by_pid(self) -> int | None:
        head = (self.claimed_by or "").split("-", 1)[0]
        return int(head) if head.isdigit() else None


@dataclass(frozen=True, slots=True)
class DueRecheck:
    """A flagged story whose page is due to be fetched again (evidence)."""

    clipping_id: str
    url: str  # the page's link, else its canonical URL
    checks: int  # re-checks done so far


@dataclass(frozen=True, slots=True)
class ClippingRecord:
    """A stored clipping with its rules and its analyst's mark, for `monitor export`; times
    and dates as stored (ISO text)."""

    id: str
    story_id: int | None
    url: str | None  # the story's link
    title: str | None
    standfirst: str | None
    source: str | None
    date: str | None
    author: str | None
    lang: str | None
    flagged: bool
    rules: tuple[str, ...]
    tags: tuple[str, ...]
    origin: str | None
    published: str | None
    created_at: str
    mark: str | None
    body: str | None
    text: str  # the clipping file


class Progress(Protocol):
    """Told how far a long piece of work is: ``done`` items of ``total`` (None: not known),
    with a short ``note`` on what it found so far. The command line draws a bar with it; the
    stages that report never know who listens."""

    def __call__(self, done: int, total: int | None, note: str = "") -> None: ...


def no_progress(done: int, total: int | None, note: str = "") -> None:
    """Progress reported to nobody."""
