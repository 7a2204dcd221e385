"""Configuration: config.toml -> load_config() -> a frozen Config.

Each setting is declared once, as the field of the dataclass it fills: its key, kind, default (as
written in config.toml), help and check (datasette's SETTINGS). That one declaration gives the
dataclass its default and drives loading, validation, `monitor check-config --defaults` and the
docs test. A bad file raises ConfigError naming the file, the key and the reason.
"""

from __future__ import annotations

import ipaddress
import json
import math
import os
import re
import tomllib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import KW_ONLY, MISSING, Field, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, TypeVar

from monitor.errors import ConfigError
from monitor.units import parse_cadence
# Re-exported: callers outside this module read durations the way the settings do.
from monitor.units import parse_duration

T = TypeVar("T")
Check = Callable[[Any], "str | None"]  # a value -> why it is refused, or None


# -- the kinds of values a setting holds -------------------------------------------------------

def _same(value: Any) -> Any:
    return value


@dataclass(frozen=True, slots=True)
class Kind:
    """What a setting holds: the TOML types it accepts and how a value becomes the field's."""

    name: str
    types: tuple[type, ...]
    convert: Callable[[Any], Any] = _same  # raises ValueError with the reason

    def read(self, value: object) -> Any:
        # TOML booleans are ints to Python; never accept one for the other.
        if isinstance(value, bool) and bool not in self.types or not isinstance(value, self.types):
            names = " or ".join(t.__name__.replace("str", "string").replace("int", "integer")
                                for t in self.types)
            raise ValueError(f"expected {names}, got {type(value).__name__} {value!r}")
        return self.convert(value)


def _strings(value: list[Any]) -> tuple[str, ...]:
    if not all(isinstance(v, str) for v in value):
        raise ValueError("expected a list of strings")
    return tuple(value)


