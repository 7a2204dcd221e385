"""Configuration: config.toml -> load_config() -> a frozen Config.

Every key is declared once here, with its default; a bad file raises ConfigError
naming the file, the key and the reason.
"""

from __future__ import annotations

import ipaddress
import os
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from monitor.units import parse_cadence
from monitor.errors import ConfigError
from monitor.models import RuleConfig


@dataclass(frozen=True, slots=True)
class FetchConfig:
    timeout: float = 20.0
    max_bytes: int = 5_000_000
    user_agent: str = ""  # empty: "monitor/<version> (+project url)"
    allow_private_networks: bool = False
    max_redirects: int = 5
    fetch_pages: bool = True
    # issue 5: a deadline on the whole request (a server sending a byte a second must not hold a
    # feed forever), and concurrency limits so that one slow host can't hold the rest.
    total_timeout: float = 60.0
    concurrency: int = 20
    per_host: int = 2


@dataclass(frozen=True, slots=True)
class FeedConfig:
    url: str
    name: str = ""
    interval: float | None = None  # seconds; None: [monitor] interval
    enabled: bool = True
    backlog_max_age: float | None = None  # seconds; None: [monitor] backlog_max_age (issue 4)


@dataclass(frozen=True, slots=True)
class WebhookConfig:
    name: str
    url: str
    enabled: bool = True
    headers: tuple[tuple[str, str], ...] = ()
    timeout: float = 10.0
    format: str = "json"  # json, slack, discord, teams, mattermost
    secret_env: str = ""  # name of the environment variable holding the whsec_ signing secret
    secret_file: str = ""  # or a file holding it; relative: under $CREDENTIALS_DIRECTORY
    # Issue 4: routing threshold, digests and flood control, the same for every type.
    min_score: float = 0.0
    digest: str = ""  # "" (each alert on its own), an interval ("1h") or a cron expression
    flood_limit: int = 50
    flood_window: float = 600.0


@dataclass(frozen=True, slots=True)
class EmailConfig:
    name: str
    host: str
    port: int
    from_addr: str  # the `from` key
    to: tuple[str, ...]
    enabled: bool = True
    security: str = "starttls"  # "starttls", "tls" or "none"
    username: str = ""
    password_env: str = ""  # name of the environment variable that holds the password
    timeout: float = 20.0
    password_file: str = ""  # a file holding the password; relative: under $CREDENTIALS_DIRECTORY
    # Issue 4: routing threshold, digests and flood control, the same for every type.
    min_score: float = 0.0
    digest: str = ""  # "" (each alert on its own), an interval ("1h") or a cron expression
    flood_limit: int = 50
    flood_window: float = 600.0


@dataclass(frozen=True, slots=True)
class AppriseConfig:
    """``type = "apprise"`` (issue 4): Apprise URLs, from the file or an environment variable."""

    name: str
    urls: tuple[str, ...] = ()
    urls_env: str = ""  # name of an environment variable holding URLs, separated by spaces
    enabled: bool = True
    # Issue 4: routing threshold, digests and flood control, the same for every type.
    min_score: float = 0.0
    digest: str = ""  # "" (each alert on its own), an interval ("1h") or a cron expression
    flood_limit: int = 50
    flood_window: float = 600.0


NotifierConfig = WebhookConfig | EmailConfig | AppriseConfig


@dataclass(frozen=True, slots=True)
class ScheduleConfig:
    """Bounds of the adaptive poll interval (issue 5). A feed's own interval is always inside
    them: the bounds limit what hints, rhythm and backoff may do, not what the user asked for."""

    min_interval: float = 300.0
    max_interval: float = 21600.0
    disable_404_after: float = 3 * 86400.0


# -- running as a service (issue 7): [log], [http], [status], [data] -------------------------

@dataclass(frozen=True, slots=True)
class LogConfig:
    format: str = "text"  # "text" or "json"
    level: str = "info"   # "debug", "info", "warning", "error"


@dataclass(frozen=True, slots=True)
class HttpConfig:
    enabled: bool = False
    host: str = "127.0.0.1"  # loopback only: the listener has no authentication
    port: int = 9187


