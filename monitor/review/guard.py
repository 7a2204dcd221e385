"""The review site's gate, an ASGI wrapper around Datasette: answers only to the names the site is
known by (Host allow-list), asks for the password when one is configured, and adds the
security headers (a content-security policy: nothing loaded from elsewhere) to every answer.

No datasette import: plain ASGI, so it is tested like any function of a request.
"""

from __future__ import annotations

import base64
import binascii
import secrets
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any
from urllib.parse import urlsplit

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]

LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")
REALM = "monitor review"

# 'self' only: an article can't make the analyst's browser fetch a remote image or script (a
# tracking pixel, or worse). Inline scripts and styles stay allowed: Datasette's own templates
# carry some (menus, facets, the SQL editor), and every value from the database is escaped.
CSP = ("default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
       "img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; "
       "frame-ancestors 'none'")
HEADERS = ((b"content-security-policy", CSP.encode()),
           (b"x-content-type-options", b"nosniff"),
           (b"x-frame-options", b"DENY"),
           (b"referrer-policy", b"same-origin"))


def host_name(value: str) -> str:
    """The name in a Host header, port dropped, lower case: "[::1]:8001" -> "[::1]"."""
    value = value.strip().lower()
    if value.startswith("["):
        return value[: value.find("]") + 1] if "]" in value else ""
    return value.rsplit(":", 1)[0] if value.count(":") == 1 else value


def allowed_hosts(base_url: str, bound: str) -> frozenset[str]:
    """The loopback names, the host of ``base_url`` and the address listened on (unless it is
    a wildcard, which names no host)."""
    names = set(LOOPBACK_NAMES)
    if base_url:
        netloc = urlsplit(base_url).netloc.rsplit("@", 1)[-1]
        names.add(host_name(netloc))
    if bound and bound not in ("0.0.0.0", "::"):
        names.add(f"[{bound.lower()}]" if ":" in bound else bound.lower())
    return frozenset(n for n in names if n)


def authorized(authorization: str, password: str) -> bool:
    """HTTP basic auth with any user name and ``password``, or ``Bearer <password>``."""
    scheme, _, value = authorization.strip().partition(" ")
    if scheme.lower() == "bearer":
        given = value.strip()
    elif scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return False
        given = decoded.partition(":")[2]
    else:
        return False
    return secrets.compare_digest(given.encode(), password.encode())


def _header(scope: Scope, name: bytes) -> str:
    for key, value in scope.get("headers") or ():
        if key.lower() == name:
            return bytes(value).decode("latin-1")
    return ""


async def _refuse(send: Send, status: int, text: str,
                  extra: Iterable[tuple[bytes, bytes]] = ()) -> None:
    body = (text + "\n").encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"text/plain; charset=utf-8"),
                            (b"content-length", str(len(body)).encode()), *HEADERS, *extra]})
    await send({"type": "http.response.body", "body": body})


class Guard:
    """``Guard(app, hosts=..., password=...)``: the ASGI app behind the gate."""

    def __init__(self, app: App, *, hosts: frozenset[str], password: str | None) -> None:
        self.app = app
        self.hosts = hosts
        self.password = password

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":  # lifespan
            await self.app(scope, receive, send)
            return
        # DNS rebinding: a page the analyst visits points its own name at 127.0.0.1 and reads
        # the site as its own origin. Its requests carry that name in Host: refused.
        if host_name(_header(scope, b"host")) not in self.hosts:
            await _refuse(send, 421, "this site answers to its own names only (see [review] "
                          "base_url)")
            return
        if self.password is not None and not authorized(_header(scope, b"authorization"),
                                                        self.password):
            await _refuse(send, 401, "the review site needs its password",
                          [(b"www-authenticate", f'Basic realm="{REALM}", charset="UTF-8"'
                            .encode())])
            return

        async def secured(message: Message) -> None:
            if message["type"] == "http.response.start":
                kept = [(k, v) for k, v in message.get("headers") or ()
                        if k.lower() not in {name for name, _ in HEADERS}]
                message = {**message, "headers": [*kept, *HEADERS]}
            await send(message)

        await self.app(scope, receive, secured)
