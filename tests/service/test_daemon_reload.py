"""Daemon.reload in this process: a new config.toml that `monitor run` would refuse to start on
(a missing secret) is refused and the running configuration kept; one with warnings is taken,
the warnings logged. (test_daemon_restarts.py sends real SIGHUPs to a child daemon.)"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from monitor.config import load_config
from monitor.service import logs
from monitor.service.daemon import Daemon
from monitor.service.systemd import SystemdNotifier

BASE = """
[monitor]
database = "monitor.db"

[fetch]
fetch_pages = false

[[notifiers]]
name = "hook"
type = "webhook"
url = "http://127.0.0.1:9/unused"
{hook}

[[rules]]
name = "enforcement"
query = "piracy AND raid"
{rules}
"""


def test_reload_refuses_a_config_that_would_not_start(tmp_path: Path,
                                                      caplog: pytest.LogCaptureFixture,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RELOAD_SECRET", raising=False)
    path = tmp_path / "config.toml"
    path.write_text(BASE.format(hook="", rules=""), encoding="utf-8")
    daemon = Daemon(load_config(path), systemd=SystemdNotifier(env={}))
    first = daemon.config
    root = logging.getLogger()
    saved = root.handlers[:], root.level, set(logs.REDACTOR.secrets)

    async def scenario(stop: asyncio.Event) -> None:
        try:
            for _ in range(200):
                if daemon.scheduler is not None:
                    break
                await asyncio.sleep(0.05)
            # A webhook whose secret variable is unset: refused, the running config kept.
            path.write_text(BASE.format(hook='secret_env = "RELOAD_SECRET"', rules=""),
                            encoding="utf-8")
            with caplog.at_level(logging.INFO, logger="monitor"):
                await daemon.reload()
            assert daemon.config is first
            assert ("reload refused, the running configuration is kept: "
                    f"{path.resolve()}: notifiers[0].secret_env: environment variable "
                    "RELOAD_SECRET is not set") in caplog.messages
            # Warnings only (a second notifier no rule routes to): taken, warnings logged.
            caplog.clear()
            path.write_text(BASE.format(hook="", rules='notifiers = ["hook"]')
                            + '[[notifiers]]\nname = "pager"\ntype = "webhook"\n'
                              'url = "http://127.0.0.1:9/pager"\n', encoding="utf-8")
            with caplog.at_level(logging.INFO, logger="monitor"):
                await daemon.reload()
            assert [n.name for n in daemon.config.notifiers] == ["hook", "pager"]
            assert any(m.startswith("reload: ") and "notifiers[1].name" in m
                       for m in caplog.messages), caplog.messages
        finally:
            stop.set()

    async def main() -> None:
        # The checks run beside the daemon and end before it stops: its stop cancels and awaits
        # every other task of the loop.
        stop = asyncio.Event()
        checks = asyncio.create_task(scenario(stop))
        await daemon.run(stop)
        checks.result()

    try:
        asyncio.run(main())
    finally:  # a taken reload applies [log] to the root logger: as it was for the next test
        root.handlers[:], level, logs.REDACTOR.secrets = saved
        root.setLevel(level)
