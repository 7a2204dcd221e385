"""Fetch stage: the only module importing httpx.

URL (+ stored ETag / Last-Modified) -> FetchResult, with a streamed size cap, redirects
followed by hand so that every hop passes the private-address guard, and errors as FetchError.
"""

from __future__ import annotations

import asyncio
import email.utils
import ipaddress
import socket
import time
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import httpx

from monitor import __version__
from monitor.config import FetchConfig
from monitor.errors import FetchError
from monitor.models import FetchResult

DEFAULT_USER_AGENT = f"monitor/{__version__} (news monitoring; +https://github.com/monitor-news/monitor)"
REDIRECT_STATUSES = {301, 302, 303, 307, 308}

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def make_client(cfg: FetchConfig) -> httpx.AsyncClient:
    """One client shared by the whole daemon: connection pooling across feeds and pages."""
    timeout = httpx.Timeout(cfg.timeout, connect=min(cfg.timeout, 10.0))
    return httpx.AsyncClient(
        timeout=timeout,
        follow_redirects=False,  # followed in fetch(), so each hop is checked
        headers={"User-Agent": cfg.user_agent or DEFAULT_USER_AGENT},
        limits=httpx.Limits(max_connections=50, max_keepalive_connections=20),
    )


def is_public_address(address: IPAddress) -> bool:
    """True when an address is a public unicast one (the guard against SSRF)."""
    if isinstance(address, ipaddress.IPv6Address):
        mapped = address.ipv4_mapped or address.sixtofour
        if mapped is not None:
            return is_public_address(mapped)
    return not (
        address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_reserved
        or address.is_multicast
        or address.is_unspecified
        or not address.is_global
    )


def refused_addresses(addresses: list[str]) -> list[str]:
    """The resolved addresses among ``addresses`` that the guard refuses."""
    refused = []
    for text in addresses:
        try:
            address = ipaddress.ip_address(text.split("%", 1)[0])  # drop an IPv6 zone id
        except ValueError:
            refused.append(text)
            continue
        if not is_public_address(address):
            refused.append(text)
    return refused


async def check_url_allowed(url: str, cfg: FetchConfig) -> None:
    """Refuse non-HTTP URLs, and hosts resolving to non-public addresses unless allowed."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise FetchError(f"refused URL scheme {parts.scheme!r}", url=url)
    if not parts.hostname:
        raise FetchError("URL has no host", url=url)
    if cfg.allow_private_networks:
        return
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(
            parts.hostname, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as e:
        raise FetchError(f"cannot resolve {parts.hostname}: {e}", url=url) from e
    refused = refused_addresses([str(info[4][0]) for info in infos])
    if refused:
        raise FetchError(
            f"refused: {parts.hostname} resolves to a non-public address ({', '.join(refused)}); "
            "set [fetch] allow_private_networks = true to allow it", url=url)


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    # Decimal seconds such as "1.5" are not RFC 9110, but Discord sends them (issue 4).
    if value.isascii() and value.replace(".", "", 1).isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


async def fetch(
    client: httpx.AsyncClient,
    url: str,
    cfg: FetchConfig,
    *,
    etag: str | None = None,
    last_modified: str | None = None,
) -> FetchResult:
    """GET ``url`` conditionally. 304 is a normal result; everything else that fails raises FetchError."""
    headers = {"Accept-Encoding": "gzip, deflate"}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    current = url
    for _hop in range(cfg.max_redirects + 1):
        await check_url_allowed(current, cfg)
        try:
            async with client.stream("GET", current, headers=headers) as response:
                if response.status_code in REDIRECT_STATUSES:
                    if "location" not in response.headers:
                        raise FetchError(f"HTTP {response.status_code} without a Location header",
                                         url=current, status=response.status_code)
                    current = urljoin(current, response.headers["location"])
                    continue
                return await _read(response, current, cfg)
        except httpx.TimeoutException as e:
            raise FetchError(f"timed out ({type(e).__name__})", url=current) from e
        except httpx.HTTPError as e:
            raise FetchError(f"{type(e).__name__}: {e}", url=current) from e
    raise FetchError(f"more than {cfg.max_redirects} redirects", url=url)


async def _read(response: httpx.Response, url: str, cfg: FetchConfig) -> FetchResult:
    status = response.status_code
    response_headers = {k.lower(): v for k, v in response.headers.items()}
    if status == 304:
        return FetchResult(url=url, status=304, headers=response_headers, not_modified=True,
                           etag=response.headers.get("etag"),
                           last_modified=response.headers.get("last-modified"))
    if status >= 400 or status < 200:
        raise FetchError(f"HTTP {status}", url=url, status=status,
                         retry_after=parse_retry_after(response.headers.get("retry-after")))
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > cfg.max_bytes:
        raise FetchError(f"body of {declared} bytes is over max_bytes ({cfg.max_bytes})", url=url)
    chunks: list[bytes] = []
    size = 0
    # Counted after decompression, so a small gzip bomb is cut off too.
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > cfg.max_bytes:
            raise FetchError(f"body over max_bytes ({cfg.max_bytes})", url=url)
        chunks.append(chunk)
    return FetchResult(url=url, status=status, content=b"".join(chunks), headers=response_headers,
                       etag=response.headers.get("etag"),
                       last_modified=response.headers.get("last-modified"))


@dataclass(frozen=True, slots=True)
class PostResult:
    status: int
    headers: dict[str, str]
    text: str


async def post(
    client: httpx.AsyncClient,
    url: str,
    body: bytes,
    headers: dict[str, str],
    timeout: float,
) -> PostResult:
    """POST ``body``; returns whatever status came back. Transport failures raise FetchError."""
    try:
        response = await client.post(url, content=body, headers=headers, timeout=timeout)
    except httpx.TimeoutException as e:
        raise FetchError(f"timed out ({type(e).__name__})", url=url) from e
    except httpx.HTTPError as e:
        raise FetchError(f"{type(e).__name__}: {e}", url=url) from e
    return PostResult(status=response.status_code,
                      headers={k.lower(): v for k, v in response.headers.items()},
                      text=response.text[:2000])
