"""Webhook channel: Alert -> a JSON POST (render.alert_payload) through fetch.post.

The HTTP exchange goes through monitor.fetch (the only module importing httpx); this module
turns the status into "delivered" or a NotifyError, permanent or transient.
"""

from __future__ import annotations

import json
from typing import Any

from monitor.config import WebhookConfig
from monitor.errors import FetchError, NotifyError
from monitor.fetch import PostResult, parse_retry_after, post
from monitor.models import Alert
from monitor.notify.render import alert_payload, one_line, shorten

# Statuses worth retrying among the 4xx ones: a request timeout, and "too many requests".
RETRYABLE_4XX = frozenset({408, 429})


def encode_json(payload: dict[str, Any]) -> bytes:
    """Compact UTF-8 JSON; NaN/Infinity refused, since they are not JSON."""
    return json.dumps(payload, ensure_ascii=False, allow_nan=False,
                      separators=(",", ":")).encode("utf-8")


def check_response(result: PostResult, channel: str) -> None:
    """Return if the status means delivered (2xx), else raise the NotifyError it calls for.

    Shared by every HTTP channel (the chat formats of issue 4 will reuse it).
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


async def post_json(client: Any, url: str, payload: dict[str, Any], headers: dict[str, str],
                    timeout: float, channel: str) -> None:
    """POST ``payload`` as JSON; NotifyError unless a 2xx came back."""
    try:
        result = await post(client, url, encode_json(payload),
                            merge_headers(headers, {"Content-Type": "application/json"}), timeout)
    except FetchError as e:
        # The URL is left out of the message: webhook URLs often embed a secret token.
        raise NotifyError(f"not delivered: {e}", channel=channel, permanent=False) from e
    check_response(result, channel)


class WebhookNotifier:
    """``type = "webhook"``: the version-1 JSON payload, with an ``Idempotency-Key`` header."""

    def __init__(self, cfg: WebhookConfig, client: Any) -> None:
        self.name = cfg.name
        self.cfg = cfg
        self._client = client  # the shared httpx.AsyncClient, opaque here

    async def send(self, alert: Alert) -> None:
        # Configured headers can never replace the key receivers deduplicate on.
        headers = merge_headers(dict(self.cfg.headers), {"Idempotency-Key": alert.key})
        await post_json(self._client, self.cfg.url, alert_payload(alert), headers,
                        self.cfg.timeout, self.name)
