"""Helpers for tests that run the monitor as a user would: a config file and the CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
RULES_MARKER = "# === Rules"


def default_rules_section() -> str:
    """The rules, term lists and entities of the shipped config.toml, as TOML text."""
    text = (REPO / "config.toml").read_text(encoding="utf-8")
    return text[text.index(RULES_MARKER):]


def write_config(folder: Path, feeds: list[str], *, webhook_url: str | None = None,
                 smtp_port: int | None = None, fetch_pages: bool = True, interval: str = "15m",
                 extra: str = "") -> Path:
    """A config on the default rules, with the given feeds and notifiers, fetching from 127.0.0.1."""
    lines = [
        "[monitor]", 'database = "monitor.db"', f'interval = "{interval}"', "",
        "[fetch]", "timeout = 5", "allow_private_networks = true",
        f"fetch_pages = {'true' if fetch_pages else 'false'}", "",
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


def monitor(config: Path, *args: str, timeout: float = 120,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run the `monitor` command line in a child process, as a user would; ``env`` adds
    environment variables."""
    env = dict(os.environ, PYTHONPATH=str(REPO), **(env or {}))
    return subprocess.run([sys.executable, "-m", "monitor", "--config", str(config), *args],
                          capture_output=True, text=True, timeout=timeout, env=env)
