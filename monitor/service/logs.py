"""Logging: one line per event on stderr, readable text or JSON, with journald priorities.

``setup()`` installs the one handler (at start, from the command line); ``configure()`` applies
``[log]`` once the config is read. Every line passes through the redactor, which replaces the
values of the configured secrets (SMTP password, webhook secrets and tokens, systemd
credentials) so that no secret reaches a log, whatever a library or an exception puts in it.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import re
import sys
import time
from collections.abc import Iterable
from dataclasses import fields
from pathlib import Path
from typing import TYPE_CHECKING, TextIO
from urllib.parse import parse_qsl, urlsplit

from monitor.config import LOG_FORMATS, LOG_LEVELS
from monitor.safetext import escape, mask_credentials, unsafe
from monitor.service.systemd import journald_stream

if TYPE_CHECKING:
    from monitor.config import Config

LEVELS = {name: getattr(logging, name.upper()) for name in LOG_LEVELS}
FORMATS = LOG_FORMATS
# syslog priorities, which journald reads from a "<N>" line prefix (sd-daemon.h).
PRIORITIES = ((logging.CRITICAL, 2), (logging.ERROR, 3), (logging.WARNING, 4), (logging.INFO, 6))
# Libraries that say too much at INFO: kept at WARNING unless the level is debug.
NOISY = ("httpx", "httpcore", "apscheduler", "trafilatura", "htmldate", "charset_normalizer")
MIN_SECRET = 4  # shorter values cannot be masked without mangling ordinary words
REDACTED = "[redacted]"
SECRET_HEADER = re.compile(r"auth|token|key|secret|signature|password|cookie", re.IGNORECASE)
# Every unsafe character of safetext but the tab (harmless within a line).
_CONTROLS = unsafe(keep="\t")


def priority(levelno: int) -> int:
    for threshold, value in PRIORITIES:
        if levelno >= threshold:
            return value
    return 7  # debug


def _escaped(char: str) -> str:
    code = ord(char)
    return {"\n": "\\n", "\r": "\\r"}.get(char) or (f"\\x{code:02x}" if code < 0x100
                                                      else f"\\u{code:04x}")


def one_line(text: str) -> str:
    """Newlines and other control characters escaped, so a feed's title can neither break a
    line in two (U+2028 and U+0085 are line breaks to some readers), forge a second log entry,
    drive the terminal that shows the log, nor reorder the line with a bidi override."""
    return _CONTROLS.sub(lambda m: _escaped(m.group()), text)


class Redactor:
    """Replaces known secret values in text."""

    def __init__(self) -> None:
        self.secrets: set[str] = set()

    def add(self, values: Iterable[str]) -> None:
        self.secrets.update(v for v in values if len(v) >= MIN_SECRET)

    def __call__(self, text: str) -> str:
        # Longest first, so a secret containing another is masked whole.
        for secret in sorted(self.secrets, key=len, reverse=True):
            if secret in text:
                text = text.replace(secret, REDACTED)
        return text


REDACTOR = Redactor()


class LineFormatter(logging.Formatter):
    """One line per record: ``text`` ("2025-05-01 08:00:00 INFO message") or ``json``; under
    journald, a "<N>" priority prefix and no timestamp in text (the journal adds its own)."""

    def __init__(self, kind: str = "text", *, journald: bool = False,
                 redactor: Redactor = REDACTOR) -> None:
        super().__init__()
        self.kind = kind
        self.journald = journald
        self.redact = redactor

    def format(self, record: logging.LogRecord) -> str:
        # A feed's URL may carry user:password@, whoever logs it.
        message = mask_credentials(self.redact(record.getMessage()))
        exception = ""
        if record.exc_info:
            exception = mask_credentials(self.redact(self.formatException(record.exc_info)))
        elif record.exc_text:
            exception = mask_credentials(self.redact(record.exc_text))
        if self.kind == "json":
            entry: dict[str, object] = {
                "time": dt.datetime.fromtimestamp(record.created, dt.timezone.utc)
                .isoformat(timespec="milliseconds").replace("+00:00", "Z"),
                "level": record.levelname.lower(), "logger": record.name, "message": message}
            if exception:
                entry["exception"] = exception
            # json.dumps keeps C1, bidi and U+2028 raw: escaped the JSON way, the same string.
            line = escape(json.dumps(entry, ensure_ascii=False))
        else:
            line = f"{record.levelname} {one_line(message)}"
            if exception:
                line += f" | {one_line(exception)}"
            if not self.journald:
                line = time.strftime("%Y-%m-%d %H:%M:%S ", time.localtime(record.created)) + line
        if self.journald:
            line = f"<{priority(record.levelno)}>{line}"
        return line


_handler: logging.Handler | None = None


def setup(kind: str = "text", level: str = "info", stream: TextIO | None = None) -> None:
    """Install the one stderr handler on the root logger (again: replace it)."""
    global _handler
    root = logging.getLogger()
    if _handler is not None:
        root.removeHandler(_handler)
    stream = stream or sys.stderr
    try:
        fd = stream.fileno()
    except (AttributeError, OSError, ValueError):
        fd = -1
    _handler = logging.StreamHandler(stream)
    _handler.setFormatter(LineFormatter(kind, journald=fd >= 0 and journald_stream(fd=fd)))
    root.addHandler(_handler)
    root.setLevel(LEVELS[level])
    for name in NOISY:
        logging.getLogger(name).setLevel(logging.DEBUG if level == "debug" else logging.WARNING)


def secrets_of(config: Config, env: dict[str, str] | None = None) -> set[str]:
    """The secret values a config refers to: the values of the environment variables named by
    ``*_env`` keys, the contents of ``*_file`` keys, secret-looking webhook headers and every
    header kept in headers_env or headers_file, the tokens in webhook and Apprise URLs (wherever
    the URL is kept), feed passwords, and every systemd credential (``$CREDENTIALS_DIRECTORY``)."""
    env = dict(os.environ) if env is None else env
    found: set[str] = set()
    credentials = env.get("CREDENTIALS_DIRECTORY")

    def read(path: str) -> str | None:
        where = Path(os.path.expandvars(path))
        if not where.is_absolute() and credentials:
            where = Path(credentials) / where
        try:
            text = where.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            return None
        found.update({text, text.strip()})
        return text

    for notifier in config.notifiers:
        for f in fields(notifier):
            value = getattr(notifier, f.name)
            if not isinstance(value, str) or not value:
                continue
            if f.name.endswith("_env"):
                held: str | None = env.get(value) or ""
                found.add(held or "")
            elif f.name.endswith("_file"):
                held = read(value)
            elif f.name == "url":
                held = value
            else:
                continue
            kind = f.name.rpartition("_")[0] if f.name.endswith(("_env", "_file")) else f.name
            if held and kind in ("url", "urls"):
                for url in held.split():
                    found.update(url_secrets(url))
            elif held and kind == "headers":
                for line in held.splitlines():
                    header = line.partition(":")[2].strip()
                    found.add(header)
                    found.update(header.split()[1:])
        for url in getattr(notifier, "urls", ()):
            found.update(url_secrets(url))
        for name, value in getattr(notifier, "headers", ()):
            if SECRET_HEADER.search(name):
                found.add(value)
                found.update(value.split()[1:])  # "Bearer <token>": the token alone too
    for feed in config.feeds:  # http://user:password@host/feed
        found.add(_password(feed.url))
    if credentials and Path(credentials).is_dir():
        for path in Path(credentials).iterdir():
            read(str(path))
    return {s for s in found if len(s) >= MIN_SECRET}


_PIECES = re.compile(r"[/:@.?&=#]+")


def url_secrets(url: str) -> set[str]:
    """What of a webhook or Apprise URL is a secret: the whole URL, its password, its
    query values, and the pieces of its host and path that look like tokens (long, or with
    digits: a Slack or Discord webhook's path, a Telegram bot's token), not words like "hooks"."""
    try:
        parts = urlsplit(url)
        user, password = parts.username or "", parts.password or ""
    except ValueError:
        return {url}
    # A user name beside a password is a name; alone, services put a token there.
    found = {url, password or user, *(v for _, v in parse_qsl(parts.query))}
    for piece in _PIECES.split(f"{parts.netloc.rpartition('@')[2]}/{parts.path}"):
        if len(piece) >= 20 or len(piece) >= 8 and any(c.isdigit() for c in piece):
            found.add(piece)
    return found


def _password(url: str) -> str:
    try:
        return urlsplit(url).password or ""
    except ValueError:
        return ""


_command_line: dict[str, object] = {"kind": None, "verbose": False}


def start(kind: str | None = None, verbose: bool = False) -> None:
    """Logging from the command line's --log-format and -v, before any config is read."""
    _command_line.update(kind=kind, verbose=verbose)
    setup(kind or "text", "debug" if verbose else "info")


def configure(config: Config) -> None:
    """Learn the config's secrets and apply its ``[log]`` table; the command line's choices
    win. Called at every config load, so a reload (SIGHUP) applies a changed [log] too."""
    REDACTOR.add(secrets_of(config))
    kind = str(_command_line["kind"] or config.log.format)
    setup(kind, "debug" if _command_line["verbose"] else config.log.level)