def _headers(value: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    if not all(isinstance(v, str) for v in value.values()):
        raise ValueError("expected a table of strings")
    return tuple(value.items())


def _durations(value: list[Any]) -> tuple[float, ...]:
    return tuple(sorted(parse_duration(v) for v in value))


def _finite(value: int | float) -> float:
    # TOML has inf and nan: NaN compares false with everything, so it would pass every check.
    if not math.isfinite(value):
        raise ValueError(f"expected a finite number, got {value!r}")
    return float(value)


def _duration_or_off(value: str | float) -> float | None:
    if isinstance(value, str) and value.strip().lower() in ("off", "none", "no"):
        return None
    return parse_duration(value)


STRING = Kind("string", (str,))
TRIMMED = Kind("string", (str,), str.strip)
INTEGER = Kind("integer", (int,))
NUMBER = Kind("number", (int, float), _finite)
BOOLEAN = Kind("boolean", (bool,))
PATH = Kind("path", (str,), Path)
DURATION = Kind("duration", (str, int, float), parse_duration)
DURATION_OR_OFF = Kind('duration or "off"', (str, int, float), _duration_or_off)
DURATIONS = Kind("list of durations", (list,), _durations)
STRINGS = Kind("list of strings", (list,), _strings)
HEADERS = Kind("table of strings", (dict,), _headers)
TABLE = Kind("table", (dict,))
ARRAY = Kind("array of tables", (list,))


_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")  # a header name (RFC 9110 token)
_HEADER_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


def parse_header_lines(text: str) -> list[tuple[str, str]]:
    """What headers_env or headers_file holds: ``Name: value`` lines (blank lines and ``#``
    comments skipped) as (name, value) pairs; ValueError naming the line, never quoting it
    (it holds a secret). Read at send time by the webhook, and by the preflight checks."""
    found = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        name, colon, value = line.partition(":")
        name, value = name.strip(), value.strip()
        if not colon or not _TOKEN.fullmatch(name) or not value or _HEADER_CONTROL.search(value):
            raise ValueError(f"line {number} is not a header (expected Name: value)")
        found.append((name, value))
    return found


# -- checks ---------------------------------------------------------------------------------------

def must(ok: Callable[[Any], bool], reason: str) -> Check:
    """A check refusing values that are not ``ok``; ``reason`` may name the {value}."""
    def check(value: Any) -> str | None:
        return None if ok(value) else reason.format(value=value)
    return check


def one_of(*choices: str) -> Check:
    return must(lambda v: v in choices, f"expected one of {', '.join(choices)}, got {{value!r}}")


_http_url = must(lambda v: v.startswith(("http://", "https://")),
                 "expected an http:// or https:// URL, got {value!r}")
_http_url_or_unset = must(lambda v: not v or v.startswith(("http://", "https://")),
                          "expected an http:// or https:// URL, got {value!r}")
_env_name = must(lambda v: not v or v.replace("_", "").isalnum(),
                 "expected the NAME of an environment variable, such as MONITOR_SECRET, got {value!r}")


def _address(value: str) -> str | None:
    if "@" not in value or any(c in value for c in "\r\n\t <>,;"):
        return f"expected a plain e-mail address such as analyst@example.org, got {value!r}"
    return None


def _addresses(value: tuple[str, ...]) -> str | None:
    if not value:
        return "needs at least one address"
    return next((reason for v in value if (reason := _address(v))), None)


def _cadence(value: str) -> str | None:
    try:
        if value:
            parse_cadence(value)
    except ValueError as e:
        return str(e)
    return None


def _loopback(value: str) -> str | None:
    try:
        if ipaddress.ip_address(value).is_loopback:
            return None
    except ValueError:
        pass
    return (f"expected a loopback address such as 127.0.0.1 (the listener has no authentication; "
            f"put a proxy in front to expose it), got {value!r}")


# -- settings -------------------------------------------------------------------------------------

class _Marker:
    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return self.text


REQUIRED = _Marker("required")  # the file must give it
DERIVED = _Marker("derived")    # optional in the file; worked out from other keys (help: how)


@dataclass(frozen=True, slots=True)
class Setting:
    """One key of config.toml. ``default`` is written as in the file ("15m"); None: unset, the
    help says what happens then."""

    kind: Kind
    default: Any
    help: str
    check: Check | None = None
    key: str = ""   # as written in config.toml; the field's name unless it is no Python name
    attr: str = ""  # the dataclass field it fills


def setting(kind: Kind, default: Any, help: str, *,  # noqa: A002
            check: Check | None = None, key: str = "") -> Any:
    """A dataclass field that is a setting; its default is ``default`` read as the file would be."""
    meta = {"setting": Setting(kind, default, help, check, key)}
    if default is REQUIRED or default is DERIVED:
        return field(metadata=meta)
    return field(default=None if default is None else kind.read(default), metadata=meta)


def embedded(cls: type) -> Any:
    """A dataclass of settings read from the same TOML table as the one holding it."""
    return field(default_factory=cls, metadata={"embedded": cls})


def settings_of(cls: type) -> tuple[Setting, ...]:
    """The settings a dataclass reads from its table, embedded ones included, in order."""
    found: list[Setting] = []
    for f in fields(cls):
        if "setting" in f.metadata:
            spec: Setting = f.metadata["setting"]
            found.append(replace(spec, key=spec.key or f.name, attr=f.name))
        elif "embedded" in f.metadata:
            found += settings_of(f.metadata["embedded"])
    return tuple(found)


# -- the tables ---------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class FetchConfig:
    """[fetch]: how feeds and article pages are fetched."""

    timeout: float = setting(NUMBER, 20, "connect and read timeout of one request, seconds",
                             check=must(lambda v: v > 0, "must be positive"))
    max_bytes: int = setting(INTEGER, 5_000_000, "largest feed or page body accepted, bytes",
                             check=must(lambda v: v >= 1024, "must be at least 1024"))
    user_agent: str = setting(STRING, "", 'the User-Agent header; "": monitor/<version> (+project URL)')
    allow_private_networks: bool = setting(
        BOOLEAN, False, "allow URLs resolving to loopback, private, link-local or reserved addresses")
    max_redirects: int = setting(INTEGER, 5, "redirects followed per request",
                                 check=must(lambda v: v >= 0, "must be 0 or more, got {value}"))
    fetch_pages: bool = setting(BOOLEAN, True, "fetch and extract each new story's page; false "
                                "builds clippings from the feed alone")
    # A feed listing thousands of new entries must not cost thousands of page fetches and
    # extractions in one poll: the rest wait for the next polls, oldest first.
    max_new_per_poll: int = setting(INTEGER, 100, "new entries of one feed processed per poll, "
                                    "oldest first; the others are taken at the next polls",
                                    check=must(lambda v: v >= 1, "must be at least 1, got {value}"))
    # A deadline on the whole request (a server sending a byte a second must not hold a feed
    # forever), and concurrency limits so that one slow host can't hold the rest.
    total_timeout: float = setting(NUMBER, 60, "deadline of one whole request (redirects, headers "
                                   "and body), seconds")
    concurrency: int = setting(INTEGER, 20, "requests in flight at once (feeds and pages)",
                               check=must(lambda v: v >= 1, "must be at least 1"))
    per_host: int = setting(INTEGER, 2, "requests in flight at once to one host",
                            check=must(lambda v: v >= 1, "must be at least 1"))
    # The extraction workers' own bounds: a page that makes trafilatura loop or swell costs
    # that page, not the daemon (the unit's MemoryMax would kill everything at once).
    extract_timeout: float = setting(NUMBER, 30, "deadline of one page's extraction in a worker "
                                     "process, seconds; past it the story is built from the feed",
                                     check=must(lambda v: v > 0, "must be positive"))
    worker_memory: int = setting(INTEGER, 256, "address space each extraction worker may use, "
                                 "MiB (under the unit's MemoryMax); 0: no limit",
                                 check=must(lambda v: v == 0 or v >= 128,
                                            "must be 0 or at least 128"))


@dataclass(frozen=True, slots=True)
class FeedConfig:
    """One [[feeds]] table."""

    url: str = setting(TRIMMED, REQUIRED, "the feed (RSS, Atom or JSON Feed)", check=_http_url)
    name: str = setting(STRING, "", "shown in listings; the clipping's source when the page names none")
    interval: float | None = setting(DURATION, None, "this feed's poll interval; unset: "
                                     "[monitor] interval")
    enabled: bool = setting(BOOLEAN, True, "false: not polled")
    backlog_max_age: float | None = setting(DURATION, None, "this feed's backlog_max_age; unset: "
                                            "[monitor] backlog_max_age")
    # Not read from [[feeds]]: a watched page ([[pages]]) or a saved search ([[searches]]) is
    # polled as a feed of this kind.
    kind: str = "feed"  # "feed", "page" or "search"
    selector: str = ""  # a page's: the CSS selector of the region listing its items
    pattern: str = ""  # a page's: what an item's URL must match


def _pattern(value: str) -> str | None:
    if value.startswith("re:"):
        try:
            re.compile(value[3:])
        except re.error as e:
            return f"invalid regular expression after re: ({e})"
    return None


@dataclass(frozen=True, slots=True)
class PageConfig:
    """One [[pages]] table: a page without a feed (a newsroom) whose new links are stories."""

    url: str = setting(TRIMMED, REQUIRED, "the page listing the items", check=_http_url)
    selector: str = setting(TRIMMED, "", 'CSS selector of the region listing the items; "": the '
                            "page's main content")
    pattern: str = setting(TRIMMED, "", 'what an item\'s URL must match: a glob ("/news/*" on the '
                           'path, else on the whole URL) or "re:" and a regular expression; '
                           "it also lets links to other sites in", check=_pattern)
    name: str = setting(STRING, "", "shown in listings; the clipping's source when the page names none")
    interval: float | None = setting(DURATION, None, "this page's poll interval; unset: "
                                     "[monitor] interval")
    # No backlog_max_age: a page's links are often undated, so its whole first poll is backlog.
    enabled: bool = setting(BOOLEAN, True, "false: not polled")

    def as_feed(self) -> FeedConfig:
        return FeedConfig(url=self.url, name=self.name, interval=self.interval,
                          enabled=self.enabled, kind="page", selector=self.selector,
                          pattern=self.pattern)


_LOCALE = re.compile(r"^[a-z]{2,3}-[A-Z]{2}$")
SEARCH_ENGINES = ("google", "bing")  # their URLs: monitor.parse.search.ENGINES


def _locales(value: tuple[str, ...]) -> str | None:
    if not value:
        return "needs at least one locale, such as en-US"
    bad = [v for v in value if not _LOCALE.match(v)]
    return f"expected language-COUNTRY locales such as fr-FR, got {bad[0]!r}" if bad else None


def _engines(value: tuple[str, ...]) -> str | None:
    if not value:
        return "needs at least one engine"
    for v in value:
        if v not in SEARCH_ENGINES and not (v.startswith(("http://", "https://"))
                                            and "{query}" in v):
            return (f"expected google, bing or an RSS URL template with {{query}}, got {v!r}")
    return None


@dataclass(frozen=True, slots=True)
class SearchConfig:
    """One [[searches]] table: a saved news search, run as the engines' RSS search feeds."""

    query: str = setting(TRIMMED, REQUIRED, "the search, as typed in the engine",
                         check=must(bool, "must not be empty"))
    locales: tuple[str, ...] = setting(STRINGS, ["en-US"], "where it runs: language-COUNTRY, "
                                       "one feed per engine and locale", check=_locales)
    engines: tuple[str, ...] = setting(STRINGS, ["google", "bing"], 'google (News search), bing '
                                       '(News search), or an RSS URL template with {query}, '
                                       '{lang}, {country}, {locale}', check=_engines)
    name: str = setting(STRING, "", 'shown in listings; "": the query')
    interval: float | None = setting(DURATION, None, "its feeds' poll interval; unset: "
                                     "[monitor] interval")
    enabled: bool = setting(BOOLEAN, True, "false: not polled")
    backlog_max_age: float | None = setting(DURATION, None, "its feeds' backlog_max_age; unset: "
                                            "[monitor] backlog_max_age")


@dataclass(frozen=True, slots=True)
class Delivery:
    """How a notifier's alerts go out, the same for every type: the score they need, digests
    and flood control."""

    min_score: float = setting(NUMBER, 0, "only rules scoring at least this for a story are sent here")
    digest: str = setting(TRIMMED, "", '"": each alert on its own; an interval ("1h") or a cron '
                          'expression ("0 8 * * 1-5", local time): one message per period',
                          check=_cadence)
    flood_limit: int = setting(INTEGER, 50, "more alerts than this within flood_window are sent "
                               "as one digest", check=must(lambda v: v >= 1,
                                                           "must be at least 1, got {value}"))
    flood_window: float = setting(DURATION, "10m", "the window of flood_limit; during a flood, "
                                  "at most one digest per window")


@dataclass(frozen=True, slots=True)
class BaseNotifierConfig:
    """What every [[notifiers]] table has, whatever its type."""

    name: str = setting(STRING, REQUIRED, "the name rules' `notifiers` use")
    _: KW_ONLY
    enabled: bool = setting(BOOLEAN, True, "false: no alert is queued for it")
    delivery: Delivery = embedded(Delivery)


WEBHOOK_FORMATS = ("json", "slack", "discord", "teams", "mattermost")
EMAIL_SECURITY = ("starttls", "tls", "none")


@dataclass(frozen=True, slots=True)
class WebhookConfig(BaseNotifierConfig):
    """``type = "webhook"``."""

    url: str = setting(STRING, "", "where alerts are POSTed (required unless url_env or url_file "
                       "names where it is kept)", check=_http_url_or_unset)
    url_env: str = setting(STRING, "", "or the environment variable holding the URL (a chat "
                           "service's webhook URL is its token)", check=_env_name)
    url_file: str = setting(STRING, "", "or a file holding it; relative: under "
                            "$CREDENTIALS_DIRECTORY")
    headers: tuple[tuple[str, str], ...] = setting(
        HEADERS, {}, "extra headers sent with every request (they cannot replace ours)")
    headers_env: str = setting(STRING, "", "an environment variable holding more headers, one "
                               '"Name: value" a line (for tokens)', check=_env_name)
    headers_file: str = setting(STRING, "", "or a file holding them; relative: under "
                                "$CREDENTIALS_DIRECTORY")
    timeout: float = setting(DURATION, "10s", "deadline of one whole send (connect, request "
                             "and answer)")
    format: str = setting(STRING, "json", "json (docs/webhook.md), slack, discord, teams or "
                          "mattermost", check=one_of(*WEBHOOK_FORMATS))
    secret_env: str = setting(STRING, "", "the environment variable holding a whsec_ secret: "
                              "requests are signed the Standard Webhooks way", check=_env_name)
    secret_file: str = setting(STRING, "", "or a file holding it; relative: under "
                               "$CREDENTIALS_DIRECTORY")


@dataclass(frozen=True, slots=True)
class EmailConfig(BaseNotifierConfig):
    """``type = "email"``."""

    host: str = setting(STRING, REQUIRED, "the SMTP server")
    port: int = setting(INTEGER, DERIVED, "587 with starttls, 465 with tls, 25 with none")
    from_addr: str = setting(STRING, REQUIRED, "the sender's address", check=_address, key="from")
    to: tuple[str, ...] = setting(STRINGS, REQUIRED, "the recipients' addresses", check=_addresses)
    security: str = setting(STRING, "starttls", 'starttls, tls (implicit) or none (a local relay '
                            'only)', check=one_of(*EMAIL_SECURITY))
    username: str = setting(STRING, "", "the SMTP login")
    password_env: str = setting(STRING, "", "the environment variable holding the password")
    password_file: str = setting(STRING, "", "or a file holding it; relative: under "
                                 "$CREDENTIALS_DIRECTORY")
    timeout: float = setting(DURATION, "20s", "deadline of one whole send (connect, login and "
                             "message)")


@dataclass(frozen=True, slots=True)
class AppriseConfig(BaseNotifierConfig):
    """``type = "apprise"``: Apprise URLs, from the file or an environment variable."""

    urls: tuple[str, ...] = setting(STRINGS, [], "Apprise URLs (pip install 'monitor[apprise]')")
    urls_env: str = setting(STRING, "", "an environment variable holding more, separated by "
                            "spaces", check=_env_name)
    urls_file: str = setting(STRING, "", "a file holding more, separated by spaces or lines; "
                             "relative: under $CREDENTIALS_DIRECTORY")


NotifierConfig = WebhookConfig | EmailConfig | AppriseConfig
NOTIFIER_TYPES: dict[str, type[NotifierConfig]] = {
    "webhook": WebhookConfig, "email": EmailConfig, "apprise": AppriseConfig}
NOTIFIER_TYPE = Setting(STRING, REQUIRED, "webhook, email or apprise",
                        check=one_of(*NOTIFIER_TYPES), key="type")


@dataclass(frozen=True, slots=True)
class RuleConfig:
    """One [[rules]] table."""

    name: str = setting(STRING, REQUIRED, "the rule's name, in alerts and listings")
    query: str = setting(STRING, REQUIRED, "what it matches (see README, Rules)")
    min_score: float = setting(NUMBER, 0, "a story is flagged when its score reaches this")
    tags: tuple[str, ...] = setting(STRINGS, [], "tags given to the stories it flags")
    notifiers: tuple[str, ...] = setting(STRINGS, [], "where its alerts go; none: every enabled "
                                         "notifier")
    enabled: bool = setting(BOOLEAN, True, "false: the rule is not run")


MODEL_RULE = "model"  # the rule a story matches when the learned model alone flags it ([model])


@dataclass(frozen=True, slots=True)
class WatchConfig:
    """One [[watch]] table: names an analyst follows (a channel, a competition, a brand). A
    story naming one alerts with the name in its title, when a paired rule flags it."""

    name: str = setting(TRIMMED, REQUIRED, 'shown in the alert\'s title: "[Watch: NAME]"',
                        check=must(bool, "must not be empty"))
    terms: tuple[str, ...] = setting(STRINGS, [], "the names looked for in the title and body, "
                                     "any case, as whole words or phrases ('*' ends a prefix); "
                                     "[]: the watch's name")
    rules: tuple[str, ...] = setting(STRINGS, [], "the rules it pairs with (\"model\": the "
                                     "learned model's); []: every rule")


@dataclass(frozen=True, slots=True)
class ScheduleConfig:
    """[monitor]'s bounds of the adaptive poll interval. A feed's own interval is always inside
    them: the bounds limit what hints, rhythm and backoff may do, not what the user asked for."""

    min_interval: float = setting(DURATION, "5m", "the adaptive interval never goes below this "
                                  "(nor below a feed's own interval)")
    max_interval: float = setting(DURATION, "6h", "nor above this (nor above a feed's own "
                                  "interval); also the longest backoff")
    disable_404_after: float = setting(DURATION, "3d", "a feed answering 404 for this long is "
                                       "disabled")


# -- running as a service: [log], [http], [status], [data] ---------------------------------------

LOG_FORMATS = ("text", "json")
LOG_LEVELS = ("debug", "info", "warning", "error")


@dataclass(frozen=True, slots=True)
class LogConfig:
    format: str = setting(STRING, "text", "log lines on stderr: text or json",
                          check=one_of(*LOG_FORMATS))
    level: str = setting(STRING, "info", "debug, info, warning or error", check=one_of(*LOG_LEVELS))
    summary_every: float = setting(DURATION, "1m", "while feeds are polled, `monitor run` logs "
                                   "a one-line summary of the polls at most this often, and when "
                                   "the next are due")


@dataclass(frozen=True, slots=True)
class HttpConfig:
    enabled: bool = setting(BOOLEAN, False, "serve /healthz and /metrics while `monitor run` runs")
    # Loopback only: the listener has no authentication.
    host: str = setting(STRING, "127.0.0.1", "a loopback address", check=_loopback)
    port: int = setting(INTEGER, 9187, "0 picks a free one", check=must(
        lambda v: 0 <= v <= 65535, "expected a port number (0 picks a free one), got {value}"))


@dataclass(frozen=True, slots=True)
class StatusConfig:
    stale_after: float | None = setting(DURATION, None, "no poll for this long: down; unset: 3 x "
                                        "the longest interval, at least 10 minutes")
    failing_after: float = setting(DURATION, "1h", "a feed failing this long: degraded (every "
                                   "feed: down)")
    pending_after: float = setting(DURATION, "30m", "an alert pending this long: degraded")
    failed_alerts: int = setting(INTEGER, 0, "more failed alerts than this in the last day: "
                                 "degraded", check=must(lambda v: v >= 0, "must be 0 or more"))


@dataclass(frozen=True, slots=True)
class DataConfig:
    retention_days: int = setting(INTEGER, 0, "delete unflagged clippings first seen longer ago, "
                                  "daily; 0 keeps everything", check=must(
                                      lambda v: v >= 0,
                                      "must be 0 (keep everything) or a number of days"))
    keep_flagged: bool = setting(BOOLEAN, True, "false deletes flagged clippings past "
                                 "retention_days too")


def _base_url(value: str) -> str | None:
    if value and (not value.startswith(("http://", "https://")) or "?" in value or "#" in value):
        return f"expected the site's http:// or https:// address, such as https://review.example.org, got {value!r}"
    return None


REVIEW_DATABASE = "monitor"  # the database's name in the review site's URLs


@dataclass(frozen=True, slots=True)
class ReviewConfig:
    """[review]: the review site (`monitor serve`) and the links alerts make to it."""

    base_url: str = setting(TRIMMED, "", 'the review site\'s address as analysts open it, such '
                            'as "https://review.example.org": each alert links to its story\'s '
                            'page there; its host name is also one the site answers to; "": no '
                            "links", check=_base_url)
    host: str = setting(STRING, "127.0.0.1", "the address `monitor serve` listens on; any but "
                        "a loopback address needs a password")
    port: int = setting(INTEGER, 8001, "its port", check=must(
        lambda v: 1 <= v <= 65535, "expected a port number, got {value}"))
    password_env: str = setting(STRING, "", "the environment variable holding the site's "
                                "password: once set, every request needs it (HTTP basic auth, "
                                "any user name, or an Authorization: Bearer header)",
                                check=_env_name)
    password_file: str = setting(STRING, "", "or a file holding it; relative: under "
                                 "$CREDENTIALS_DIRECTORY")

    def story_page(self, story_id: int | None, clipping_id: str) -> str:
        """The page of a clipping's story on the review site (its clipping's page when it has
        no story yet), or "" with no base_url."""
        if not self.base_url:
            return ""
        base = f"{self.base_url.rstrip('/')}/{REVIEW_DATABASE}"
        return (f"{base}/story?id={story_id}" if story_id is not None
                else f"{base}/clipping?id={clipping_id}")


def _probability(value: float) -> str | None:
    return None if 0 <= value <= 1 else f"expected a probability between 0 and 1, got {value:g}"


@dataclass(frozen=True, slots=True)
class ModelConfig:
    enabled: bool = setting(BOOLEAN, False, "give the learned model a say on the rules' verdict "
                            "(README: Rules, The learned model)")
    weights: str = setting(STRING, "", 'the weights file (`monitor rules train --output`), '
                           'relative to the config file\'s folder; "": the one shipped')
    rescue_threshold: float = setting(NUMBER, 0.69, "a story no rule flags is flagged (rule "
                                      "`model`) when the model's probability reaches this; 1: "
                                      "never", check=_probability)
    veto_threshold: float = setting(NUMBER, 0.26, "a story the rules flag is dropped when the "
                                    "model's probability is below this; 0: never",
                                    check=_probability)


@dataclass(frozen=True, slots=True)
class Config:
    """The whole file. Its own settings and ``schedule`` come from [monitor]."""

    path: Path
    database: Path = setting(PATH, "monitor.db", "SQLite file, relative to the config file's folder")
    interval: float = setting(DURATION, "15m", "default poll interval of a feed")
    backlog_max_age: float = setting(DURATION, "48h", "on a feed's first poll, older stories are "
                                     "stored and flagged but not alerted")
    schedule: ScheduleConfig = embedded(ScheduleConfig)
    # One story per event, its updates, and re-checks of flagged stories' pages.
    story_window: float = setting(DURATION, "72h", "reports of one event further apart are two "
                                  "stories (syndicated copies excepted)")
    story_update_window: float | None = setting(
        DURATION_OR_OFF, "6h", 'an alerted story is sent again as an update at most once per '
        'notifier per this; "off": never')
    evidence_rechecks: tuple[float, ...] = setting(
        DURATIONS, ["6h", "1d", "3d"], "when a flagged story's page is fetched again after the "
        "first fetch; []: never")
    fetch: FetchConfig = field(default_factory=FetchConfig)
    feeds: tuple[FeedConfig, ...] = ()
    pages: tuple[PageConfig, ...] = ()  # watched pages ([[pages]]), polled as feeds of kind "page"
    searches: tuple[SearchConfig, ...] = ()  # saved searches ([[searches]])
    notifiers: tuple[NotifierConfig, ...] = ()
    rules: tuple[RuleConfig, ...] = ()
    watch: tuple[WatchConfig, ...] = ()
    terms: dict[str, tuple[str, ...]] = field(default_factory=dict)
    entities: dict[str, tuple[str, ...]] = field(default_factory=dict)
    events: dict[str, str] = field(default_factory=dict)  # [events]: tag -> query
    log: LogConfig = field(default_factory=LogConfig)
    http: HttpConfig = field(default_factory=HttpConfig)
    status: StatusConfig = field(default_factory=StatusConfig)
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    review: ReviewConfig = field(default_factory=ReviewConfig)


# The other tables of config.toml, each read into the Config field of the same name.
TABLES: dict[str, type] = {"fetch": FetchConfig, "log": LogConfig, "http": HttpConfig,
                           "status": StatusConfig, "data": DataConfig,
                           "model": ModelConfig, "review": ReviewConfig}


# -- what one key cannot tell: keys refused outright, rules between keys --------------------------

class _Refused(Exception):
    def __init__(self, key: str, reason: str) -> None:
        super().__init__(reason)
        self.key = key
        self.reason = reason


REFUSED: dict[type, dict[str, str]] = {
    WebhookConfig: {"secret": "never put the signing secret in the config: name the environment "
                    "variable that holds it with secret_env, or a file with secret_file"},
    EmailConfig: {"password": "never put the password in the config: name the environment "
                  "variable that holds it with password_env, or a file with password_file"},
    ReviewConfig: {"password": "never put the password in the config: name the environment "
                   "variable that holds it with password_env, or a file with password_file"},
}


def _schedule(v: dict[str, Any]) -> None:
    if v["min_interval"] > v["max_interval"]:
        raise _Refused("min_interval", "must not be longer than max_interval")


def _fetch(v: dict[str, Any]) -> None:
    if v["total_timeout"] < v["timeout"]:
        raise _Refused("total_timeout", f"must be at least timeout ({v['timeout']:g})")


def _webhook(v: dict[str, Any]) -> None:
    if v["secret_env"] and v["secret_file"]:
        raise _Refused("secret_file", "set secret_env or secret_file, not both")
    given = [key for key in ("url", "url_env", "url_file") if v[key]]
    if not given:
        raise _Refused("url", "is required (or url_env or url_file, naming where it is kept)")
    if len(given) > 1:
        raise _Refused(given[1], f"set one of url, url_env and url_file, not {' and '.join(given)}")
    if v["headers_env"] and v["headers_file"]:
        raise _Refused("headers_file", "set headers_env or headers_file, not both")


def _is_loopback_host(host: str) -> bool:
    if host.strip().lower().rstrip(".") == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip().strip("[]")).is_loopback
    except ValueError:
        return False


