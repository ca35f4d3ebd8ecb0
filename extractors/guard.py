"""The private-address guard: which IP addresses marsad may connect to.

Feed items are untrusted input, so a feed must never make marsad fetch an internal address. Every
connection is checked against the address actually connected to (after DNS, after every redirect);
only public unicast addresses pass, unless an address or host is in fetch.allow_private.
GuardedBackend enforces that at connect time for httpx (the Fetcher's only way out).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass

import httpcore
import httpx

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class BlockedAddress(Exception):
    """A URL's host resolves to an address marsad refuses to connect to."""


@dataclass(frozen=True)
class AllowList:
    """Hosts and networks that may be fetched although they are not public."""

    hosts: frozenset[str] = frozenset()
    networks: tuple[IPNetwork, ...] = ()

    @classmethod
    def parse(cls, entries: Iterable[str]) -> AllowList:
        """Build from config entries: host names, IP addresses or CIDRs ("10.0.0.0/8")."""
        hosts: set[str] = set()
        networks: list[IPNetwork] = []
        for entry in entries:
            text = entry.strip().lower().strip("[]")
            try:
                networks.append(ipaddress.ip_network(text, strict=False))
            except ValueError:
                hosts.add(text.rstrip("."))
        return cls(frozenset(hosts), tuple(networks))


def is_public(ip: IPAddress) -> bool:
    """True for a globally routable unicast address; False for loopback, private, link-local,
    multicast, reserved, unspecified, shared (CGNAT), documentation and similar ranges, including
    IPv4 addresses embedded in IPv6 (mapped, 6to4, Teredo)."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return is_public(ip.ipv4_mapped)
        embedded = ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        if embedded is not None and not is_public(embedded):
            return False
    if ip.is_multicast or ip.is_unspecified or ip.is_reserved or ip.is_loopback:
        return False
    if ip.is_link_local or ip.is_private:
        return False
    return ip.is_global


def address_allowed(host: str, ip: IPAddress, allow: AllowList) -> bool:
    """The guard's decision for connecting to `ip` on behalf of URL host `host`."""
    if is_public(ip):
        return True
    if host.lower().rstrip(".").strip("[]") in allow.hosts:
        return True
    return any(ip in network for network in allow.networks if network.version == ip.version)


def check_address(host: str, ip_text: str, allow: AllowList) -> IPAddress:
    """Return the parsed address, or raise BlockedAddress with a sentence a user can act on."""
    ip = ipaddress.ip_address(ip_text.split("%")[0])
    if not address_allowed(host, ip, allow):
        raise BlockedAddress(
            f"refused to connect to {host} ({ip}): not a public address; add it to "
            "fetch.allow_private if this is intended"
        )
    return ip


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """Resolves the host itself, checks every address, then connects to a checked address."""

    def __init__(self, allow: AllowList) -> None:
        self._inner = httpcore.AnyIOBackend()
        self._allow = allow

    async def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):  # type: ignore[no-untyped-def]
        loop = asyncio.get_running_loop()
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        addresses = list(dict.fromkeys(info[4][0] for info in infos))
        if not addresses:
            raise OSError(f"{host} did not resolve")
        for address in addresses:  # refuse if any answer is internal: DNS may rotate
            check_address(host, address, self._allow)
        last: Exception | None = None
        for address in addresses:
            try:
                return await self._inner.connect_tcp(
                    address,
                    port,
                    timeout=timeout,
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last = exc
        assert last is not None
        raise last

    async def connect_unix_socket(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        raise BlockedAddress("refused a unix socket connection")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


def guarded_transport(allow: AllowList, max_connections: int) -> httpx.AsyncHTTPTransport:
    """An httpx transport whose every connection goes through GuardedBackend (no proxies)."""
    ssl_context = httpx.create_ssl_context(trust_env=False)  # ~20 ms: made once, used twice
    transport = httpx.AsyncHTTPTransport(verify=ssl_context, trust_env=False)
    transport._pool = httpcore.AsyncConnectionPool(
        ssl_context=ssl_context,
        max_connections=max_connections,
        max_keepalive_connections=max_connections,
        keepalive_expiry=5.0,
        network_backend=GuardedBackend(allow),
    )
    return transport
