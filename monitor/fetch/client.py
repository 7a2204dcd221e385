"""Fetch stage: the only module importing httpx and aiohttp.

URL (+ stored ETag / Last-Modified) -> FetchResult, with a streamed size cap (on the body as
received and once decompressed), redirects followed by hand so that every hop passes the
private-address guard, a deadline on the whole exchange, global and per-host concurrency limits,
and errors as FetchError.

Two transports behind one Client, for speed: GETs, http:// and https:// alike, go through
aiohttp, whose C parser costs a fraction of httpx's pure-Python stack per request (see
bench/run.py); POSTs (notifiers) go through httpx, with HTTP/2 where the receiver offers it.
GETs speak HTTP/1.1 only: polling sends a host at most ``per_host`` requests at a time, each
over a connection kept alive, which is what HTTP/2 would multiplex (docs/design.md, "Two HTTP
transports behind one client"). httpx still carries GETs of a scheme that a proxy variable
applies to, when the guard is off, since it honours those variables as before.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import email.utils
import http
import ipaddress
import os
import re
import socket
import ssl
import time
import urllib.request
import zlib
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import SplitResult, urljoin, urlsplit

import aiohttp
import aiohttp.abc
import httpcore
import httpx

try:  # httpx's "brotli" extra; without it, "br" is simply not offered
    import brotli
    brotli_error: type[Exception] = brotli.error
except ImportError:  # pragma: no cover
    brotli = None
    brotli_error = zlib.error

from monitor import __version__
from monitor.config import FetchConfig
from monitor.errors import FetchError
from monitor.fetch.guard import AddressRefused, Guard, Resolve, ip_literal
from monitor.fetch.guard import is_public_address as is_public_address  # re-exported
from monitor.fetch.guard import refused_addresses as refused_addresses  # re-exported
from monitor.models import FetchResult

DEFAULT_USER_AGENT = f"monitor/{__version__} (news monitoring; +https://github.com/monitor-news/monitor)"
REDIRECT_STATUSES = {301, 302, 303, 307, 308}


# Response headers aiohttp accepts: larger than its defaults (8 KiB a line, 128 headers), near
# what httpx (h11) allowed, since real sites send long Content-Security-Policy and cookie lines.
MAX_HEADER_LINE = 65536
MAX_HEADERS = 256


class _GuardedResolver(aiohttp.abc.AbstractResolver):
    """aiohttp's resolver: the guard's addresses. aiohttp hands it the host as it encoded it
    (IDNA 2008, yarl) and connects to nothing else; IP literals never come here (they are
    checked in check_url_allowed)."""

    def __init__(self, guard: Guard) -> None:
        self.guard = guard

    async def resolve(self, host: str, port: int = 0,
                      family: socket.AddressFamily = socket.AF_INET) -> list[aiohttp.abc.ResolveResult]:
        results: list[aiohttp.abc.ResolveResult] = []
        for address in await self.guard.addresses(host, port):
            kind = socket.AF_INET6 if ":" in address else socket.AF_INET
            if family in (socket.AF_UNSPEC, kind):
                results.append({"hostname": host, "host": address, "port": port, "family": kind,
                                "proto": 0, "flags": socket.AI_NUMERICHOST | socket.AI_NUMERICSERV})
        if not results:
            raise socket.gaierror(f"cannot resolve {host}: no address of family {family!r}")
        return results

    async def close(self) -> None:
        pass


class _GuardedBackend(httpcore.AsyncNetworkBackend):
    """httpcore's network backend: connects to the guard's addresses for the host httpx put
    in the request (IDNA 2008), one after the other. TLS is started later by httpcore on the
    stream returned, with the host name (not the address) for SNI and the certificate check."""

    def __init__(self, guard: Guard) -> None:
        self.guard = guard
        self.inner = httpcore.AnyIOBackend()

    async def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                          local_address: str | None = None,
                          socket_options: Iterable[Any] | None = None) -> httpcore.AsyncNetworkStream:
        try:
            async with asyncio.timeout(timeout):
                addresses = await self.guard.addresses(host, port)
        except TimeoutError as e:
            raise httpcore.ConnectTimeout(f"resolving {host} timed out") from e
        except OSError as e:
            raise httpcore.ConnectError(str(e)) from e
        failure: Exception | None = None
        for address in addresses:
            try:
                return await self.inner.connect_tcp(address, port, timeout, local_address,
                                                    socket_options)
            except httpcore.ConnectError as e:  # refused or unreachable: the next address
                failure = e
        assert failure is not None
        raise failure

    async def connect_unix_socket(self, path: str, timeout: float | None = None,
                                  socket_options: Iterable[Any] | None = None) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("Unix sockets are not used")

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


class _GuardedTransport(httpx.AsyncHTTPTransport):
    """httpx's default transport whose connections go through _GuardedBackend. httpx offers no
    argument for a network backend, so its pool is replaced by one made the same way with the
    public httpcore constructor (checked, so that a change in httpx fails loudly)."""

    def __init__(self, backend: _GuardedBackend, ssl_context: ssl.SSLContext,
                 limits: httpx.Limits) -> None:
        super().__init__(verify=ssl_context, http2=True, limits=limits)
        if not isinstance(self._pool, httpcore.AsyncConnectionPool):  # pragma: no cover
            raise TypeError(f"httpx's transport has no connection pool: {self._pool!r}")
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=ssl_context, max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry, http1=True, http2=True,
            network_backend=backend)


def tls_context() -> ssl.SSLContext:
    """A TLS context verifying as httpx does (its own making: certifi's authorities, or
    SSL_CERT_FILE / SSL_CERT_DIR when set), offering HTTP/1.1 alone by ALPN. Each client has
    its own: httpcore sets ALPN on the context it is given, and an aiohttp connection that
    agreed on h2 would then be spoken to in HTTP/1.1."""
    context = httpx.create_ssl_context(trust_env=True)
    context.set_alpn_protocols(["http/1.1"])
    return context


class Client:
    """The HTTP client shared by the whole daemon (feeds, pages, notifiers): connection pooling
    across requests; aiohttp for GETs, httpx for POSTs (HTTP/2 where the receiver offers it)
    and for GETs a proxy variable carries (see the module's docstring). Our own Limits bound the
    concurrency; the pools are sized above them so a request never waits on a pool after it
    got its slot. Use it as ``async with make_client(cfg) as client`` or close it with aclose().

    Every GET connects only to addresses the guard resolved and checked (fetch/guard.py);
    ``resolve`` replaces the system resolver (the tests' hostile DNS). With the guard on, no
    proxy is used: a URL a proxy variable applies to is refused (``proxy_for``), since the
    proxy would resolve the name itself. POSTs (notifiers, configured by the operator) are
    not guarded."""

    def __init__(self, cfg: FetchConfig, resolve: Resolve | None = None) -> None:
        self.cfg = cfg
        self.connections = max(50, cfg.concurrency + 10)
        self.guard = Guard(resolve, check=not cfg.allow_private_networks)
        self._httpx: httpx.AsyncClient | None = None
        self._poster: httpx.AsyncClient | None = None
        # httpx honours the proxy variables of the environment (HTTP_PROXY, ALL_PROXY...);
        # when one applies to a scheme, that scheme's GETs stay on httpx so that it still does.
        # With the guard on, such URLs are refused before either transport sees them.
        proxies = self._proxy_variables = urllib.request.getproxies()
        self._aiohttp_schemes = frozenset(
            scheme for scheme in ("http", "https")
            if self.guard.check or not (proxies.get(scheme) or proxies.get("all")))
        self._proxies = any(value for kind, value in proxies.items() if kind != "no")
        self._session: aiohttp.ClientSession | None = None
        self._tls: ssl.SSLContext | None = None

    def proxy_for(self, parts: SplitResult) -> str | None:
        """The proxy variable that applies to a URL (the name of its kind: "https", "all"),
        else None."""
        proxies = self._proxy_variables
        kind = parts.scheme if proxies.get(parts.scheme) else "all" if proxies.get("all") else None
        if kind is None or urllib.request.proxy_bypass(parts.hostname or ""):
            return None
        return kind

    def _httpx_client(self, *, guarded: bool) -> httpx.AsyncClient:
        cfg = self.cfg
        limits = httpx.Limits(max_connections=self.connections,
                              max_keepalive_connections=max(20, cfg.concurrency))
        # SSL_CERT_FILE / SSL_CERT_DIR are honoured even where the proxy variables are not
        ssl_context = httpx.create_ssl_context(trust_env=True)
        if guarded and not self.guard.check and self._proxies:
            guarded = False  # httpx's own transports, which follow the proxy variables
        transport = (_GuardedTransport(_GuardedBackend(self.guard), ssl_context, limits)
                     if guarded else None)
        return httpx.AsyncClient(
            timeout=httpx.Timeout(cfg.timeout, connect=min(cfg.timeout, 10.0)),
            follow_redirects=False,  # followed in fetch(), so each hop is checked
            headers={"User-Agent": cfg.user_agent or DEFAULT_USER_AGENT},
            verify=ssl_context, limits=limits, http2=True, transport=transport,
            # with the guard on, GETs follow no proxy variable (see proxy_for)
            trust_env=not (guarded and self.guard.check),
        )

    @property
    def poster(self) -> httpx.AsyncClient:
        """The httpx client for POSTs: the GETs' one when the guard is off; else one of its
        own, with the system's resolver and the proxy variables, since a notifier's address is
        the operator's choice (a chat server on the local network, say), not a feed's."""
        if not self.guard.check:
            return self.httpx
        if self._poster is None:
            self._poster = self._httpx_client(guarded=False)
        return self._poster

    @property
    def httpx(self) -> httpx.AsyncClient:
        """The httpx client for the GETs a proxy variable carries (guard off), and for POSTs
        with the guard off; made on first use (its TLS context takes tens of milliseconds to
        load, for nothing when no request needs it)."""
        if self._httpx is None:
            self._httpx = self._httpx_client(guarded=True)
        return self._httpx

    def session(self, scheme: str) -> aiohttp.ClientSession | None:
        """The aiohttp session for GETs of ``scheme`` ("http" or "https"), made on first use
        (it needs the running loop); None when that scheme's GETs go through httpx."""
        if scheme not in self._aiohttp_schemes:
            return None
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self.connections, limit_per_host=0,
                                               keepalive_timeout=5.0,
                                               resolver=_GuardedResolver(self.guard)),
                # like httpx's client: the cookies a site sets are sent back to it
                cookie_jar=aiohttp.CookieJar(unsafe=True, quote_cookie=False),
                auto_decompress=False,  # decompressed by _Decoder, within max_bytes
                max_line_size=MAX_HEADER_LINE, max_field_size=MAX_HEADER_LINE,
                max_headers=MAX_HEADERS)
        return self._session

    def tls(self) -> ssl.SSLContext:
        """The TLS context of aiohttp's https GETs, made on first use (loading the authorities
        takes tens of milliseconds, for nothing when every feed is plain http)."""
        if self._tls is None:
            self._tls = tls_context()
        return self._tls

    async def aclose(self) -> None:
        if self._httpx is not None:
            await self._httpx.aclose()
        if self._poster is not None:
            await self._poster.aclose()
        if self._session is not None:
            await self._session.close()

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