def _email(v: dict[str, Any]) -> None:
    if v["port"] is None:
        v["port"] = {"starttls": 587, "tls": 465, "none": 25}[v["security"]]
    if v["password_env"] and v["password_file"]:
        raise _Refused("password_file", "set password_env or password_file, not both")
    if (v["security"] == "none" and (v["username"] or v["password_env"] or v["password_file"])
            and not _is_loopback_host(v["host"])):
        raise _Refused("security", f'"none" would send the SMTP password in clear text to '
                       f'{v["host"]!r}; use starttls or tls (none is for a relay on this '
                       f'machine: 127.0.0.1 or localhost)')


def _apprise(v: dict[str, Any]) -> None:
    if not v["urls"] and not v["urls_env"] and not v["urls_file"]:
        raise _Refused("urls", "give at least one Apprise URL (urls), or the environment "
                       "variable (urls_env) or file (urls_file) that holds them")


def _review(v: dict[str, Any]) -> None:
    if v["password_env"] and v["password_file"]:
        raise _Refused("password_file", "set password_env or password_file, not both")


FINISH: dict[type, Callable[[dict[str, Any]], None]] = {
    ScheduleConfig: _schedule, FetchConfig: _fetch, WebhookConfig: _webhook,
    EmailConfig: _email, AppriseConfig: _apprise, ReviewConfig: _review}


