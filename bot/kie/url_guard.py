"""Result downloads go only to public addresses over http(s).

A callback (or a status answer) names the URL the bot downloads and sends to the user. Without a
check, a URL at 127.0.0.1, a private network, the cloud metadata address or the bot's own /healthz
would be fetched and delivered as a "video". So every hop of a result download is checked:

* the scheme is http or https;
* the host is resolved (loop.getaddrinfo) and EVERY address it resolves to must be global unicast
  (not private, loopback, link-local, multicast, reserved, unspecified, shared 100.64/10, nor such an
  address hidden in IPv4-mapped / 6to4 / Teredo / NAT64 IPv6 forms);
* the connection then goes to the address that was checked, so a DNS answer that changes between the
  check and the connect (DNS rebinding) cannot redirect it: `GuardedResolver` is the aiohttp
  connector's resolver, it checks the addresses and hands exactly those to the connect (the Host
  header and the TLS server name stay the URL's name). aiohttp connects to an IP-literal host
  without asking its resolver, so `UrlGuard.check` checks a literal before each request.

Tests and KIE_SANDBOX serve results from 127.0.0.1: `allow` names exact host:port pairs (the
simulator's) that skip the address check. Nothing else on that host (another port, the bot's own web
server) is allowed.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterable

from aiohttp.abc import AbstractResolver, ResolveResult
from yarl import URL

from bot.kie.errors import KieUrlRefused

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

ALLOWED_SCHEMES = frozenset({"http", "https"})
_DEFAULT_PORTS = {"http": 80, "https": 443}

# Ranges Python's is_global (3.11) still calls global, or that embed another address.
_IPV4_NOT_PUBLIC = (
    ipaddress.IPv4Network("0.0.0.0/8"),  # "this network"
    ipaddress.IPv4Network("100.64.0.0/10"),  # carrier-grade NAT (shared)
    ipaddress.IPv4Network("192.0.0.0/24"),  # IETF protocol assignments
    ipaddress.IPv4Network("198.18.0.0/15"),  # benchmarking
    ipaddress.IPv4Network("224.0.0.0/4"),  # multicast
    ipaddress.IPv4Network("240.0.0.0/4"),  # reserved, broadcast
)
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


def is_public_address(address: IPAddress) -> bool:
    """True only for a global unicast address a result CDN could live on."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(address)
        if embedded is not None:
            return is_public_address(embedded)
        return not (
            address.is_private
            or address.is_loopback
            or address.is_link_local
            or address.is_site_local
            or address.is_multicast
            or address.is_reserved
            or address.is_unspecified
            or not address.is_global
        )
    return not (
        address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
        or not address.is_global
        or any(address in net for net in _IPV4_NOT_PUBLIC)
    )


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one stands for (mapped, 6to4, Teredo client, NAT64), if any."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def host_port(url: URL) -> tuple[str, int]:
    port = url.explicit_port or _DEFAULT_PORTS.get(url.scheme, 0)
    return (url.host or "").lower(), port


def parse_allow(entries: Iterable[str]) -> frozenset[tuple[str, int]]:
    """ "host:port" strings → pairs; a bare host or a bad port is a configuration error."""
    pairs: set[tuple[str, int]] = set()
    for entry in entries:
        host, sep, port = entry.strip().rpartition(":")
        if not sep or not host or not port.isdigit():
            raise ValueError(f"{entry!r} is not host:port")
        pairs.add((host.strip("[]").lower(), int(port)))
    return frozenset(pairs)


class UrlGuard:
    def __init__(self, allow: Iterable[str] = ()) -> None:
        self.allow = parse_allow(allow)

    def check_scheme(self, url: str | URL) -> URL:
        """Parse `url`; refuse anything but an absolute http(s) URL with a host."""
        try:
            parsed = URL(url)
        except (TypeError, ValueError):
            raise KieUrlRefused("result URL cannot be parsed") from None
        if parsed.scheme not in ALLOWED_SCHEMES:
            raise KieUrlRefused(f"result URL scheme {parsed.scheme or 'none'!r} is not http(s)")
        if not parsed.host:
            raise KieUrlRefused("result URL has no host")
        return parsed

    def check(self, url: str | URL) -> URL:
        """`check_scheme`, and a host written as an IP address checked here, before the request: aiohttp
        connects to such a host without asking `GuardedResolver`. A host name is checked by the resolver
        at connect time."""
        parsed = self.check_scheme(url)
        host, port = host_port(parsed)
        literal = _ip_literal(host)
        if literal is not None:
            self._check_addresses(host, port, [literal])
        elif ":" in host or host.replace(".", "").isdigit():
            # 2130706433, 127.1: legacy numeric forms of an address (aiohttp refuses them as well).
            raise KieUrlRefused(f"result host {host!r} is not a plain IP address")
        return parsed

    async def resolve(self, url: URL) -> IPAddress:
        """The address to connect to for `url`, after checking every address the host resolves to."""
        host, port = host_port(url)
        return (await self.addresses(host, port))[0]

    async def addresses(self, host: str, port: int) -> list[IPAddress]:
        """Every address `host` resolves to, each one checked (unless host:port is allowed)."""
        host = host.lower()
        literal = _ip_literal(host)
        if literal is not None:
            addresses = [literal]
        else:
            try:
                infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
            except (OSError, UnicodeError):
                raise KieUrlRefused(f"result host {host!r} does not resolve") from None
            addresses = [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]
            if not addresses:
                raise KieUrlRefused(f"result host {host!r} does not resolve")
        self._check_addresses(host, port, addresses)
        return addresses

    def _check_addresses(self, host: str, port: int, addresses: list[IPAddress]) -> None:
        if (host, port) in self.allow:
            return
        for address in addresses:
            if not is_public_address(address):
                raise KieUrlRefused(f"result host {host!r} resolves to a non-public address {address}")


def _ip_literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


class GuardedResolver(AbstractResolver):
    """The result downloads' resolver (see the module doc): only checked addresses reach the connect.

    Its `KieUrlRefused` is not an OSError, so aiohttp passes it up unchanged."""

    def __init__(self, guard: UrlGuard) -> None:
        self.guard = guard

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        return [
            ResolveResult(
                hostname=host,
                host=str(address),
                port=port,
                family=socket.AF_INET6 if address.version == 6 else socket.AF_INET,
                proto=0,
                flags=socket.AI_NUMERICHOST,
            )
            for address in await self.guard.addresses(host, port)
        ]

    async def close(self) -> None:
        pass