def make_client(cfg: FetchConfig, resolve: Resolve | None = None) -> Client:
    return Client(cfg, resolve)


def _unknown() -> bool:
    return False


@dataclass(slots=True)
class _Response:
    """What fetch() needs of a response, whichever transport got it: the status, the headers
    (names lower-cased, repeated ones joined by ", " as httpx does), the raw body chunks
    (Content-Encoding not undone), and whether the body is known to be all read already."""
    status: int
    headers: dict[str, str]
    chunks: Callable[[], AsyncIterator[bytes]]
    finished: Callable[[], bool] = _unknown


def _header_dict(pairs: Sequence[tuple[bytes, bytes]]) -> dict[str, str]:
    # Decoded as httpx does: ASCII, else UTF-8, else Latin-1 for the whole set.
    for encoding in ("ascii", "utf-8", "iso-8859-1"):
        try:
            decoded = [(k.decode(encoding).lower(), v.decode(encoding)) for k, v in pairs]
            break
        except UnicodeDecodeError:
            continue
    headers: dict[str, str] = {}
    for name, value in decoded:
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    return headers


@contextlib.asynccontextmanager
async def _get(client: Client, url: str, headers: dict[str, str],
               cfg: FetchConfig) -> AsyncIterator[_Response]:
    """One GET, not following redirects, its body streamed from the response yielded."""
    https = url.startswith("https://")
    session = client.session("https" if https else "http")
    if session is not None:
        # sock_connect bounds the TLS handshake too: aiohttp makes it part of the connection
        timeout = aiohttp.ClientTimeout(sock_connect=min(cfg.timeout, 10.0), sock_read=cfg.timeout)
        async with session.get(url, headers=headers, allow_redirects=False, timeout=timeout,
                               ssl=client.tls() if https else True) as response:
            yield _Response(response.status, _header_dict(response.raw_headers),
                            response.content.iter_any, response.content.at_eof)
        return
    timeouts = httpx.Timeout(cfg.timeout, connect=min(cfg.timeout, 10.0))
    async with client.httpx.stream("GET", url, headers=headers, timeout=timeouts) as response:
        yield _Response(response.status_code, _header_dict(response.headers.raw),
                        response.aiter_raw)