# -- every setting, by the table of config.toml it belongs in ------------------------------------

def _own(cls: type) -> tuple[Setting, ...]:
    return settings_of(cls)[len(settings_of(BaseNotifierConfig)):]


SETTINGS: dict[str, tuple[Setting, ...]] = {
    "monitor": settings_of(Config),
    **{name: settings_of(cls) for name, cls in TABLES.items()},
    "feeds": settings_of(FeedConfig),
    "pages": settings_of(PageConfig),
    "searches": settings_of(SearchConfig),
    "notifiers": (settings_of(BaseNotifierConfig)[0], NOTIFIER_TYPE,
                  *settings_of(BaseNotifierConfig)[1:]),
    **{f"notifiers.{kind}": _own(cls) for kind, cls in NOTIFIER_TYPES.items()},
    "rules": settings_of(RuleConfig),
    "watch": settings_of(WatchConfig),
}


def _shown(value: Any) -> str:
    if isinstance(value, _Marker) or value is None:
        return f"({value or 'unset'})"
    return json.dumps(value, ensure_ascii=False)


def describe() -> Iterator[str]:
    """Every setting with its default and help, as `monitor check-config --defaults` prints them."""
    for table, settings in SETTINGS.items():
        name, _, kind = table.partition(".")
        if name not in ("feeds", "pages", "searches", "notifiers", "rules", "watch"):
            yield f"[{name}]"
        else:
            yield f'[[{name}]]  # type = "{kind}"' if kind else f"[[{name}]]"
        for s in settings:
            yield f"  {s.key} = {_shown(s.default)}  # {s.kind.name}: {s.help}"


