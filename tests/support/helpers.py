"""Helpers for tests that run the monitor as a user would: a config file and the CLI."""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from monitor.cli.main import main

if TYPE_CHECKING:
    from monitor.store.database import Store

REPO = Path(__file__).resolve().parents[2]
RULES_MARKER = "# === Rules"


def default_rules_section() -> str:
    """The rules, term lists and entities of the shipped config.toml, as TOML text."""
    text = (REPO / "config.toml").read_text(encoding="utf-8")
    return text[text.index(RULES_MARKER):]


def write_config(folder: Path, feeds: list[str], *, webhook_url: str | None = None,
                 smtp_port: int | None = None, fetch_pages: bool = True, interval: str = "15m",
                 extra: str = "", max_new_per_poll: int | None = None) -> Path:
    """A config on the default rules, with the given feeds and notifiers, fetching from 127.0.0.1."""
    lines = [
        "[monitor]", 'database = "monitor.db"', f'interval = "{interval}"', "",
        "[fetch]", "timeout = 5", "allow_private_networks = true",
        f"fetch_pages = {'true' if fetch_pages else 'false'}",
        *([f"max_new_per_poll = {max_new_per_poll}"] if max_new_per_poll else []), "",
    ]
    for i, url in enumerate(feeds):
        lines += ["[[feeds]]", f'name = "Feed {i}"', f'url = "{url}"', ""]
    lines += ["[[notifiers]]", 'name = "webhook"', 'type = "webhook"',
              f"enabled = {'true' if webhook_url else 'false'}",
              f'url = "{webhook_url or "http://127.0.0.1:9/unused"}"', ""]
    lines += ["[[notifiers]]", 'name = "email"', 'type = "email"',
              f"enabled = {'true' if smtp_port else 'false'}", 'host = "127.0.0.1"',
              f"port = {smtp_port or 25}", 'from = "monitor@example.org"',
              'to = ["analyst@example.org"]', 'security = "none"', ""]
    path = folder / "config.toml"
    path.write_text("\n".join(lines) + extra + "\n" + default_rules_section(), encoding="utf-8")
    return path


@dataclass(frozen=True)
class Result:
    """What a command line left: its exit code and what it printed."""

    code: int
    stdout: str
    stderr: str

    @property
    def returncode(self) -> int:  # the name subprocess.CompletedProcess gives it
        return self.code


@contextlib.contextmanager
def environment(env: Mapping[str, str | None]) -> Iterator[None]:
    """os.environ with ``env`` applied (None removes a variable), restored afterwards."""
    saved = {name: os.environ.get(name) for name in env}
    try:
        for name, value in env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def run_cli(argv: list[str], *, env: Mapping[str, str | None] | None = None,
            cwd: Path | None = None, stderr: TextIO | None = None) -> Result:
    """``monitor ARGV`` in this process, as sqlite-utils' tests run its CLI: what it prints to
    stdout and stderr (logs included) is captured; ``env`` adds (or with None, removes)
    environment variables and ``cwd`` is the working folder, both for this call only.
    ``stderr``, a real file, takes stderr instead (Result.stderr is then empty)."""
    out, err = io.StringIO(), io.StringIO()
    previous = Path.cwd()
    with environment(env or {}), contextlib.redirect_stdout(out), \
            contextlib.redirect_stderr(stderr or err):
        try:
            if cwd is not None:
                os.chdir(cwd)
            code = main(argv)
        finally:
            os.chdir(previous)
    return Result(code, out.getvalue(), err.getvalue())


def monitor(config: Path, *args: str, env: dict[str, str] | None = None) -> Result:
    """Run the `monitor` command line on ``config``, in this process (see run_cli); ``env``
    adds environment variables."""
    return run_cli(["--config", str(config), *args], env=env)


def record_poll(store: Store, url: str, when: dt.datetime, *, outcome: str = "updated",
                error: str | None = None, status: int | None = 200, etag: str | None = None,
                last_modified: str | None = None, retry_after: float | None = None,
                name: str = "", title: str = "") -> None:
    """Record a poll the way the pipeline does: the schedule's decision from the stored state,
    then Store.record_poll, flushed."""
    from monitor.config import ScheduleConfig
    from monitor.models import FeedState, FeedUpdate, PollResult
    from monitor.decide.schedule import next_check

    state = store.feed_state(url) or FeedState(url=url)
    poll = PollResult(outcome=outcome, status=status, error=error or "", retry_after=retry_after)
    decision = next_check(state, poll, when, interval=900.0, config=ScheduleConfig(),
                          rand=lambda: 0.5)
    store.record_poll(FeedUpdate(url, name=name, checked_at=when, outcome=outcome,
                                 decision=decision, http_status=status, error=error, etag=etag,
                                 last_modified=last_modified, title=title))
    store.flush()
