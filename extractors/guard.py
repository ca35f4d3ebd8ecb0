"""The private-address guard: which IP addresses marsad may connect to.

Feed items are untrusted input, so a feed must never make marsad fetch an internal address. Every
connection is checked against the address actually connected to (after DNS, after every redirect);
only public unicast addresses pass, unless an address or host is in fetch.allow_private.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass

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
