"""Where a webhook may send (no Django here): an http(s) URL, to a host the administrator
allows, never to an address that no receiver lives at.

`webhooks.allowed-hosts` is a list of host names (`tills.example.org`), domains
(`*.example.org`) and networks (`10.0.0.0/8`, `192.0.2.7`, `::1`). Blank allows every public
host. Never allowed, listed or not: link-local addresses and the other cloud metadata
services (169.254.169.254, AWS's fd00:ec2::254, Alibaba's 100.100.100.200), carrier-grade
NAT (100.64.0.0/10), multicast, broadcast and unspecified addresses. This machine (loopback)
and private networks (10/8, 172.16/12, 192.168/16, fc00::/7) only when listed by exact name
or network. An IPv6 address that carries an IPv4 one (::ffff:…, NAT64 64:ff9b::…, 6to4,
Teredo) is judged as that IPv4 address. The addresses are checked after the name is
resolved, at creation and at every delivery, and the delivery connects to the address it
checked: a name that later resolves elsewhere cannot steer it.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

NEVER = tuple(
    ipaddress.ip_network(n)
    for n in (
        "0.0.0.0/8",
        "100.64.0.0/10",  # carrier-grade NAT; Alibaba's metadata service at 100.100.100.200
        "169.254.0.0/16",
        "224.0.0.0/4",
        "255.255.255.255/32",
        "::/128",
        "fe80::/10",
        "ff00::/8",
        "fd00:ec2::254/128",  # AWS's metadata service over IPv6
    )
)
PRIVATE = tuple(
    ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7")
)
NAT64 = tuple(ipaddress.ip_network(n) for n in ("64:ff9b::/96", "64:ff9b:1::/48"))


class Refused(ValueError):
    """A URL or host that webhooks may not use; the message says why and what to do."""


@dataclass(frozen=True)
class Target:
    url: str
    scheme: str
    host: str  # lower case, without brackets
    port: int
    path: str  # with the query

    @property
    def host_header(self) -> str:
        shown = f"[{self.host}]" if ":" in self.host else self.host
        default = 443 if self.scheme == "https" else 80
        return shown if self.port == default else f"{shown}:{self.port}"


@dataclass(frozen=True)
class Allowed:
    names: frozenset[str]
    domains: tuple[str, ...]  # ".example.org"
    networks: tuple[Network, ...]

    @property
    def everything(self) -> bool:
        return not (self.names or self.domains or self.networks)


def parse_url(url: str) -> Target:
    url = (url or "").strip()
    if not url:
        raise Refused("the URL is empty; give the receiver's address, https://host/path")
    if len(url) > 2000 or any(c.isspace() or ord(c) < 32 for c in url):
        raise Refused("the URL is longer than 2,000 characters or has spaces or control characters")
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise Refused(
            f"{scheme or 'a URL without a scheme'} is not allowed: a webhook URL starts with "
            "https:// (or http:// on a trusted network)"
        )
    if parts.username is not None or parts.password is not None:
        raise Refused(
            "the URL holds a user name or password; leave them out: the receiver knows cardid "
            "by the signature"
        )
    host = (parts.hostname or "").lower()
    if not host:
        raise Refused("the URL has no host name; give the receiver's address, https://host/path")
    try:
        port = parts.port or (443 if scheme == "https" else 80)
    except ValueError:
        raise Refused("the URL's port is not a number from 1 to 65535") from None
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return Target(url, scheme, host, port, path)


def parse_allowed(text: str) -> Allowed:
    names, domains, networks = set(), [], []
    for word in (text or "").replace(",", " ").split():
        entry = word.strip().lower().strip("[]")
        if entry.startswith("*."):
            domains.append(entry[1:])
            continue
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
            continue
        except ValueError:
            pass
        if not all(part and len(part) < 64 for part in entry.split(".")) or "/" in entry:
            raise Refused(
                f"{word!r} is neither a host name, a domain (*.example.org) nor a network "
                "(10.0.0.0/8)"
            )
        names.add(entry)
    return Allowed(frozenset(names), tuple(domains), tuple(networks))


def resolve(target: Target, timeout: float | None = None) -> list[Address]:
    """The host's addresses (the host itself when it is one); Refused when it has none."""
    try:
        return [ipaddress.ip_address(target.host)]
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(target.host, target.port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as e:
        raise LookupError(f"the host name {target.host} does not resolve ({e})") from None
    seen: list[Address] = []
    for info in infos:
        address = ipaddress.ip_address(info[4][0].split("%")[0])
        if address not in seen:
            seen.append(address)
    return seen


def usable(target: Target, addresses: list[Address], allowed: Allowed) -> list[Address]:
    """The addresses a delivery to `target` may connect to; Refused when there are none."""
    by_name = target.host in allowed.names or any(target.host.endswith(d) for d in allowed.domains)
    if not allowed.everything and not by_name:
        if not any(any(_plain(a) in n for n in allowed.networks) for a in addresses):
            raise Refused(
                f"{target.host} is not among the hosts webhooks may reach; add it to "
                "Webhooks › Delivery › Allowed hosts (webhooks.allowed-hosts)"
            )
    ok, why = [], ""
    for a in addresses:
        mapped = _plain(a)
        if any(mapped in n for n in NEVER):
            why = (
                f"{target.host} is {a}, a link-local, multicast or unspecified address, "
                "where no receiver may be (this is where cloud metadata services live)"
            )
            continue
        listed = by_name or any(mapped in n for n in allowed.networks)
        # This machine and private networks only when named exactly or by their network,
        # never through a domain (whose names anyone under it may point anywhere).
        exact = target.host in allowed.names or any(mapped in n for n in allowed.networks)
        if mapped.is_loopback and not exact:
            why = (
                f"{target.host} is {a}, this machine; list it in Webhooks › Delivery › "
                "Allowed hosts (webhooks.allowed-hosts) if a receiver really runs here"
            )
            continue
        if any(mapped in n for n in PRIVATE) and not exact:
            why = (
                f"{target.host} is {a}, in a private network; list the host or its network in "
                "Webhooks › Delivery › Allowed hosts (webhooks.allowed-hosts) to send there"
            )
            continue
        if not allowed.everything and not listed:
            continue
        ok.append(a)
    if not ok:
        raise Refused(why or f"none of the addresses of {target.host} is allowed")
    return ok


def _plain(address: Address) -> Address:
    """An IPv4 address carried in an IPv6 one — mapped (::ffff:127.0.0.1), NAT64
    (64:ff9b::a9fe:a9fe), 6to4 (2002:a9fe:a9fe::) or Teredo (the client's) — as that IPv4
    address."""
    if address.version == 4:
        return address
    if address.ipv4_mapped:
        return address.ipv4_mapped
    if any(address in n for n in NAT64):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if address.sixtofour:
        return address.sixtofour
    if address.teredo:
        return address.teredo[1]
    return address
