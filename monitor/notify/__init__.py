"""Notify stage: Alert -> a delivery on one channel, behind the small ``Notifier`` protocol.

One module per channel (``webhook``, ``email``, ``apprise``); payloads and messages are built by
pure functions (``render``, ``digest``, and one module per chat format: ``slack``, ``discord``,
``teams``, ``mattermost``). A failed delivery raises ``NotifyError``; the outbox decides what next.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from monitor.config import AppriseConfig, EmailConfig, NotifierConfig, WebhookConfig
from monitor.errors import ConfigError
from monitor.fetch.client import Client
from monitor.models import Alert, Digest
from monitor.notify.apprise import AppriseNotifier
from monitor.notify.email import EmailNotifier
from monitor.notify.webhook import WebhookNotifier

__all__ = ["AppriseNotifier", "EmailNotifier", "Notifier", "WebhookNotifier", "build_notifiers",
           "build_notifier"]


class Notifier(Protocol):
    """Delivers one alert, or raises ``NotifyError``.

    ``NotifyError.permanent`` is True when retrying cannot help (HTTP 4xx other than 408/429,
    SMTP 5xx, a rejected recipient, a failed login, a missing password); ``retry_after`` carries
    the seconds asked by a 429/503 Retry-After. Everything else (refused connection, timeout,
    HTTP 5xx, SMTP 4xx) is transient: the alert stays pending and is retried.
    """

    name: str

    async def send(self, alert: Alert) -> None: ...

    async def send_digest(self, digest: Digest) -> None:
        """Several alerts as one message, with the same failure classes."""
        ...


def build_notifier(cfg: NotifierConfig, http_client: Client) -> Notifier:
    """One notifier, enabled or not (`monitor notify test` tries disabled ones too)."""
    if isinstance(cfg, WebhookConfig):
        return WebhookNotifier(cfg, http_client)
    if isinstance(cfg, EmailConfig):
        return EmailNotifier(cfg)
    if isinstance(cfg, AppriseConfig):
        return AppriseNotifier(cfg)
    raise TypeError(f"unknown notifier config {type(cfg).__name__}")  # config.py builds no other


def build_notifiers(configs: Sequence[NotifierConfig], http_client: Client) -> dict[str, Notifier]:
    """The enabled notifiers by name. ``http_client`` is the daemon's shared client
    (``fetch.client.make_client``), passed through untouched to ``fetch.client.post``."""
    notifiers: dict[str, Notifier] = {}
    for cfg in configs:
        if not cfg.enabled:
            continue
        if cfg.name in notifiers:
            raise ConfigError(f"duplicate notifier name {cfg.name!r}", key="notifiers.name")
        notifiers[cfg.name] = build_notifier(cfg, http_client)
    return notifiers