# -- reading --------------------------------------------------------------------------------------

class _Table:
    """Reads one TOML table by the settings declared for it, refusing unknown keys."""

    def __init__(self, data: object, path: str, where: str) -> None:
        if not isinstance(data, dict):
            raise ConfigError("expected a table", path=path, key=where)
        self.data = data
        self.path = path
        self.where = where
        self.used: set[str] = set()

    def error(self, key: str, reason: str) -> ConfigError:
        return ConfigError(reason, path=self.path, key=f"{self.where}.{key}" if self.where else key)

    def get(self, key: str, kind: Kind, default: Any) -> Any:
        """A key that is no setting of its own (a sub-table, an array of tables)."""
        self.used.add(key)
        if key not in self.data:
            return default
        try:
            return kind.read(self.data[key])
        except ValueError as e:
            raise self.error(key, str(e)) from None

    def setting(self, s: Setting, default: Any = None) -> Any:
        self.used.add(s.key)
        if s.key not in self.data:
            if s.default is REQUIRED:
                raise self.error(s.key, "is required")
            return default
        try:
            value = s.kind.read(self.data[s.key])
        except ValueError as e:
            raise self.error(s.key, str(e)) from None
        reason = s.check(value) if s.check else None
        if reason:
            raise self.error(s.key, reason)
        return value

    def values(self, cls: type) -> dict[str, Any]:
        """The keyword arguments of ``cls``: its settings and embedded dataclasses."""
        for key, reason in REFUSED.get(cls, {}).items():
            if key in self.data:
                raise self.error(key, reason)
        values: dict[str, Any] = {}
        for f in fields(cls):
            if "setting" in f.metadata:
                spec: Setting = f.metadata["setting"]
                values[f.name] = self.setting(replace(spec, key=spec.key or f.name), _default(f))
            elif "embedded" in f.metadata:
                values[f.name] = self.read(f.metadata["embedded"])
        finish = FINISH.get(cls)
        try:
            if finish is not None:
                finish(values)
        except _Refused as e:
            raise self.error(e.key, e.reason) from None
        return values

    def read(self, cls: type[T]) -> T:
        return cls(**self.values(cls))

    def done(self) -> None:
        unknown = sorted(set(self.data) - self.used)
        if unknown:
            raise self.error(unknown[0], "unknown key (check its spelling)")