@dataclass(frozen=True, slots=True)
class StatusConfig:
    stale_after: float | None = None  # seconds without a poll -> down; None: 3 x longest interval
    failing_after: float = 3600.0     # a feed failing this long -> degraded
    pending_after: float = 1800.0     # an alert pending this long -> degraded
    failed_alerts: int = 0            # more failed alerts than this in a day -> degraded


@dataclass(frozen=True, slots=True)
class DataConfig:
    retention_days: int = 0  # 0: keep every clipping
    keep_flagged: bool = True


@dataclass(frozen=True, slots=True)
class Config:
    path: Path
    database: Path
    interval: float = 900.0
    backlog_max_age: float = 172800.0  # 48 h (issue 4)
    fetch: FetchConfig = field(default_factory=FetchConfig)
    feeds: tuple[FeedConfig, ...] = ()
    notifiers: tuple[NotifierConfig, ...] = ()
    rules: tuple[RuleConfig, ...] = ()
    terms: dict[str, tuple[str, ...]] = field(default_factory=dict)
    entities: dict[str, tuple[str, ...]] = field(default_factory=dict)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    log: LogConfig = field(default_factory=LogConfig)
    http: HttpConfig = field(default_factory=HttpConfig)
    status: StatusConfig = field(default_factory=StatusConfig)
    data: DataConfig = field(default_factory=DataConfig)
    # Issue 6: one story per event, its updates, and re-checks of flagged stories' pages.
    story_window: float = 259200.0  # 72 h: reports of one event further apart are two stories
    story_update_window: float | None = 21600.0  # 6 h; None ("off"): no update alerts
    evidence_rechecks: tuple[float, ...] = (21600.0, 86400.0, 259200.0)  # 6 h, 1 d, 3 d


DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
NOTIFIER_TYPES = ("webhook", "email", "apprise")
LOG_FORMATS = ("text", "json")
LOG_LEVELS = ("debug", "info", "warning", "error")
WEBHOOK_FORMATS = ("json", "slack", "discord", "teams", "mattermost")
EMAIL_SECURITY = ("starttls", "tls", "none")


def parse_duration(value: object) -> float:
    """ "90s", "15m", "2h", "1d", or a number of seconds -> seconds."""
    if isinstance(value, bool):
        raise ValueError("expected a duration such as \"15m\"")
    if isinstance(value, (int, float)):
        seconds = float(value)
    elif isinstance(value, str) and value.strip():
        text = value.strip().lower()
        unit = text[-1]
        number = text[:-1] if unit in DURATION_UNITS else text
        try:
            seconds = float(number) * DURATION_UNITS.get(unit, 1)
        except ValueError:
            raise ValueError(f"expected a duration such as \"15m\", got {value!r}") from None
    else:
        raise ValueError(f"expected a duration such as \"15m\", got {value!r}")
    if seconds <= 0:
        raise ValueError(f"a duration must be positive, got {value!r}")
    return seconds


class _Table:
    """Reads one TOML table, checking each key's type and refusing unknown keys."""

    def __init__(self, data: object, path: str, where: str) -> None:
        if not isinstance(data, dict):
            raise ConfigError("expected a table", path=path, key=where)
        self.data = data
        self.path = path
        self.where = where
        self.used: set[str] = set()

    def _key(self, key: str) -> str:
        return f"{self.where}.{key}" if self.where else key

    def error(self, key: str, reason: str) -> ConfigError:
        return ConfigError(reason, path=self.path, key=self._key(key))

    def get(self, key: str, kind: type | tuple[type, ...], default: object = None,
            required: bool = False) -> Any:
        self.used.add(key)
        if key not in self.data:
            if required:
                raise self.error(key, "is required")
            return default
        value = self.data[key]
        kinds = kind if isinstance(kind, tuple) else (kind,)
        # TOML booleans are ints to Python; never accept one for the other.
        if isinstance(value, bool) and bool not in kinds or not isinstance(value, kinds):
            names = " or ".join(k.__name__.replace("str", "string").replace("int", "integer")
                                for k in kinds)
            raise self.error(key, f"expected {names}, got {type(value).__name__} {value!r}")
        return value

    def string_list(self, key: str, required: bool = False) -> tuple[str, ...]:
        value = self.get(key, list, [], required)
        if not all(isinstance(v, str) for v in value):
            raise self.error(key, "expected a list of strings")
        return tuple(value)

    def duration(self, key: str, default: float | None) -> float | None:
        value = self.get(key, (str, int, float), None)
        if value is None:
            return default
        try:
            return parse_duration(value)
        except ValueError as e:
            raise self.error(key, str(e)) from None

    def done(self) -> None:
        unknown = sorted(set(self.data) - self.used)
        if unknown:
            raise self.error(unknown[0], "unknown key (check its spelling)")


