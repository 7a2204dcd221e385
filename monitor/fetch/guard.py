"""Fetch stage: the private-address guard, free of the HTTP libraries.

A host name (ASCII, exactly as the HTTP client put it on the wire) -> the addresses to connect
to, every one of them checked. Both transports of fetch/client.py connect only to what
Guard.addresses() returned, so the name checked is the name connected to and nothing is
resolved twice (see docs/design.md, "Connecting only to checked addresses").
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# A resolver: (ASCII host name, port) -> address strings. The system's by default; tests hand
# the client their own, answering as a hostile DNS server would, without any traffic.
Resolve = Callable[[str, int], Awaitable[list[str]]]

# Ranges ipaddress counts as global that no public server should sit in.
NOT_PUBLIC = (
    ipaddress.ip_network("fec0::/10"),  # site-local: deprecated (RFC 3879), still routed inside sites
    ipaddress.ip_network("3fff::/20"),  # documentation (RFC 9637)
    ipaddress.ip_network("5f00::/16"),  # SRv6 segment identifiers (RFC 9602)
)

# The NAT64 well-known prefix carries an IPv4 address in its last 32 bits.
NAT64 = ipaddress.ip_network("64:ff9b::/96")


class AddressRefused(Exception):
    """The guard refused every way to reach a host (fetch() makes it a FetchError)."""


def is_public_address(address: IPAddress) -> bool:
    """True when an address is a public unicast one (the guard against SSRF)."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is None and address in NAT64:
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is not None:
            return is_public_address(embedded)
        if address.is_site_local or any(address in net for net in NOT_PUBLIC):
            return False
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


def ip_literal(host: str) -> IPAddress | None:
    """The address a host is written as (``[::1]`` without its brackets), else None."""
    try:
        return ipaddress.ip_address(host.strip("[]").split("%", 1)[0])
    except ValueError:
        return None


async def system_resolve(host: str, port: int) -> list[str]:
    """The system resolver's answer, each address once, in its order of preference.
    ``host`` is already ASCII (the client's IDNA encoding), so Python's own IDNA 2003 codec
    leaves it as it is."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


class Guard:
    """One resolution per connection, shared by the check and the connect. With ``check``
    off (``allow_private_networks``), names are still resolved here, only not refused."""

    def __init__(self, resolve: Resolve | None, *, check: bool) -> None:
        self.resolve = resolve or system_resolve
        self.check = check

    def refusal(self, host: str, addresses: list[str]) -> AddressRefused | None:
        refused = refused_addresses(addresses) if self.check else []
        if not refused:
            return None
        what = "is" if addresses == [host] else "resolves to"
        return AddressRefused(
            f"refused: {host} {what} a non-public address ({', '.join(refused)}); "
            "set [fetch] allow_private_networks = true to allow it")

    async def addresses(self, host: str, port: int) -> list[str]:
        """The addresses to connect to for ``host``: all of them, once every one passed the
        check (one refused address refuses the host: a client may try any of them).
        Raises AddressRefused, or OSError when the name does not resolve."""
        literal = ip_literal(host)
        if literal is not None:
            addresses = [str(literal)]
        else:
            try:
                addresses = await self.resolve(host, port)
            except UnicodeError as e:  # a label too long for DNS, say
                raise socket.gaierror(f"cannot resolve {host}: {e}") from e
            if not addresses:
                raise socket.gaierror(f"cannot resolve {host}: no address")
        refusal = self.refusal(host, addresses)
        if refusal is not None:
            raise refusal
        return addresses
