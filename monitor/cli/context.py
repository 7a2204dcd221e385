"""The one context every command receives: the configuration, read once (--config, else
$MONITOR_CONFIG, else ./config.toml) with logging set up from it, and the store, opened and
closed around the work that needs it."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from monitor.config import load_config
from monitor.service import logs

if TYPE_CHECKING:
    from monitor.config import Config
    from monitor.store.database import Store
    from monitor.store.lock import Holder

# How long a command that must write alone waits for another such command to end (a daemon
# is never waited for: it holds the lock for its whole life).
LOCK_WAIT = 60.0

# Every command taking a clipping's id says the same (store.resolve_clipping reads it).
ID_HELP = ("the clipping's id, its first 6 or more hex digits (listings show 8), or the "
           "article's URL")


class Context:
    """What a command needs beyond its own arguments. The config is loaded on first use, so a
    command that needs none (or reports a bad one itself, as `monitor status` does) still runs."""

    def __init__(self, config_path: str | Path | None = None) -> None:
        self.config_path = Path(config_path) if config_path else None
        self._config: Config | None = None

    @property
    def config(self) -> Config:
        if self._config is None:
            config = load_config(self.config_path)
            # [log], and the secrets no log line may show (webhook tokens, passwords): every
            # command may log a URL or an exception that carries one.
            logs.configure(config)
            self._config = config
        return self._config

    @contextlib.contextmanager
    def store(self) -> Iterator[Store]:
        """``with ctx.store() as store:`` the configured database, closed on the way out."""
        from monitor.store.database import Store

        store = Store(self.config.database)
        try:
            yield store
        finally:
            store.close()

    @contextlib.contextmanager
    def writer(self, role: str, *, wait: float = LOCK_WAIT) -> Iterator[None]:
        """``with ctx.writer("monitor run --once"):`` the database's writer lock held meanwhile
        (store.lock): waiting up to ``wait`` seconds for another command, never for a daemon."""
        from monitor.store.lock import hold_writer_lock

        with hold_writer_lock(self.config.database, role, wait=wait,
                              hint=lambda holder: _hint(holder, wait)):
            yield


def _hint(holder: Holder | None, waited: float) -> str:
    from monitor.store.lock import DAEMON

    if holder is not None and holder.role == DAEMON:
        return ("the daemon already polls every feed and sends every alert; to apply a changed "
                "config.toml use `systemctl reload monitor`, to run a cycle by hand stop it "
                "first (`systemctl stop monitor`)")
    return f"still busy after {waited:g}s; try again once it has ended"


def install_command(extra: str) -> str:
    """How to install an optional extra here: in a source checkout (an editable install, where
    `monitor` is no package an index knows) from the checkout's folder, else by name."""
    import shlex

    checkout = Path(__file__).resolve().parents[2]
    pyproject = checkout / "pyproject.toml"
    try:
        ours = 'name = "monitor"' in pyproject.read_text(encoding="utf-8")
    except OSError:
        ours = False
    if ours:
        return f"pip install -e {shlex.quote(f'{checkout}[{extra}]')}"
    return f"pip install 'monitor[{extra}]'"