def _default(f: Field[Any]) -> Any:
    return None if f.default is MISSING else f.default


def _one(cls: type[T], data: object, path: str, where: str) -> T:
    t = _Table(data, path, where)
    item = t.read(cls)
    t.done()
    return item


def _notifier(data: object, path: str, where: str) -> NotifierConfig:
    t = _Table(data, path, where)
    cls = NOTIFIER_TYPES[t.setting(NOTIFIER_TYPE)]
    notifier = t.read(cls)
    t.done()
    return notifier


def _string_lists(data: object, path: str, where: str) -> dict[str, tuple[str, ...]]:
    """[terms] and [entities]: every key is a name the user chose, holding a list of strings."""
    t = _Table(data, path, where)
    return {name: t.setting(Setting(STRINGS, [], "", key=name)) for name in t.data}


def _queries(data: object, path: str, where: str) -> dict[str, str]:
    """[events]: every key is an event tag, holding a query."""
    t = _Table(data, path, where)
    return {name: t.setting(Setting(STRING, REQUIRED, "", key=name)) for name in t.data}


def _unique(items: Sequence[Any], attr: str, path: str, where: str) -> None:
    seen: set[str] = set()
    for i, item in enumerate(items):
        value = getattr(item, attr)
        if value in seen:
            raise ConfigError(f"duplicate {attr} {value!r}", path=path, key=f"{where}[{i}].{attr}")
        seen.add(value)