class Limits:
    """A global limit and a per-host limit on requests in flight, so one slow host
    can't hold the rest: a request waits for its host's slot first, and only then for a global
    one, so requests queued behind a slow host hold no global slot."""

    def __init__(self, total: int, per_host: int) -> None:
        self.total = asyncio.Semaphore(total)
        self.per_host = per_host
        self._hosts: dict[str, asyncio.Semaphore] = {}

    def slot(self, url: str, parts: SplitResult | None = None) -> _Slot:
        """A request's slots, taken by ``async with``. ``parts``: ``urlsplit(url)``, when the
        caller has it already."""
        parts = parts or urlsplit(url)
        host = f"{parts.hostname}:{parts.port}" if parts.port else (parts.hostname or "")
        semaphore = self._hosts.get(host)
        if semaphore is None:
            semaphore = self._hosts[host] = asyncio.Semaphore(self.per_host)
        return _Slot(semaphore, self.total)


class _Slot:
    """The host's slot, then a global one; released in the reverse order. A plain class rather
    than a generator-based context manager: every poll takes one, and a 304 costs little else."""

    __slots__ = ("host", "total")

    def __init__(self, host: asyncio.Semaphore, total: asyncio.Semaphore) -> None:
        self.host = host
        self.total = total

    async def __aenter__(self) -> None:
        await self.host.acquire()
        try:
            await self.total.acquire()
        except BaseException:  # cancelled while waiting: the host's slot goes back
            self.host.release()
            raise

    async def __aexit__(self, *exc: object) -> None:
        self.total.release()
        self.host.release()