def _string_lists(data: object, path: str, where: str) -> dict[str, tuple[str, ...]]:
    table = _Table(data, path, where)
    lists = {}
    for name in table.data:
        lists[name] = table.string_list(name)
    return lists


def _feed(data: object, path: str, where: str) -> FeedConfig:
    t = _Table(data, path, where)
    url = t.get("url", str, required=True).strip()
    if not url.startswith(("http://", "https://")):
        raise t.error("url", f"expected an http:// or https:// URL, got {url!r}")
    feed = FeedConfig(url=url, name=t.get("name", str, ""), interval=t.duration("interval", None),
                      enabled=t.get("enabled", bool, True),
                      backlog_max_age=t.duration("backlog_max_age", None))
    t.done()
    return feed


def _delivery(t: _Table) -> dict[str, Any]:
    """The keys every notifier type has (issue 4): min_score, digest, flood_limit, flood_window."""
    digest = t.get("digest", str, "").strip()
    if digest:
        try:
            parse_cadence(digest)
        except ValueError as e:
            raise t.error("digest", str(e)) from None
    flood_limit = t.get("flood_limit", int, 50)
    if flood_limit < 1:
        raise t.error("flood_limit", f"must be at least 1, got {flood_limit}")
    return {"min_score": float(t.get("min_score", (int, float), 0.0)), "digest": digest,
            "flood_limit": flood_limit, "flood_window": t.duration("flood_window", 600.0) or 600.0}


def _env_name(t: _Table, key: str) -> str:
    name = t.get(key, str, "")
    if name and not name.replace("_", "").isalnum():
        raise t.error(key, f"expected the NAME of an environment variable, such as "
                      f"MONITOR_SECRET, got {name!r}")
    return name


def _notifier(data: object, path: str, where: str) -> NotifierConfig:
    t = _Table(data, path, where)
    name = t.get("name", str, required=True)
    kind = t.get("type", str, required=True)
    enabled = t.get("enabled", bool, True)
    notifier: NotifierConfig
    if kind == "webhook":
        url = t.get("url", str, required=True)
        if not url.startswith(("http://", "https://")):
            raise t.error("url", f"expected an http:// or https:// URL, got {url!r}")
        headers = t.get("headers", dict, {})
        if not all(isinstance(v, str) for v in headers.values()):
            raise t.error("headers", "expected a table of strings")
        fmt = t.get("format", str, "json")
        if fmt not in WEBHOOK_FORMATS:
            raise t.error("format", f"expected one of {', '.join(WEBHOOK_FORMATS)}, got {fmt!r}")
        if "secret" in t.data:
            raise t.error("secret", "never put the signing secret in the config: name the "
                          "environment variable that holds it with secret_env, or a file "
                          "with secret_file")
        secret_env = _env_name(t, "secret_env")
        secret_file = t.get("secret_file", str, "")
        if secret_env and secret_file:
            raise t.error("secret_file", "set secret_env or secret_file, not both")
        notifier = WebhookConfig(name=name, url=url, enabled=enabled,
                                 headers=tuple(headers.items()),
                                 timeout=t.duration("timeout", 10.0) or 10.0, format=fmt,
                                 secret_env=secret_env, secret_file=secret_file,
                                 **_delivery(t))
    elif kind == "email":
        security = t.get("security", str, "starttls")
        if security not in EMAIL_SECURITY:
            raise t.error("security", f"expected one of {', '.join(EMAIL_SECURITY)}, got {security!r}")
        port = t.get("port", int, {"starttls": 587, "tls": 465, "none": 25}[security])
        to = t.string_list("to", required=True)
        if not to:
            raise t.error("to", "needs at least one address")
        for key, addresses in (("from", [t.get("from", str, required=True)]), ("to", to)):
            for address in addresses:
                if "@" not in address or any(c in address for c in "\r\n\t <>,;"):
                    raise t.error(key, f"expected a plain e-mail address such as "
                                  f"analyst@example.org, got {address!r}")
        if "password" in t.data:
            raise t.error("password", "never put the password in the config: name the environment "
                          "variable that holds it with password_env, or a file with password_file")
        password_env = t.get("password_env", str, "")
        password_file = t.get("password_file", str, "")
        if password_env and password_file:
            raise t.error("password_file", "set password_env or password_file, not both")
        notifier = EmailConfig(name=name, host=t.get("host", str, required=True), port=port,
                               from_addr=t.get("from", str, required=True), to=to,
                               enabled=enabled, security=security,
                               username=t.get("username", str, ""),
                               password_env=password_env, password_file=password_file,
                               timeout=t.duration("timeout", 20.0) or 20.0, **_delivery(t))
    elif kind == "apprise":
        urls = t.string_list("urls")
        urls_env = _env_name(t, "urls_env")
        if not urls and not urls_env:
            raise t.error("urls", "give at least one Apprise URL (urls), or the environment "
                          "variable that holds them (urls_env)")
        notifier = AppriseConfig(name=name, urls=urls, urls_env=urls_env, enabled=enabled,
                                 **_delivery(t))
    else:
        raise t.error("type", f"expected one of {', '.join(NOTIFIER_TYPES)}, got {kind!r}")
    t.done()
    return notifier