def parse_config(text: str, path: Path) -> Config:
    """Validate the text of a config file (pure: no file is read)."""
    shown = str(path)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"not valid TOML: {e}", path=shown) from e
    top = _Table(data, shown, "")
    monitor = _Table(top.get("monitor", TABLE, {}), shown, "monitor")
    own = monitor.values(Config)
    monitor.done()
    tables: dict[str, Any] = {name: _one(cls, top.get(name, TABLE, {}), shown, name)
              for name, cls in TABLES.items()}

    def array(key: str) -> list[Any]:
        value: list[Any] = top.get(key, ARRAY, [])
        return value

    feeds = tuple(_one(FeedConfig, d, shown, f"feeds[{i}]") for i, d in enumerate(array("feeds")))
    _unique(feeds, "url", shown, "feeds")
    pages = tuple(_one(PageConfig, d, shown, f"pages[{i}]") for i, d in enumerate(array("pages")))
    _unique(pages, "url", shown, "pages")
    feed_urls = {f.url for f in feeds}
    for i, page in enumerate(pages):
        if page.url in feed_urls:
            raise ConfigError("this URL is in [[feeds]] too: a feed or a page, not both",
                              path=shown, key=f"pages[{i}].url")
    searches = tuple(_one(SearchConfig, d, shown, f"searches[{i}]")
                     for i, d in enumerate(array("searches")))
    _unique(searches, "query", shown, "searches")
    notifiers = tuple(_notifier(d, shown, f"notifiers[{i}]")
                      for i, d in enumerate(array("notifiers")))
    _unique(notifiers, "name", shown, "notifiers")
    rules = tuple(_one(RuleConfig, d, shown, f"rules[{i}]") for i, d in enumerate(array("rules")))
    _unique(rules, "name", shown, "rules")
    names = {n.name for n in notifiers}
    for i, rule in enumerate(rules):
        for target in rule.notifiers:
            if target not in names:
                raise ConfigError(f"no notifier named {target!r}", path=shown,
                                  key=f"rules[{i}].notifiers")
    watch = tuple(_one(WatchConfig, d, shown, f"watch[{i}]") for i, d in enumerate(array("watch")))
    _unique(watch, "name", shown, "watch")
    rule_names = {r.name for r in rules} | {MODEL_RULE}
    for i, w in enumerate(watch):
        for name in w.rules:
            if name not in rule_names:
                known = ", ".join(sorted(rule_names))
                raise ConfigError(f"no rule named {name!r} (expected one of {known})",
                                  path=shown, key=f"watch[{i}].rules")
    terms = _string_lists(top.get("terms", TABLE, {}), shown, "terms")
    entities = _string_lists(top.get("entities", TABLE, {}), shown, "entities")
    events = _queries(top.get("events", TABLE, {}), shown, "events")
    top.done()
    if not own["database"].is_absolute():
        own["database"] = path.parent / own["database"]
    return Config(path=path, feeds=feeds, pages=pages, searches=searches, notifiers=notifiers,
                  rules=rules, watch=watch, terms=terms, entities=entities, events=events, **own,
                  **tables)


def default_config_path() -> Path:
    return Path(os.environ.get("MONITOR_CONFIG") or "config.toml")


def load_config(path: Path | None = None) -> Config:
    path = Path(path) if path is not None else default_config_path()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError("no such file (pass --config PATH or set MONITOR_CONFIG)", path=str(path)) from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"cannot read: {e}", path=str(path)) from e
    return parse_config(text, path.resolve())
