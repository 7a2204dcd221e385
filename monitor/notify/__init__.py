"""Notify stage: Alert -> a delivery on one channel, behind the small ``Notifier`` protocol.

One module per channel (``webhook``, ``email``); payloads and messages are built by the pure
functions of ``render``. A failed delivery raises ``NotifyError``; the outbox decides what next.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from monitor.config import EmailConfig, NotifierConfig, WebhookConfig
from monitor.errors import ConfigError
from monitor.models import Alert
from monitor.notify.email import EmailNotifier
from monitor.notify.webhook import WebhookNotifier

__all__ = ["EmailNotifier", "Notifier", "WebhookNotifier", "build_notifiers"]


class Notifier(Protocol):
    """Delivers one alert, or raises ``NotifyError``.

    ``NotifyError.permanent`` is True when retrying cannot help (HTTP 4xx other than 408/429,
    SMTP 5xx, a rejected recipient, a failed login, a missing password); ``retry_after`` carries
    the seconds asked by a 429/503 Retry-After. Everything else (refused connection, timeout,
    HTTP 5xx, SMTP 4xx) is transient: the alert stays pending and is retried.
    """

    name: str

    async def send(self, alert: Alert) -> None: ...


def build_notifiers(configs: Sequence[NotifierConfig], http_client: Any) -> dict[str, Notifier]:
    """The enabled notifiers by name. ``http_client`` is the shared client of ``fetch.make_client``,
    passed through untouched to ``fetch.post`` (only fetch.py imports httpx)."""
    notifiers: dict[str, Notifier] = {}
    for cfg in configs:
        if not cfg.enabled:
            continue
        if cfg.name in notifiers:
            raise ConfigError(f"duplicate notifier name {cfg.name!r}", key="notifiers.name")
        notifier: Notifier
        if isinstance(cfg, WebhookConfig):
            notifier = WebhookNotifier(cfg, http_client)
        elif isinstance(cfg, EmailConfig):
            notifier = EmailNotifier(cfg)
        else:  # config.py only builds the two types above
            raise TypeError(f"unknown notifier config {type(cfg).__name__}")
        notifiers[cfg.name] = notifier
    return notifiers
