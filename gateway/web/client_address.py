"""The client's network address, believing ``X-Forwarded-For`` only from proxies named in settings.

``GATEWAY_TRUSTED_PROXIES`` lists addresses or networks (default: none). When the peer is one
of them, the header is read from the right, skipping further trusted hops, and the first
address that is not trusted is the client; anything the client wrote further left is
ignored. Otherwise the header is ignored and the peer is the client. uvicorn's own
forwarded-header handling is off (``gateway serve`` passes ``proxy_headers=False``), so this
is the one place that decides.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from functools import lru_cache

from starlette.requests import Request

__all__ = ["TrustedProxies", "client_address"]

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class TrustedProxies:
    def __init__(self, entries: Iterable[str]) -> None:
        self.networks: tuple[Network, ...] = tuple(ipaddress.ip_network(e.strip(), strict=False)
                                                   for e in entries if e.strip())

    def trusts(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address.strip())
        except ValueError:
            return False
        return any(ip in net for net in self.networks)


@lru_cache(maxsize=8)
def _proxies(entries: tuple[str, ...]) -> TrustedProxies:
    return TrustedProxies(entries)


def client_address(request: Request, trusted: Iterable[str]) -> str:
    """The address to throttle and budget by (``unknown`` without a peer)."""
    peer = request.client.host if request.client else "unknown"
    proxies = _proxies(tuple(trusted))
    if not proxies.networks or not proxies.trusts(peer):
        return peer
    hops = [h.strip() for line in request.headers.getlist("x-forwarded-for") for h in line.split(",")]
    for hop in reversed([h for h in hops if h]):
        if not proxies.trusts(hop):
            try:
                return str(ipaddress.ip_address(hop))
            except ValueError:
                return "invalid"  # a trusted proxy passed on junk: one bucket for all of it
    return peer
