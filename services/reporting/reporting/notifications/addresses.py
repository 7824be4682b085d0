"""Where a webhook may be sent (server-side request forgery): the rules on a target URL when a subscription is made,
and on every address its host resolves to when a delivery is sent (a name that resolved to a public address at
creation may point inside later: DNS rebinding), the delivery then connecting to the address checked, never
resolving again.

Refused always: a scheme other than http or https, user information in the URL (``user:pass@``), a fragment, a
host written as a number other than the dotted quad (``2852039166``, ``0xa9.254.169.254``, ``0251.0376...``), names
that are local by definition (``localhost``, ``*.localhost``, ``*.local``, ``*.internal``, ``*.arpa``), and
addresses that are link-local (169.254/16 with the cloud metadata 169.254.169.254, fe80::/10), unspecified,
multicast, reserved, broadcast, the AWS IPv6 metadata address fd00:ec2::254 and the Alibaba 100.100.100.200, also
when written inside an IPv6 form (IPv4-mapped ``::ffff:a.b.c.d``, IPv4-compatible, NAT64 ``64:ff9b::/96``, 6to4
``2002::/16``, Teredo). Loopback (127/8, ::1, localhost) only with ``PMO_WEBHOOK_ALLOW_LOOPBACK`` (tests);
private networks (10/8, 172.16/12, 192.168/16, 100.64/10 shared, fc00::/7) only with ``PMO_WEBHOOK_ALLOW_PRIVATE``.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

METADATA = frozenset(
    {
        ipaddress.ip_address("169.254.169.254"),
        ipaddress.ip_address("169.254.170.2"),
        ipaddress.ip_address("fd00:ec2::254"),
        ipaddress.ip_address("100.100.100.200"),
    }
)
LOCAL_NAMES = re.compile(r"(^|\.)(localhost|local|internal|arpa|home\.arpa)$")
NUMERIC_HOST = re.compile(r"^(0x[0-9a-f]+|[0-9]+)(\.(0x[0-9a-f]+|[0-9]+))*$", re.IGNORECASE)
NAT64 = ipaddress.ip_network("64:ff9b::/96")
SHARED = ipaddress.ip_network("100.64.0.0/10")
MAX_URL = 2000
RESOLVE_TIMEOUT = 3.0


class TargetRefusedError(ValueError):
    """The URL or one of its addresses may not be a webhook target; the message says why."""


@dataclass(frozen=True)
class Policy:
    allow_loopback: bool = False
    allow_private: bool = False


@dataclass(frozen=True)
class Target:
    """A URL parsed into what a delivery needs: scheme, host as written (Host header, TLS name), port, path."""

    scheme: str
    host: str
    port: int
    path: str

    def url_at(self, address: IPAddress) -> str:
        """The URL with the checked ``address`` in place of the host (connect there; Host and SNI stay the name)."""
        shown = f"[{address}]" if address.version == 6 else str(address)
        return f"{self.scheme}://{shown}:{self.port}{self.path}"


def _embedded_v4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 form carries (mapped, compatible, NAT64, 6to4, Teredo), if any."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    if address in NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    packed = int(address)
    if packed >> 32 == 0 and packed > 1:  # IPv4-compatible ::a.b.c.d (deprecated, still routed by some stacks)
        return ipaddress.IPv4Address(packed)
    return None


def check_address(address: IPAddress, policy: Policy) -> None:
    """Raise :class:`TargetRefusedError` if ``address`` may not be a webhook target."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.scope_id:
            raise TargetRefusedError(f"{address} has a zone: link-local targets are refused")
        inner = _embedded_v4(address)
        if inner is not None:
            try:
                check_address(inner, policy)
            except TargetRefusedError as exc:
                raise TargetRefusedError(f"{address} carries {inner}: {exc}") from None
            return
    if address in METADATA:
        raise TargetRefusedError(f"{address} is a cloud metadata address")
    if address.is_loopback:
        if policy.allow_loopback:
            return
        raise TargetRefusedError(f"{address} is a loopback address")
    if address.is_link_local:
        raise TargetRefusedError(f"{address} is a link-local address")
    if address.is_unspecified or address.is_multicast or address.is_reserved:
        raise TargetRefusedError(f"{address} is not a unicast address a receiver can have")
    if isinstance(address, ipaddress.IPv4Address) and address == ipaddress.IPv4Address("255.255.255.255"):
        raise TargetRefusedError(f"{address} is the broadcast address")
    private = address.is_private or (isinstance(address, ipaddress.IPv4Address) and address in SHARED)
    if private and not policy.allow_private:
        raise TargetRefusedError(f"{address} is a private-network address (PMO_WEBHOOK_ALLOW_PRIVATE)")


def parse_target(url: str, policy: Policy) -> Target:
    """``url`` checked as far as it can be without resolving its host; :class:`TargetRefusedError` with the reason
    otherwise. A host written as an address is checked here; a name is checked when it resolves."""
    if len(url) > MAX_URL:
        raise TargetRefusedError(f"a URL has at most {MAX_URL} characters")
    if any(c.isspace() or ord(c) < 0x21 or ord(c) > 0x7E for c in url):
        raise TargetRefusedError("a URL is printable ASCII without spaces (encode international names as IDNA)")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise TargetRefusedError(f"not a URL: {exc}") from None
    if parts.scheme not in ("http", "https"):
        raise TargetRefusedError("only http and https URLs are accepted")
    if "@" in parts.netloc or parts.username is not None or parts.password is not None:
        raise TargetRefusedError("user information (user:password@) is refused in a URL: authenticate by signature")
    if parts.fragment or url.endswith("#"):
        raise TargetRefusedError("a URL with a fragment is refused")
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise TargetRefusedError("the URL has no host")
    literal: IPAddress | None
    try:
        literal = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    if literal is not None:
        check_address(literal, policy)
    else:
        if NUMERIC_HOST.match(host):
            raise TargetRefusedError(f"{host} is an address in a numeric form other than the dotted quad")
        if LOCAL_NAMES.search(host.lower()):
            if host.lower() in ("localhost",) or host.lower().endswith(".localhost"):
                if not policy.allow_loopback:
                    raise TargetRefusedError(f"{host} is a loopback name")
            else:
                raise TargetRefusedError(f"{host} is a name local to a network")
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return Target(parts.scheme, host, port or (443 if parts.scheme == "https" else 80), path)


async def resolve(target: Target, policy: Policy) -> IPAddress:
    """The address a delivery connects to: the host's addresses resolved now, every one checked (one refused
    refuses the target: a name answering both a public and an internal address is not trusted), the first one."""
    try:
        return_literal = ipaddress.ip_address(target.host)
    except ValueError:
        return_literal = None
    if return_literal is not None:
        check_address(return_literal, policy)
        return return_literal
    loop = asyncio.get_running_loop()
    try:
        infos = await asyncio.wait_for(
            loop.getaddrinfo(target.host, target.port, type=socket.SOCK_STREAM), timeout=RESOLVE_TIMEOUT
        )
    except (OSError, TimeoutError) as exc:
        raise TargetRefusedError(f"{target.host} does not resolve: {exc}") from None
    addresses: list[IPAddress] = []
    for info in infos:
        raw = str(info[4][0]).split("%")[0]
        addresses.append(ipaddress.ip_address(raw))
    if not addresses:
        raise TargetRefusedError(f"{target.host} resolves to no address")
    for address in addresses:
        check_address(address, policy)
    return addresses[0]
