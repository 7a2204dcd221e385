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
