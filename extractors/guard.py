"""The private-address guard: which IP addresses marsad may connect to.

Feed items are untrusted input, so a feed must never make marsad fetch an internal address. Every
connection is checked against the address actually connected to (after DNS, after every redirect);
only public unicast addresses pass, unless an address or host is in fetch.allow_private.
GuardedResolver enforces that for every host name the Fetcher's aiohttp session resolves, and
check_literal_host for a URL whose host is an IP address (the Fetcher's only way out).
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass

import aiohttp
import aiohttp.abc
from aiohttp.abc import ResolveResult

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


class GuardedResolver(aiohttp.abc.AbstractResolver):
    """aiohttp's resolver for the Fetcher: resolves a host name, checks every address it gives
    and refuses them all if one is not allowed (DNS answers may rotate), so that aiohttp only
    ever connects to checked addresses. aiohttp does not resolve IP literals: check_literal_host
    is the Fetcher's check for those, made before each request."""

    def __init__(self, allow: AllowList) -> None:
        self._allow = allow

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        loop = asyncio.get_running_loop()
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM, family=family)
        if not infos:
            raise OSError(f"{host} did not resolve")
        for info in infos:
            check_address(host, str(info[4][0]), self._allow)
        numeric = socket.AI_NUMERICHOST | socket.AI_NUMERICSERV
        answers: dict[tuple[str, int], ResolveResult] = {}
        for fam, _type, proto, _name, address in infos:
            ip = str(address[0])
            answers.setdefault(
                (ip, fam),
                {"hostname": host, "host": ip, "port": int(address[1]), "family": fam,
                 "proto": proto, "flags": numeric},
            )  # fmt: skip
        return list(answers.values())

    async def close(self) -> None:
        return None


def check_literal_host(host: str, allow: AllowList) -> None:
    """Raise BlockedAddress when `host` is an IP address (a URL's host written as one) that is
    not allowed; host names are left to GuardedResolver. Decided once per host and allow list:
    parsing the address took 4% of a pass's main process when done for every page."""
    refusal = _literal_refusal(host, allow)
    if refusal is not None:
        raise BlockedAddress(refusal)


@functools.lru_cache(maxsize=4096)
def _literal_refusal(host: str, allow: AllowList) -> str | None:
    try:
        ipaddress.ip_address(host.strip("[]").split("%")[0])
    except ValueError:
        return None
    try:
        check_address(host, host.strip("[]"), allow)
    except BlockedAddress as exc:
        return str(exc)
    return None