def _rule(data: object, path: str, where: str) -> RuleConfig:
    t = _Table(data, path, where)
    min_score = t.get("min_score", (int, float), 0.0)
    rule = RuleConfig(name=t.get("name", str, required=True), query=t.get("query", str, required=True),
                      min_score=float(min_score), tags=t.string_list("tags"),
                      notifiers=t.string_list("notifiers"), enabled=t.get("enabled", bool, True))
    t.done()
    return rule


def _review_settings(t: _Table) -> dict[str, Any]:
    """Issue 6 keys of [monitor]: story_window, story_update_window ("off": no update alerts),
    evidence_rechecks (a list of delays after the first fetch; [] turns re-checks off)."""
    window = t.duration("story_window", 259200.0) or 259200.0
    raw = t.get("story_update_window", (str, int, float), "6h")
    if isinstance(raw, str) and raw.strip().lower() in ("off", "none", "no"):
        update_window = None
    else:
        update_window = t.duration("story_update_window", 21600.0)
    delays = t.get("evidence_rechecks", list, ["6h", "1d", "3d"])
    rechecks = []
    for value in delays:
        try:
            rechecks.append(parse_duration(value))
        except ValueError as e:
            raise t.error("evidence_rechecks", str(e)) from None
    return {"story_window": window, "story_update_window": update_window,
            "evidence_rechecks": tuple(sorted(rechecks))}


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
    monitor = _Table(top.get("monitor", dict, {}), shown, "monitor")
    database = Path(monitor.get("database", str, "monitor.db"))
    interval = monitor.duration("interval", 900.0) or 900.0
    backlog_max_age = monitor.duration("backlog_max_age", 172800.0) or 172800.0
    schedule = ScheduleConfig(
        min_interval=monitor.duration("min_interval", 300.0) or 300.0,
        max_interval=monitor.duration("max_interval", 21600.0) or 21600.0,
        disable_404_after=monitor.duration("disable_404_after", 3 * 86400.0) or 3 * 86400.0)
    if schedule.min_interval > schedule.max_interval:
        raise monitor.error("min_interval", "must not be longer than max_interval")
    review = _review_settings(monitor)
    monitor.done()

    f = _Table(top.get("fetch", dict, {}), shown, "fetch")
    fetch = FetchConfig(
        timeout=float(f.get("timeout", (int, float), 20.0)),
        max_bytes=f.get("max_bytes", int, 5_000_000),
        user_agent=f.get("user_agent", str, ""),
        allow_private_networks=f.get("allow_private_networks", bool, False),
        max_redirects=f.get("max_redirects", int, 5),
        fetch_pages=f.get("fetch_pages", bool, True),
        total_timeout=float(f.get("total_timeout", (int, float), 60.0)),
        concurrency=f.get("concurrency", int, 20),
        per_host=f.get("per_host", int, 2),
    )
    if fetch.timeout <= 0:
        raise f.error("timeout", "must be positive")
    if fetch.total_timeout < fetch.timeout:
        raise f.error("total_timeout", f"must be at least timeout ({fetch.timeout:g})")
    for key in ("concurrency", "per_host"):
        if getattr(fetch, key) < 1:
            raise f.error(key, "must be at least 1")
    if fetch.max_bytes < 1024:
        raise f.error("max_bytes", "must be at least 1024")
    f.done()

    def array(key: str) -> list[Any]:
        value = top.get(key, list, [])
        return value if isinstance(value, list) else []

    feeds = tuple(_feed(d, shown, f"feeds[{i}]") for i, d in enumerate(array("feeds")))
    _unique(feeds, "url", shown, "feeds")
    notifiers = tuple(_notifier(d, shown, f"notifiers[{i}]") for i, d in enumerate(array("notifiers")))
    _unique(notifiers, "name", shown, "notifiers")
    rules = tuple(_rule(d, shown, f"rules[{i}]") for i, d in enumerate(array("rules")))
    _unique(rules, "name", shown, "rules")
    names = {n.name for n in notifiers}
    for i, rule in enumerate(rules):
        for target in rule.notifiers:
            if target not in names:
                raise ConfigError(f"no notifier named {target!r}", path=shown,
                                  key=f"rules[{i}].notifiers")
    terms = _string_lists(top.get("terms", dict, {}), shown, "terms")
    entities = _string_lists(top.get("entities", dict, {}), shown, "entities")
    service = _service_tables(top, shown)
    top.done()
    if not database.is_absolute():
        database = path.parent / database
    return Config(path=path, database=database, interval=interval,
                  backlog_max_age=backlog_max_age, fetch=fetch, feeds=feeds,
                  notifiers=notifiers, rules=rules, terms=terms, entities=entities,
                  schedule=schedule, **service, **review)


