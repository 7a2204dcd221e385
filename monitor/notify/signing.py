"""Standard Webhooks signatures: the webhook-id, webhook-timestamp and
webhook-signature headers (https://www.standardwebhooks.com/, "Signature scheme"). Pure.

The signed content is ``{id}.{timestamp}.{body}``; the signature is HMAC-SHA256 with the secret's
bytes (the base64 text after ``whsec_``), base64-encoded and prefixed ``v1,``. Any Standard
Webhooks library (the ``standardwebhooks`` package in Python) verifies it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac


def parse_secret(value: str) -> bytes:
    """The key bytes of a ``whsec_<base64>`` secret (the prefix is optional); ValueError
    when the text is not base64 or decodes to nothing."""
    text = value.strip()
    if text.startswith("whsec_"):
        text = text[len("whsec_"):]
    try:
        key = base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("the signing secret is not base64 (expected whsec_ followed by "
                         "base64, such as a Standard Webhooks library generates)") from None
    if not key:
        raise ValueError("the signing secret is empty")
    return key


def sign(key: bytes, msg_id: str, timestamp: int, body: bytes) -> str:
    """``v1,<base64 HMAC-SHA256 of "{msg_id}.{timestamp}.{body}">``."""
    content = f"{msg_id}.{timestamp}.".encode("utf-8") + body
    digest = hmac.new(key, content, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


def signature_headers(msg_id: str, timestamp: int, body: bytes,
                      key: bytes | None) -> dict[str, str]:
    """The three headers; without a key, the id and timestamp alone (unsigned)."""
    headers = {"webhook-id": msg_id, "webhook-timestamp": str(timestamp)}
    if key is not None:
        headers["webhook-signature"] = sign(key, msg_id, timestamp, body)
    return headers
