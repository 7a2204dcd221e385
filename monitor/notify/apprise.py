"""Apprise channel (optional): Alert or Digest -> every Apprise URL of the notifier,
for the services that have no format of their own here (Telegram, Signal, ntfy, Matrix...).

The only module importing ``apprise`` (an extra: ``pip install 'monitor[apprise]'``). Apprise
blocks and does its own HTTP, so delivery runs in a worker thread. It reports only success or
failure, not why, so a failure is transient: retried with backoff, never marked failed by us.
Timeouts are Apprise's per URL (its ``cto`` and ``rto`` URL parameters, 4 s by default).
(The name does not shadow the ``apprise`` package: imports are absolute.)
"""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
import os
from types import ModuleType
from typing import TYPE_CHECKING

from monitor.config import AppriseConfig
from monitor.errors import ConfigError, NotifyError
from monitor.models import Alert, Digest
from monitor.notify.chat import defuse
from monitor.notify.credentials import read_secret_file
from monitor.notify.digest import digest_subject, digest_text
from monitor.notify.render import email_subject, email_text

if TYPE_CHECKING:  # the extra is imported at run time only when a notifier needs it
    import apprise



def available() -> bool:
    """Whether the extra is installed (imported only when an Apprise notifier is built: it is
    large, and most configurations do without it)."""
    return importlib.util.find_spec("apprise") is not None


class AppriseNotifier:
    """``type = "apprise"``: the alert's subject as title and its plain text as body."""

    def __init__(self, cfg: AppriseConfig) -> None:
        if not available():
            raise ConfigError(f"notifier {cfg.name!r} has type \"apprise\", which needs the "
                              "apprise package: pip install 'monitor[apprise]'",
                              key="notifiers.type")
        self._apprise: ModuleType = importlib.import_module("apprise")
        self.name = cfg.name
        self.cfg = cfg
        for url in cfg.urls:  # the ones in the file are checked now, so a typo stops the start
            if not self._apprise.Apprise().add(url):
                raise ConfigError(f"notifier {cfg.name!r}: Apprise does not understand the URL "
                                  f"starting {url.split('://', 1)[0]!r}://",
                                  key="notifiers.urls")

    def _urls(self) -> list[str]:
        urls = list(self.cfg.urls)
        if self.cfg.urls_env:
            value = os.environ.get(self.cfg.urls_env, "")
            if not value.strip():
                raise NotifyError(f"environment variable {self.cfg.urls_env} (urls_env) is "
                                  "not set or empty", channel=self.name, permanent=True)
            urls += value.split()
        if self.cfg.urls_file:
            urls += read_secret_file(self.cfg.urls_file, "urls_file", self.name).split()
        return urls

    def _notify(self, title: str, body: str) -> None:
        sender: apprise.Apprise = self._apprise.Apprise()
        for url in self._urls():
            if not sender.add(url):
                raise NotifyError("Apprise does not understand one of the URLs (urls_env or "
                                  "urls_file)",
                                  channel=self.name, permanent=True)
        # Feed text reaches chat services that ping on @channel or <!here>: defused first.
        ok = sender.notify(title=defuse(title), body=defuse(body),
                           body_format=self._apprise.NotifyFormat.TEXT)
        if not ok:
            raise NotifyError("Apprise could not deliver to every URL (its log says why)",
                              channel=self.name, permanent=False)

    async def send(self, alert: Alert) -> None:
        await asyncio.to_thread(self._notify, email_subject(alert), email_text(alert))

    async def send_digest(self, digest: Digest) -> None:
        await asyncio.to_thread(self._notify, digest_subject(digest), digest_text(digest))