def _service_tables(top: _Table, shown: str) -> dict[str, Any]:
    """[log], [http], [status] and [data]: how the daemon runs as a service (issue 7)."""

    t = _Table(top.get("log", dict, {}), shown, "log")
    log = LogConfig(format=t.get("format", str, "text"), level=t.get("level", str, "info"))
    if log.format not in LOG_FORMATS:
        raise t.error("format", f"expected one of {', '.join(LOG_FORMATS)}, got {log.format!r}")
    if log.level not in LOG_LEVELS:
        raise t.error("level", f"expected one of {', '.join(LOG_LEVELS)}, got {log.level!r}")
    t.done()

    t = _Table(top.get("http", dict, {}), shown, "http")
    http = HttpConfig(enabled=t.get("enabled", bool, False), host=t.get("host", str, "127.0.0.1"),
                      port=t.get("port", int, 9187))
    try:
        loopback = ipaddress.ip_address(http.host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise t.error("host", f"expected a loopback address such as 127.0.0.1 (the listener has "
                      f"no authentication; put a proxy in front to expose it), got {http.host!r}")
    if not 0 <= http.port <= 65535:
        raise t.error("port", f"expected a port number (0 picks a free one), got {http.port}")
    t.done()

    t = _Table(top.get("status", dict, {}), shown, "status")
    status = StatusConfig(stale_after=t.duration("stale_after", None),
                          failing_after=t.duration("failing_after", 3600.0) or 3600.0,
                          pending_after=t.duration("pending_after", 1800.0) or 1800.0,
                          failed_alerts=t.get("failed_alerts", int, 0))
    if status.failed_alerts < 0:
        raise t.error("failed_alerts", "must be 0 or more")
    t.done()

    t = _Table(top.get("data", dict, {}), shown, "data")
    data = DataConfig(retention_days=t.get("retention_days", int, 0),
                      keep_flagged=t.get("keep_flagged", bool, True))
    if data.retention_days < 0:
        raise t.error("retention_days", "must be 0 (keep everything) or a number of days")
    t.done()
    return {"log": log, "http": http, "status": status, "data": data}


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
