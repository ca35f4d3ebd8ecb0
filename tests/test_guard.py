"""The private-address guard's decision function (no connection is made here)."""

from __future__ import annotations

import ipaddress

import pytest

from extractors.guard import AllowList, BlockedAddress, address_allowed, check_address, is_public

# Addresses are only parsed and classified below, never connected to.
NOT_PUBLIC = [
    "127.0.0.1",
    "127.0.0.2",
    "10.1.2.3",
    "172.16.0.1",
    "192.168.1.1",
    "169.254.169.254",  # cloud metadata service
    "100.64.0.1",  # shared address space (CGNAT)
    "0.0.0.0",
    "224.0.0.1",
    "240.0.0.1",
    "255.255.255.255",
    "192.0.2.1",  # documentation
    "::1",
    "::",
    "fe80::1",
    "fc00::1",
    "ff02::1",
    "::ffff:127.0.0.1",  # IPv4-mapped loopback
    "::ffff:10.0.0.1",
    "2002:7f00:1::",  # 6to4 wrapping 127.0.0.1
    "64:ff9b::a00:1",  # NAT64 of 10.0.0.1 is not global either
]
PUBLIC = ["8.8.8.8", "1.1.1.1", "2001:4860:4860::8888", "::ffff:8.8.8.8"]


@pytest.mark.parametrize("address", NOT_PUBLIC)
def test_non_public_addresses_are_refused(address: str) -> None:
    ip = ipaddress.ip_address(address)
    assert not is_public(ip)
    assert not address_allowed("example.test", ip, AllowList())


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_pass(address: str) -> None:
    assert is_public(ipaddress.ip_address(address))


def test_allow_list_by_address_and_network() -> None:
    allow = AllowList.parse(["127.0.0.1", "10.0.0.0/8"])
    assert address_allowed("x", ipaddress.ip_address("127.0.0.1"), allow)
    assert not address_allowed("x", ipaddress.ip_address("127.0.0.2"), allow)
    assert address_allowed("x", ipaddress.ip_address("10.200.0.9"), allow)
    assert not address_allowed("x", ipaddress.ip_address("192.168.0.1"), allow)


def test_allow_list_by_host_name() -> None:
    allow = AllowList.parse(["Localhost."])
    assert address_allowed("localhost", ipaddress.ip_address("127.0.0.1"), allow)
    assert not address_allowed("other.test", ipaddress.ip_address("127.0.0.1"), allow)


def test_check_address_says_what_to_do() -> None:
    with pytest.raises(BlockedAddress, match=r"127\.0\.0\.5.*fetch\.allow_private"):
        check_address("127.0.0.5", "127.0.0.5", AllowList.parse(["127.0.0.1"]))
    assert str(check_address("h", "127.0.0.1", AllowList.parse(["127.0.0.1"]))) == "127.0.0.1"
