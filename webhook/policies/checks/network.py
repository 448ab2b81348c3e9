"""Network exposure checks (T1): no port may listen on every interface or be exposed publicly."""

from __future__ import annotations

import functools
import ipaddress
import re
import socket
from collections.abc import Iterator, Mapping
from typing import Any

from webhook.policies.checks._util import MISSING, config_of, found, lookup
from webhook.policies.context import PolicyContext
from webhook.policies.registry import Violation, register

# short and hex IPv4 forms the C resolver accepts: "0", "0.0", "0x0" all mean 0.0.0.0
_INET_ATON = re.compile(r"^(?:0[xX][0-9a-fA-F]+|[0-9]+)(?:\.(?:0[xX][0-9a-fA-F]+|[0-9]+)){0,3}$")


_HOSTNAME = re.compile(
    r"^(?=.{1,253}\.?$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$"
)


def _split(bind: str) -> tuple[str, str | None]:
    """(host, port or None) of "host", "host:port", "[v6]:port" or a bare IPv6 address."""
    text = bind.strip()
    if text.startswith("["):
        host, sep, rest = text[1:].partition("]")
        if not sep:
            return text, None
        return host, rest.removeprefix(":") if rest else None
    if text.count(":") == 1:
        host, _, port = text.partition(":")
        return host, port
    return text, None


# memo: pure, bounded (4096); measured 2.1 -> 0.04 us a bind
@functools.lru_cache(maxsize=4096)
def valid_bind(bind: str) -> bool:
    """An IP address, network, host name or wildcard, with an optional numeric port."""
    host, port = _split(bind)
    if port is not None and not (
        port.isascii() and port.isdigit() and len(port) <= 5 and 0 < int(port) < 65536
    ):
        return False
    if host in ("", "*"):
        return True
    try:
        if "/" in host:
            ipaddress.ip_network(host, strict=False)
        else:
            ipaddress.ip_address(host)
    except ValueError:
        return bool(_HOSTNAME.fullmatch(host))
    return True


#: the one host name accepted: it means loopback by convention (RFC 6761), not by lookup
LOOPBACK_NAMES = frozenset({"localhost"})


# memo: pure, bounded (4096); measured 3.7 -> 0.04 us a bind
@functools.lru_cache(maxsize=4096)
def public_bind(bind: str) -> str | None:
    """Why a bind address is not acceptable ("all interfaces", ...), or None when it is.

    Pure string/address arithmetic, no I/O: a host name is not resolved, so the gate cannot know
    what it binds to, and any host name but `localhost` is refused (`db.internal` may resolve to
    a public address; `localhost.attacker.tld` certainly can). Short IPv4 forms that the C
    resolver accepts ("0", "127.1", "0x7f.1") are refused too unless they mean all interfaces
    (then said so): other parsers read them as host names. Pure in `bind`, so remembered
    (bounded): the same few bind addresses recur in every config.
    """
    host = _split(bind)[0].strip()
    if host in ("", "*"):
        return "all interfaces"
    if "/" in host:
        return _public_network(host)
    try:
        addr: ipaddress.IPv4Address | ipaddress.IPv6Address = ipaddress.ip_address(host)
    except ValueError:
        return _public_name(host)
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped
    if addr.is_unspecified:
        return "all interfaces"
    if addr.is_global:
        return "a public address"
    return None


def _public_network(host: str) -> str | None:
    """A bind written as a network: catch-all or public is refused; not a network is no finding."""
    try:
        net = ipaddress.ip_network(host, strict=False)
    except ValueError:
        return None
    if net.prefixlen == 0 or net.network_address.is_unspecified:
        return "a catch-all network"
    return "a public network" if net.network_address.is_global else None


_NAME_UNKNOWN = "a host name, whose address the gate cannot know (it does not resolve names)"


def _public_name(host: str) -> str | None:
    """A bind that is no IP address: `localhost`, else a host name or a short IPv4 form."""
    if host.lower() in LOOPBACK_NAMES:
        return None
    if not _INET_ATON.fullmatch(host):
        return _NAME_UNKNOWN
    try:
        short = ipaddress.IPv4Address(socket.inet_aton(host))
    except OSError:
        return _NAME_UNKNOWN
    if short.is_unspecified:
        return "all interfaces"
    return f"a short IPv4 form that other parsers read as a host name (write {short})"


@register("no-public-bind", scenarios=("T1",))
def no_public_bind(ctx: PolicyContext, params: Mapping[str, Any]) -> Iterator[Violation]:
    """Every ports[i].bind must be a specific non-public address, and exposure must be internal."""
    env = ctx.effective_env
    ports = lookup(config_of(ctx), "ports")
    if ports is MISSING or ports is None:
        return
    if not isinstance(ports, list):
        yield Violation(
            "ports",
            f"{env} requires ports to be a list of {{name, port, bind, exposure}} ({found(ports)})",
        )
        return
    for i, port in enumerate(ports):
        where = f"ports[{i}]"
        if not isinstance(port, Mapping):
            yield Violation(where, f"{env} requires each port to be a mapping ({found(port)})")
            continue
        bind = lookup(port, "bind")
        if bind is MISSING or bind is None:
            yield Violation(
                f"{where}.bind",
                f"{env} requires an explicit non-public bind address such as 127.0.0.1 "
                f"({found(bind)}: servers then listen on all interfaces)",
            )
        elif not isinstance(bind, str):
            yield Violation(
                f"{where}.bind", f"{env} requires bind to be an address string ({found(bind)})"
            )
        elif not valid_bind(bind):
            yield Violation(
                f"{where}.bind",
                f"{env} requires bind to be an IP address or host name ({found(bind)})",
            )
        else:
            why = public_bind(bind)
            if why is not None:
                yield Violation(
                    f"{where}.bind",
                    f"{env} forbids binding to {why} ({found(bind)}); expected a specific "
                    "internal address such as 127.0.0.1",
                )
        exposure = lookup(port, "exposure")
        if exposure is MISSING or exposure == "internal":
            continue
        if exposure == "public":
            yield Violation(
                f"{where}.exposure",
                f"{env} forbids exposure: public ({found(exposure)}); expected internal",
            )
        else:
            yield Violation(
                f"{where}.exposure", f"{env} requires exposure: internal ({found(exposure)})"
            )
