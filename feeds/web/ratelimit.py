"""Per-client limits on the requests that cost something (a confirmation mail).

A token bucket per client: ``limit`` requests at once, refilled evenly over
``window``. Kept in this process's memory, so ``feeds serve`` runs as one
process; the clock is passed in so tests decide when time passes.
"""

from __future__ import annotations

import ipaddress
import math
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import timedelta


@dataclass
class Bucket:
    tokens: float
    updated: float


class RateLimiter:
    """``hit(client)`` says whether the client may go on, and spends one request if so.

    Memory stays bounded: past ``max_clients`` the least recently seen client
    is forgotten (a forgotten client starts again with a full bucket, which
    errs on the reader's side).
    """

    def __init__(
        self,
        limit: int,
        window: timedelta,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_clients: int = 100_000,
    ):
        self.limit = limit
        self.rate = limit / window.total_seconds()
        self.clock = clock
        self.max_clients = max_clients
        self.buckets: OrderedDict[str, Bucket] = OrderedDict()

    def hit(self, client: str) -> bool:
        now = self.clock()
        bucket = self.buckets.pop(client, None) or Bucket(float(self.limit), now)
        bucket.tokens = min(self.limit, bucket.tokens + (now - bucket.updated) * self.rate)
        bucket.updated = now
        allowed = bucket.tokens >= 1
        if allowed:
            bucket.tokens -= 1
        self.buckets[client] = bucket
        while len(self.buckets) > self.max_clients:
            self.buckets.popitem(last=False)
        return allowed

    def retry_after(self, client: str) -> int:
        """Whole seconds until the client's next request would be allowed."""
        bucket = self.buckets.get(client)
        if bucket is None or bucket.tokens >= 1:
            return 0
        return math.ceil((1 - bucket.tokens) / self.rate)


Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def client_key(address: str) -> str:
    """The unit a limit applies to: one IPv4 address, or one IPv6 /64 (one customer's network)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if ip.version == 6 and ip.ipv4_mapped is None:
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip.ipv4_mapped or ip) if ip.version == 6 else str(ip)


def client_address(
    peer: str | None, forwarded_for: Iterable[str], trusted: Sequence[Network]
) -> str:
    """The reader's address: the peer's, unless the peer is a trusted proxy.

    Behind trusted proxies, the right-most address in X-Forwarded-For that is
    not itself a trusted proxy: everything left of it was written by the client
    and can be forged.
    """
    if not peer or not trusted or not _trusted(peer, trusted):
        return peer or "unknown"
    hops = [hop.strip() for value in forwarded_for for hop in value.split(",") if hop.strip()]
    for hop in reversed(hops):
        if not _trusted(hop, trusted):
            return hop
    return hops[0] if hops else peer


def _trusted(address: str, trusted: Sequence[Network]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in trusted)
