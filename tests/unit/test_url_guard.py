"""The address classifier and URL checks behind result downloads (bot/kie/url_guard.py)."""

from __future__ import annotations

import ipaddress
import socket

import pytest
from yarl import URL

from bot.kie.errors import KieUrlRefused
from bot.kie.url_guard import GuardedResolver, UrlGuard, is_public_address, parse_allow

NOT_PUBLIC = [
    "127.0.0.1",
    "127.255.0.9",
    "10.0.0.1",
    "172.16.5.4",
    "192.168.1.1",
    "169.254.169.254",  # cloud metadata
    "0.0.0.0",
    "0.1.2.3",
    "100.64.0.1",  # carrier-grade NAT
    "192.0.0.8",
    "198.18.0.1",
    "224.0.0.1",  # multicast
    "239.255.255.250",
    "240.0.0.1",
    "255.255.255.255",
    "192.0.2.10",  # documentation
    "::1",
    "::",
    "fe80::1",
    "fc00::1",
    "fd12:3456::1",
    "fec0::1",  # site-local
    "ff02::1",  # multicast
    "2001:db8::1",  # documentation
    "::ffff:127.0.0.1",  # IPv4-mapped
    "::ffff:10.0.0.1",
    "::ffff:169.254.169.254",
    "2002:7f00:1::1",  # 6to4 around 127.0.0.1
    "2002:a00:1::1",  # 6to4 around 10.0.0.1
    "64:ff9b::7f00:1",  # NAT64 around 127.0.0.1
    "2001:0:4136:e378:8000:63bf:f5ff:fffe",  # Teredo, client 10.0.0.1
]
PUBLIC = ["8.8.8.8", "93.184.215.14", "1.1.1.1", "2606:4700:4700::1111", "::ffff:8.8.8.8", "64:ff9b::808:808"]


@pytest.mark.parametrize("address", NOT_PUBLIC)
def test_not_public_addresses_are_refused(address: str) -> None:
    assert not is_public_address(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_pass(address: str) -> None:
    assert is_public_address(ipaddress.ip_address(address))


@pytest.mark.parametrize(
    "url",
    ["file:///etc/passwd", "ftp://example.com/v.mp4", "gopher://x/", "//cdn.example/v.mp4", "http:///x"],
)
def test_only_http_and_https_urls(url: str) -> None:
    with pytest.raises(KieUrlRefused):
        UrlGuard().check_scheme(url)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/healthz",
        "http://[::1]/x",
        "http://[::ffff:127.0.0.1]/x",
        "http://2130706433/x",  # 127.0.0.1 as a decimal number
        "http://0x7f.1/x",
        "http://localhost:9/x",
        "https://169.254.169.254/latest/meta-data/",
    ],
)
async def test_loopback_and_private_hosts_are_refused_after_resolution(url: str) -> None:
    with pytest.raises(KieUrlRefused):
        await UrlGuard().resolve(UrlGuard().check_scheme(url))


async def test_allowance_is_exactly_one_host_and_port() -> None:
    guard = UrlGuard(["127.0.0.1:8081"])
    assert guard.allow == {("127.0.0.1", 8081)}
    assert str(await guard.resolve(URL("http://127.0.0.1:8081/results/x.mp4"))) == "127.0.0.1"
    for other in ("http://127.0.0.1:8080/healthz", "http://127.0.0.1/x", "http://localhost:8081/x"):
        with pytest.raises(KieUrlRefused):
            await guard.resolve(URL(other))


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/healthz",
        "http://[::1]/x",
        "http://[::ffff:127.0.0.1]/x",
        "https://169.254.169.254/latest/meta-data/",
        "http://10.1.2.3/x",
        "http://2130706433/x",  # legacy numeric forms are refused, never resolved
        "http://127.1/x",
    ],
)
def test_ip_literals_are_checked_before_the_request(url: str) -> None:
    """aiohttp connects to an IP-literal host without its resolver: `check` is what stops them."""
    with pytest.raises(KieUrlRefused):
        UrlGuard().check(url)


def test_check_passes_public_literals_names_and_the_allowance() -> None:
    assert UrlGuard().check("https://93.184.215.14/v.mp4").host == "93.184.215.14"
    # A name is left to the resolver, at connect time (no DNS here).
    assert UrlGuard().check("https://cdn.example.invalid/v.mp4").host == "cdn.example.invalid"
    assert UrlGuard(["127.0.0.1:8081"]).check("http://127.0.0.1:8081/r.mp4").port == 8081


async def test_resolver_hands_only_checked_addresses_to_the_connect() -> None:
    """What the download connector connects to is exactly what the resolver checked (no second
    lookup that DNS rebinding could answer differently)."""
    with pytest.raises(KieUrlRefused):
        await GuardedResolver(UrlGuard()).resolve("localhost", 80)
    allowed = GuardedResolver(UrlGuard(["localhost:8081"]))
    answers = await allowed.resolve("localhost", 8081)
    assert answers and all(ipaddress.ip_address(a["host"]).is_loopback for a in answers)
    assert {a["hostname"] for a in answers} == {"localhost"}  # Host header and TLS name stay the name
    assert all(a["port"] == 8081 and a["flags"] == socket.AI_NUMERICHOST for a in answers)


def test_allowance_needs_a_port() -> None:
    with pytest.raises(ValueError):
        parse_allow(["127.0.0.1"])
