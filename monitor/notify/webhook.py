"""Webhook channel: Alert or Digest -> a JSON POST through fetch.post, in the notifier's
``format``: our own versioned payload (``json``, render/digest) or a chat service's (slack,
discord, teams, mattermost), signed the Standard Webhooks way when ``secret_env`` or
``secret_file`` is set.

The HTTP exchange goes through monitor.fetch (the only module importing httpx); this module
turns the status into "delivered" or a NotifyError, permanent or transient.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from typing import Any

from monitor.config import WebhookConfig, parse_header_lines
from monitor.errors import FetchError, NotifyError
from monitor.fetch.client import Client, PostResult, parse_retry_after, post
from monitor.models import Alert, Digest
from monitor.notify import digest as json_digest
from monitor.notify import discord, mattermost, slack, teams
from monitor.notify.render import alert_payload, one_line, shorten
from monitor.notify.credentials import read_reference, read_secret_file
from monitor.notify.signing import parse_secret, signature_headers

RenderAlert = Callable[[Alert], dict[str, Any]]
RenderDigest = Callable[[Digest], dict[str, Any]]
# format -> (alert payload, digest payload)
FORMATS: dict[str, tuple[RenderAlert, RenderDigest]] = {
    "json": (alert_payload, json_digest.digest_payload),
    "slack": (slack.alert_payload, slack.digest_payload),
    "discord": (discord.alert_payload, discord.digest_payload),
    "teams": (teams.alert_payload, teams.digest_payload),
    "mattermost": (mattermost.alert_payload, mattermost.digest_payload),
}

# Statuses worth retrying among the 4xx ones: a request timeout, and "too many requests".
RETRYABLE_4XX = frozenset({408, 429})


def encode_json(payload: dict[str, Any]) -> bytes:
    """Compact UTF-8 JSON; NaN/Infinity refused, since they are not JSON."""
    return json.dumps(payload, ensure_ascii=False, allow_nan=False,
                      separators=(",", ":")).encode("utf-8")


def check_response(result: PostResult, channel: str) -> None:
    """Return if the status means delivered (2xx), else raise the NotifyError it calls for.

    Shared by every HTTP channel: the generic webhook and each chat format.
    """
    status = result.status
    if 200 <= status < 300:
        return
    detail = shorten(one_line(result.text), 200)
    message = f"HTTP {status}" + (f": {detail}" if detail else "")
    if 300 <= status < 400:
        # Redirects are not followed for a POST (the client has follow_redirects=False) and
        # retrying the same URL cannot help: the notifier's url needs fixing.
        raise NotifyError(f"{message} (redirect not followed; set the notifier's url to the "
                          "final address)", channel=channel, permanent=True)
    if 400 <= status < 500 and status not in RETRYABLE_4XX:
        raise NotifyError(message, channel=channel, permanent=True)
    # 408, 429, 5xx and anything unexpected: transient, honouring Retry-After when given.
    raise NotifyError(message, channel=channel, permanent=False,
                      retry_after=parse_retry_after(result.headers.get("retry-after")))


def merge_headers(base: dict[str, str], ours: dict[str, str]) -> dict[str, str]:
    """``base`` plus ``ours``, ours winning whatever the letter case of a name in ``base``."""
    names = {name.lower() for name in ours}
    return {**{k: v for k, v in base.items() if k.lower() not in names}, **ours}


async def post_json(client: Client, url: str, payload: dict[str, Any], headers: dict[str, str],
                    timeout: float, channel: str, *, signing_key: bytes | None = None,
                    msg_id: str | None = None) -> None:
    """POST ``payload`` as JSON; NotifyError unless a 2xx came back. With ``msg_id``, the
    Standard Webhooks headers go too (signed when there is a ``signing_key``)."""
    body = encode_json(payload)
    ours = {"Content-Type": "application/json"}
    if msg_id is not None:
        # The timestamp is the attempt's: receivers refuse old ones (replays); the id is stable.
        ours.update(signature_headers(msg_id, int(time.time()), body, signing_key))
    try:
        result = await post(client, url, body, merge_headers(headers, ours), timeout)
    except FetchError as e:
        # The URL is left out of the message: webhook URLs often embed a secret token.
        raise NotifyError(f"not delivered: {e}", channel=channel, permanent=False) from e
    check_response(result, channel)


class WebhookNotifier:
    """``type = "webhook"``: one POST per alert or digest in the notifier's format, with an
    ``Idempotency-Key`` and the Standard Webhooks headers (``webhook-id`` = the same key)."""

    def __init__(self, cfg: WebhookConfig, client: Client) -> None:
        self.name = cfg.name
        self.cfg = cfg
        self._client = client  # the daemon's shared client: its connections are reused
        self._alert_payload, self._digest_payload = FORMATS[cfg.format]

    def _key(self) -> bytes | None:
        """The signing key, read at send time (a rotated secret needs no restart)."""
        if self.cfg.secret_file:
            secret = read_secret_file(self.cfg.secret_file, "secret_file", self.name)
            try:
                return parse_secret(secret)
            except ValueError as e:
                raise NotifyError(f"secret_file {self.cfg.secret_file!r}: {e}",
                                  channel=self.name, permanent=True) from None
        name = self.cfg.secret_env
        if not name:
            return None
        value = os.environ.get(name)
        if not value:
            state = "is empty" if value == "" else "is not set"
            raise NotifyError(f"environment variable {name} (secret_env) {state}",
                              channel=self.name, permanent=True)
        try:
            return parse_secret(value)
        except ValueError as e:
            raise NotifyError(f"environment variable {name} (secret_env): {e}",
                              channel=self.name, permanent=True) from None

    def _url(self) -> str:
        """``url``, or the URL that url_env or url_file holds, read at send time."""
        held = read_reference(self.cfg.url_env, self.cfg.url_file, "url", self.name)
        if held is None:
            return self.cfg.url
        url = held.strip()
        if not url.startswith(("http://", "https://")) or any(c.isspace() for c in url):
            where = "url_file" if self.cfg.url_file else "url_env"
            raise NotifyError(f"{where} holds no http:// or https:// URL", channel=self.name,
                              permanent=True)
        return url

    def _headers(self) -> dict[str, str]:
        """``headers``, and those that headers_env or headers_file holds (which win)."""
        headers = dict(self.cfg.headers)
        held = read_reference(self.cfg.headers_env, self.cfg.headers_file, "headers", self.name)
        if held is not None:
            try:
                headers = merge_headers(headers, dict(parse_header_lines(held)))
            except ValueError as e:
                where = "headers_file" if self.cfg.headers_file else "headers_env"
                raise NotifyError(f"{where}: {e}", channel=self.name, permanent=True) from None
        return headers

    async def _post(self, payload: dict[str, Any], key: str) -> None:
        # Configured headers can never replace the key receivers deduplicate on.
        headers = merge_headers(self._headers(), {"Idempotency-Key": key})
        await post_json(self._client, self._url(), payload, headers, self.cfg.timeout,
                        self.name, signing_key=self._key(), msg_id=key)

    async def send(self, alert: Alert) -> None:
        await self._post(self._alert_payload(alert), alert.key)

    async def send_digest(self, digest: Digest) -> None:
        await self._post(self._digest_payload(digest), digest.key)