async def check_url_allowed(url: str, cfg: FetchConfig, client: Client | None = None) -> SplitResult:
    """Refuse non-HTTP URLs, and, with the guard on, hosts written as non-public addresses and
    URLs a proxy would carry. Host names are checked by the transports as they connect
    (Guard.addresses). Returns the URL's parts."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise FetchError(f"refused URL scheme {parts.scheme!r}", url=url)
    if not parts.hostname:
        raise FetchError("URL has no host", url=url)
    try:
        parts.port  # "http://host:99999/", "http://host:x/" raise
    except ValueError as e:
        raise FetchError(f"invalid URL: {e}", url=url) from e
    if cfg.allow_private_networks:
        return parts
    literal = ip_literal(parts.hostname)
    if literal is not None:
        refusal = Guard(None, check=True).refusal(str(literal), [str(literal)])
        if refusal is not None:
            raise FetchError(str(refusal), url=url)
    proxy = client.proxy_for(parts) if client is not None else None
    if proxy is not None:
        raise FetchError(
            f"refused: a proxy is set for {proxy} URLs ({proxy.upper()}_PROXY), and the "
            "private-address guard cannot check where a proxy connects; set [fetch] "
            "allow_private_networks = true to fetch through it (the proxy must then refuse "
            "internal addresses itself), or exempt the host with NO_PROXY", url=url)
    return parts


def _where(url: str) -> str:
    """``host:port`` of a URL, as an error names the far end."""
    try:
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return url
    host = parts.hostname or url
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


_ERRNO = re.compile(r"\[Errno (\d+)\]")


def _os_reason(error: BaseException) -> str:
    """The operating system's words for a failure somewhere in ``error``'s chain ("connection
    refused"), without the errno, or ""."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        certificate = getattr(current, "certificate_error", None)  # aiohttp keeps it aside
        if isinstance(certificate, BaseException) and id(certificate) not in seen:
            current = certificate
            continue
        if isinstance(current, ssl.SSLError):
            reason = getattr(current, "reason", None) or current.strerror or current
            return f"TLS: {reason}"
        if isinstance(current, OSError):
            # asyncio words a refused connection "Connect call failed (addr)", and several
            # addresses tried as "Multiple exceptions: [Errno 111] ...": the errno says it best.
            number = current.errno or next(map(int, _ERRNO.findall(str(current))), None)
            if number:
                return os.strerror(number).lower()
            if current.strerror:
                return current.strerror.lower()
        os_error = getattr(current, "os_error", None)  # aiohttp keeps it aside
        if isinstance(os_error, BaseException) and id(os_error) not in seen:
            current = os_error
            continue
        current = current.__cause__ or current.__context__
    return ""


def status_message(status: int, url: str) -> str:
    """"HTTP 404 Not Found at https://...": the status, its standard phrase, the URL."""
    try:
        phrase = f" {http.HTTPStatus(status).phrase}"
    except ValueError:  # a status no standard names
        phrase = ""
    return f"HTTP {status}{phrase} at {url}"


def transport_message(error: BaseException, url: str, *, named: bool = True) -> str:
    """A failed exchange said plainly, naming the far end, whichever library failed (httpx or
    aiohttp): the one place where their exception texts become ours. ``named=False`` leaves
    the URL and its host out (a notifier's URL may hold a token): "the receiver" instead."""
    where = _where(url) if named else "the receiver"
    at = f" at {url}" if named else ""
    reason = _os_reason(error)
    if isinstance(error, (httpx.ConnectTimeout, aiohttp.ConnectionTimeoutError)):
        return f"cannot connect to {where} (no answer within the connect timeout)"
    if isinstance(error, (httpx.TimeoutException, aiohttp.ServerTimeoutError)):
        return f"{where} stopped answering (read timeout){at}"
    if isinstance(error, (aiohttp.ClientSSLError, aiohttp.ServerFingerprintMismatch)):
        return f"cannot connect to {where} ({reason or 'TLS handshake failed'})"
    if isinstance(error, (httpx.ConnectError, aiohttp.ClientConnectorError)):
        return f"cannot connect to {where} ({reason or 'connection failed'})"
    if isinstance(error, (httpx.RemoteProtocolError, aiohttp.ServerDisconnectedError)):
        return f"{where} closed the connection without a whole answer{at}"
    if isinstance(error, (httpx.ReadError, httpx.WriteError, aiohttp.ClientOSError)):
        return f"the connection to {where} failed ({reason or 'network error'}){at}"
    if isinstance(error, (httpx.InvalidURL, aiohttp.InvalidURL)):
        return f"invalid URL {url!r}" if named else "invalid URL"
    if not named:
        return f"request failed: {type(error).__name__}"  # its text may repeat the URL
    detail = " ".join(str(error).split()) or type(error).__name__
    return f"request to {url} failed: {detail}"


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    # Decimal seconds such as "1.5" are not RFC 9110, but Discord sends them.
    if value.isascii() and value.replace(".", "", 1).isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def accept_encoding() -> str:
    return "gzip, deflate, br" if brotli is not None else "gzip, deflate"


async def fetch(
    client: Client,
    url: str,
    cfg: FetchConfig,
    *,
    etag: str | None = None,
    last_modified: str | None = None,
    limits: Limits | None = None,
) -> FetchResult:
    """GET ``url`` conditionally. 304 is a normal result; everything else that fails raises FetchError.

    Each hop passes the private-address guard; the whole exchange (all hops, headers and body)
    must finish within ``total_timeout`` seconds of active time, besides the connect and read
    timeouts, so a server trickling a byte a second can't hold a feed. The body is capped at
    ``max_bytes`` both as received and once decompressed, while streaming."""
    headers = {"Accept-Encoding": accept_encoding(),
               "User-Agent": cfg.user_agent or DEFAULT_USER_AGENT}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    budget = cfg.total_timeout
    current = url
    moved: str | None = None
    permanent_so_far = True
    for _hop in range(cfg.max_redirects + 1):
        parts = await check_url_allowed(current, cfg, client)
        async with limits.slot(current, parts) if limits else contextlib.nullcontext():
            started = time.monotonic()
            try:
                async with asyncio.timeout(budget):
                    async with _get(client, current, headers, cfg) as response:
                        status = response.status
                        if status in REDIRECT_STATUSES:
                            if "location" not in response.headers:
                                raise FetchError(f"{status_message(status, current)}, "
                                                 "without a Location header", url=current,
                                                 status=status)
                            target = urljoin(current, response.headers["location"])
                            if permanent_so_far and status in (301, 308):
                                moved = target
                            else:
                                permanent_so_far = False
                            current = target
                            await _drain(response)
                            budget -= time.monotonic() - started
                            continue
                        result = await _read(response, current, cfg)
            except (httpx.TimeoutException, aiohttp.ServerTimeoutError) as e:
                # before TimeoutError: aiohttp's connect and read timeouts are TimeoutErrors too
                raise FetchError(f"timed out: {transport_message(e, current)}",
                                 url=current) from e
            except TimeoutError as e:
                raise FetchError(f"took longer than total_timeout ({cfg.total_timeout:g}s) at "
                                 f"{current}", url=current) from e
            except (httpx.HTTPError, aiohttp.ClientError) as e:
                raise FetchError(transport_message(e, current), url=current) from e
            except AddressRefused as e:
                raise FetchError(str(e), url=current) from e
        if moved and moved != url:
            result = dataclasses.replace(result, moved_to=moved)
        return result
    raise FetchError(f"more than {cfg.max_redirects} redirects", url=url)


class BodyTooLarge(Exception):
    pass


class _Inflater(Protocol):
    """zlib's decompressor object, as the gzip and deflate stages use it."""

    @property
    def eof(self) -> bool: ...

    @property
    def unused_data(self) -> bytes: ...

    def decompress(self, data: bytes, max_length: int = ..., /) -> bytes: ...


class _Unbrotli(Protocol):
    """brotli's Decompressor, which ships no type information."""

    def process(self, data: bytes, output_buffer_limit: int) -> bytes: ...


@dataclass(slots=True)
class _Stage:
    """One Content-Encoding being undone. A deflate stage's inflater is made on its first bytes,
    which tell a zlib-wrapped stream from a raw one."""
    kind: str  # "gzip", "deflate" or "br"
    inflater: _Inflater | None = None
    unbrotli: _Unbrotli | None = None


class _Decoder:
    """Content-Encoding undone chunk by chunk, never producing more than ``limit`` bytes in
    all: a gzip bomb is stopped after ``limit`` bytes of output, not after it filled memory."""

    def __init__(self, encodings: list[str], limit: int) -> None:
        self.limit = limit
        self.size = 0
        # "Content-Encoding: gzip, br" means gzip first, then br: undo them from the last.
        self.stages: list[_Stage] = [self._stage(e) for e in reversed(encodings)]

    @staticmethod
    def _stage(encoding: str) -> _Stage:
        if encoding in ("gzip", "x-gzip"):
            return _Stage("gzip", inflater=zlib.decompressobj(16 + zlib.MAX_WBITS))
        if encoding == "deflate":
            return _Stage("deflate")  # zlib-wrapped or raw: decided on the first bytes
        if encoding == "br" and brotli is not None:
            return _Stage("br", unbrotli=brotli.Decompressor())
        raise ValueError(f"unsupported Content-Encoding {encoding!r}")

    def _run(self, stage: _Stage, data: bytes, room: int) -> bytes:
        if stage.unbrotli is not None:
            return bytes(stage.unbrotli.process(data, output_buffer_limit=room + 1))
        state = stage.inflater
        if state is None:  # deflate's first bytes
            state = stage.inflater = zlib.decompressobj()
            try:
                return state.decompress(data, room + 1)
            except zlib.error:
                state = stage.inflater = zlib.decompressobj(-zlib.MAX_WBITS)
        out = state.decompress(data, room + 1)
        while state.eof and state.unused_data and len(out) <= room and stage.kind == "gzip":
            # concatenated gzip members
            rest = state.unused_data
            state = stage.inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
            out += state.decompress(rest, room + 1 - len(out))
        return out

    def feed(self, data: bytes) -> bytes:
        room = self.limit - self.size
        try:
            for stage in self.stages:
                data = self._run(stage, data, room)
                if len(data) > room:
                    raise BodyTooLarge
        except (zlib.error, brotli_error) as e:
            raise ValueError(f"cannot decompress the body: {e}") from e
        self.size += len(data)
        return data


async def _body(response: _Response, limit: int, *, truncate: bool = False) -> bytes:
    """The body, decompressed and capped at ``limit`` bytes as received and once decompressed.
    Over the cap: BodyTooLarge, or the first ``limit`` bytes when ``truncate``."""
    encodings = [e.strip().lower() for e in response.headers.get("content-encoding", "").split(",")
                 if e.strip() and e.strip().lower() != "identity"]
    decoder = _Decoder(encodings, limit) if encodings else None
    chunks: list[bytes] = []
    size = 0
    received = 0
    try:
        async for raw in response.chunks():
            received += len(raw)
            if received > limit:
                raise BodyTooLarge
            chunk = decoder.feed(raw) if decoder else raw
            size += len(chunk)
            if size > limit:
                raise BodyTooLarge
            chunks.append(chunk)
    except BodyTooLarge:
        if not truncate:
            raise
    return b"".join(chunks)[:limit]


# Anti-bot walls: "blocked" is a state of its own, not a generic error, since the feed is
# there and working but refuses us.
CHALLENGE_HEADERS = {"cf-mitigated": "challenge", "x-datadome": None, "x-sucuri-block": None,
                     "x-amzn-waf-action": None}
CHALLENGE_MARKERS = (
    b"cf-chl", b"challenge-platform", b"<title>just a moment...</title>",
    b"attention required! | cloudflare", b"_incapsula_resource", b"captcha-delivery.com",
    b"px-captcha", b"ddos-guard", b"sucuri website firewall", b"checking your browser before",
    b"awswafintegration", b"enable javascript and cookies to continue",
)


def is_challenge(status: int, headers: dict[str, str], body_head: bytes) -> bool:
    """A 403, 429 or 503 that is an anti-bot challenge page rather than a plain refusal."""
    if status not in (403, 429, 503):
        return False
    for name, value in CHALLENGE_HEADERS.items():
        got = headers.get(name)
        if got is not None and (value is None or got.strip().lower() == value):
            return True
    head = body_head[:65536].lower()
    return any(marker in head for marker in CHALLENGE_MARKERS)


# What is read of a body left unused (a 304's, a redirect's) so that its connection can serve
# the next request: a response left unread has its connection closed (httpx, aiohttp), and
# every poll of an https feed then paid a new TLS handshake, 3 ms of CPU here.
DRAIN_BYTES = 65536
DRAIN_SECONDS = 1.0


async def _drain(response: _Response) -> None:
    """Read the rest of a body we don't use, if it is short and quick to come; else give up
    (the connection is closed instead, as before)."""
    if response.finished():  # a 304's empty body, as a rule: no deadline to set up
        return
    received = 0
    try:
        async with asyncio.timeout(DRAIN_SECONDS):
            async for chunk in response.chunks():
                received += len(chunk)
                if received > DRAIN_BYTES:
                    return
    except (TimeoutError, httpx.HTTPError, aiohttp.ClientError):
        pass


async def _read(response: _Response, url: str, cfg: FetchConfig) -> FetchResult:
    status = response.status
    response_headers = dict(response.headers)
    if status == 304:
        await _drain(response)
        return FetchResult(url=url, status=304, headers=response_headers, not_modified=True,
                           etag=response.headers.get("etag"),
                           last_modified=response.headers.get("last-modified"))
    if status >= 400 or status < 200:
        try:
            head = await _body(response, 65536, truncate=True)
        except (ValueError, httpx.HTTPError, aiohttp.ClientError):
            head = b""
        blocked = is_challenge(status, response_headers, head)
        reason = status_message(status, url) + (" (an anti-bot challenge)" if blocked else "")
        raise FetchError(reason, url=url, status=status, blocked=blocked,
                         retry_after=parse_retry_after(response.headers.get("retry-after")))
    declared = response.headers.get("content-length", "")
    encoded = response.headers.get("content-encoding", "").strip().lower() not in ("", "identity")
    if declared.isdigit() and int(declared) > cfg.max_bytes:
        raise FetchError(f"body of {declared} bytes is over max_bytes ({cfg.max_bytes})", url=url)
    try:
        content = await _body(response, cfg.max_bytes)
    except BodyTooLarge:
        what = "decompressed body" if encoded else "body"
        raise FetchError(f"{what} over max_bytes ({cfg.max_bytes})", url=url) from None
    except ValueError as e:
        raise FetchError(str(e), url=url) from e
    # The body handed on is decoded: its length and encoding headers no longer describe it.
    response_headers.pop("content-encoding", None)
    response_headers.pop("content-length", None)
    return FetchResult(url=url, status=status, content=content, headers=response_headers,
                       etag=response.headers.get("etag"),
                       last_modified=response.headers.get("last-modified"))


@dataclass(frozen=True, slots=True)
class PostResult:
    status: int
    headers: dict[str, str]
    text: str  # the start of the answer (POST_ANSWER_MAX bytes at most), for error messages


# What is read of a receiver's answer: enough for an error message, and an answer of 800 MB
# (or one that never ends) costs no more than that.
POST_ANSWER_MAX = 4096


async def _answer_head(response: _Response, limit: int) -> bytes:
    """The first ``limit`` bytes of an answer, decompressed; the rest is never read (leaving
    the stream closes the connection)."""
    encodings = [e.strip().lower() for e in response.headers.get("content-encoding", "").split(",")
                 if e.strip() and e.strip().lower() != "identity"]
    try:
        decoder = _Decoder(encodings, limit) if encodings else None
    except ValueError:  # an encoding we can't undo: no text
        return b""
    head = b""
    try:
        async for raw in response.chunks():
            head += decoder.feed(raw) if decoder else raw[:limit - len(head)]
            if len(head) >= limit:
                break
    except (BodyTooLarge, ValueError):  # past the limit once decompressed, or undecodable
        pass
    return head[:limit]


async def post(
    client: Client,
    url: str,
    body: bytes,
    headers: dict[str, str],
    timeout: float,
) -> PostResult:
    """POST ``body``; returns whatever status came back, with the start of the answer.
    ``timeout`` bounds the whole exchange (connect, request, answer), not each read: a
    receiver trickling a byte at a time can't hold a notifier longer. Transport failures
    raise FetchError, whose message leaves the URL out (a notifier's URL may hold a token)."""
    try:
        async with asyncio.timeout(timeout):
            async with client.poster.stream("POST", url, content=body, headers=headers,
                                            timeout=timeout) as response:
                answer = _Response(response.status_code, _header_dict(response.headers.raw),
                                   response.aiter_raw)
                head = await _answer_head(answer, POST_ANSWER_MAX)
    except httpx.TimeoutException as e:
        raise FetchError(f"timed out: {transport_message(e, url, named=False)}", url=url) from e
    except TimeoutError as e:
        raise FetchError(f"timed out: took longer than {timeout:g}s in all", url=url) from e
    except httpx.HTTPError as e:
        raise FetchError(transport_message(e, url, named=False), url=url) from e
    return PostResult(status=answer.status, headers=answer.headers,
                      text=head.decode("utf-8", "replace"))


async def redirect_target(client: Client, url: str, cfg: FetchConfig, *,
                          limits: Limits | None = None) -> str | None:
    """Where ``url`` redirects to, asked once and not followed (a news engine's link to the
    publisher): the absolute Location of a 3xx, None for any other answer. The address guard,
    the limits and the deadline apply as to fetch(); failures raise FetchError."""
    headers = {"User-Agent": cfg.user_agent or DEFAULT_USER_AGENT}
    parts = await check_url_allowed(url, cfg)
    async with limits.slot(url, parts) if limits else contextlib.nullcontext():
        try:
            async with asyncio.timeout(cfg.total_timeout):
                async with _get(client, url, headers, cfg) as response:
                    location = response.headers.get("location")
                    await _drain(response)
        except TimeoutError as e:
            raise FetchError(f"took longer than total_timeout ({cfg.total_timeout:g}s) at "
                             f"{url}", url=url) from e
        except (httpx.HTTPError, httpx.InvalidURL, aiohttp.ClientError) as e:
            raise FetchError(transport_message(e, url), url=url) from e
    if response.status in REDIRECT_STATUSES and location:
        return urljoin(url, location.strip())
    return None
