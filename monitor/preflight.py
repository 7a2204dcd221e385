"""What a valid config.toml can still get wrong before anything runs: Config, the environment and
the folder of systemd credentials -> [Problem]. Errors are what will surely fail (a secret that
is not there, a rule whose alerts go nowhere); warnings are what is likely a mistake (a notifier
that gets nothing). `monitor check-config`, `monitor run` and the daemon's reload read them.

Reads the secret files it is given (to know they can be read), never their content into a
message, and never os.environ: the caller passes the environment, so tests need none.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Literal

from monitor.config import (AppriseConfig, Config, EmailConfig, NotifierConfig, WebhookConfig,
                            parse_header_lines)
from monitor.errors import ConfigError

Severity = Literal["error", "warning"]


@dataclass(frozen=True, slots=True)
class Problem:
    """One finding: ``key`` as config.toml spells it (``notifiers[1].secret_env``)."""

    severity: Severity
    path: str
    key: str
    message: str

    @property
    def is_error(self) -> bool:
        return self.severity == "error"

    def __str__(self) -> str:
        return f"{self.path}: {self.key}: {self.message}"


class ConfigProblems(ConfigError):
    """A config that would surely fail: ``problems`` are its errors, each on its own line."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("; ".join(str(p) for p in problems))


def config_problems(config: Config, environ: Mapping[str, str],
                    credentials_dir: str | None) -> list[Problem]:
    """Every problem of ``config`` in this environment, errors first. ``credentials_dir`` is
    $CREDENTIALS_DIRECTORY, where relative secret file names are read (notify/credentials.py)."""
    found: list[Problem] = []
    path = str(config.path)

    def problem(severity: Severity, key: str, message: str) -> None:
        found.append(Problem(severity, path, key, message))

    for i, notifier in enumerate(config.notifiers):
        if notifier.enabled:
            for key, message in _secrets(notifier, environ, credentials_dir):
                problem("error", f"notifiers[{i}].{key}", message)
            for key, message in _unused_secrets(notifier):
                problem("warning", f"notifiers[{i}].{key}", message)

    known = {n.name: n for n in config.notifiers}
    enabled = {n.name for n in config.notifiers if n.enabled}
    reached: set[str] = set()
    rules = [(i, rule) for i, rule in enumerate(config.rules) if rule.enabled]
    for i, rule in rules:
        unknown = [name for name in rule.notifiers if name not in known]
        for name in unknown:
            problem("error", f"rules[{i}].notifiers", f"no notifier named {name!r}")
        targets = {name for name in rule.notifiers if name in enabled} if rule.notifiers else enabled
        reached |= targets
        if rule.notifiers and not targets and not unknown:
            listed = ", ".join(rule.notifiers)
            problem("error", f"rules[{i}].notifiers",
                    f"rule {rule.name!r} routes only to disabled notifiers ({listed}): its "
                    "alerts would go nowhere; enable one, or name none to reach every enabled "
                    "notifier")
    for i, notifier in enumerate(config.notifiers):
        if notifier.enabled and notifier.name not in reached:
            problem("warning", f"notifiers[{i}].name",
                    f"no enabled rule routes to notifier {notifier.name!r}: it will send nothing "
                    "(add it to a rule's notifiers, or leave a rule's notifiers empty)")
    if rules and not enabled:
        problem("warning", "notifiers", "no notifier is enabled: flagged stories are stored but "
                "no alert is sent")
    return sorted(found, key=lambda p: not p.is_error)


def _secrets(notifier: NotifierConfig, environ: Mapping[str, str],
             credentials_dir: str | None) -> list[tuple[str, str]]:
    """(key, why it will fail) for each secret this notifier will read and cannot."""
    wanted: list[str] = []
    if isinstance(notifier, EmailConfig):
        if not notifier.username:
            return []  # no login: the password is never read (_unused_secrets warns)
        if not notifier.password_env and not notifier.password_file:
            return [("username", "username is set but neither password_env nor password_file "
                     "is: nowhere to read the SMTP password from")]
        wanted = ["password_env", "password_file"]
    elif isinstance(notifier, WebhookConfig):
        wanted = ["secret_env", "secret_file"]
    elif isinstance(notifier, AppriseConfig):
        wanted = ["urls_env"]
    # Any other *_env or *_file a notifier type declares is a secret read the same way.
    wanted += [f.name for f in fields(notifier)
               if f.name.endswith(("_env", "_file")) and f.name not in wanted]
    found: list[tuple[str, str]] = []
    for key in wanted:
        value = getattr(notifier, key, "")
        if not isinstance(value, str) or not value:
            continue
        if key.endswith("_env"):
            reason, held = _env_problem(value, environ), environ.get(value)
        else:
            reason, held = _file_problem(value, key, credentials_dir)
        reason = reason or _held_problem(key, held or "")
        if reason:
            found.append((key, reason))
    return found


def _held_problem(key: str, held: str) -> str | None:
    """What is wrong with what a url_* or headers_* reference holds, never quoting it."""
    kind = key.rpartition("_")[0]
    if kind == "url":
        url = held.strip()
        if not url.startswith(("http://", "https://")) or any(c.isspace() for c in url):
            return "holds no http:// or https:// URL"
    elif kind == "headers":
        try:
            parse_header_lines(held)
        except ValueError as e:
            return str(e)
    return None


def _unused_secrets(notifier: NotifierConfig) -> list[tuple[str, str]]:
    if isinstance(notifier, EmailConfig) and not notifier.username:
        key = "password_env" if notifier.password_env else "password_file"
        if notifier.password_env or notifier.password_file:
            return [(key, "is set but username is not: no login is made and the password is "
                     "never read")]
    return []


def _env_problem(name: str, environ: Mapping[str, str]) -> str | None:
    value = environ.get(name)
    if value is None:
        return f"environment variable {name} is not set"
    if not value.strip():
        return f"environment variable {name} is empty"
    return None


def _file_problem(name: str, key: str,
                  credentials_dir: str | None) -> tuple[str | None, str | None]:
    """Why the file the notifier reads (notify/credentials.read_secret_file) can't be read, in
    words that never quote what it holds; and what it holds."""
    path = Path(name)
    if not path.is_absolute():
        if not credentials_dir:
            return (f"{key} {name!r} is a relative name and $CREDENTIALS_DIRECTORY is not set "
                    "(systemd sets it for LoadCredential=; run the check in the service's "
                    "environment, or give an absolute path)"), None
        path = Path(credentials_dir) / path
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as e:
        return f"cannot read {key} {str(path)!r}: {e.strerror or type(e).__name__}", None
    except UnicodeDecodeError:
        return f"{key} {str(path)!r} is not UTF-8 text", None
    if not text.strip():
        return f"{key} {str(path)!r} is empty", None
    return None, text


def check_environment(config: Config) -> list[Problem]:
    """`monitor run` and the daemon's reload: the warnings of ``config`` in this process's
    environment; ConfigProblems when there is an error."""
    problems = config_problems(config, os.environ, os.environ.get("CREDENTIALS_DIRECTORY"))
    errors = [p for p in problems if p.is_error]
    if errors:
        raise ConfigProblems(errors)
    return problems
