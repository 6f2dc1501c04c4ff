"""Per-client token buckets: each client may make `rate_per_s` requests a second, and `burst` at once.

The buckets are pure arithmetic over a monotonic `now` the caller passes; :class:`ClientBuckets` keeps at most
`max_clients` of them (least recently seen dropped first), so a flood of new addresses cannot grow memory.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from dataclasses import dataclass


@dataclass
class TokenBucket:
    """`tokens` requests may be made now; refills at `rate_per_s` up to `burst`."""

    rate_per_s: float
    burst: float
    tokens: float
    updated_s: float

    def take(self, now_s: float, cost: float = 1.0) -> float:
        """Spend `cost` tokens if there are enough and return 0; otherwise spend nothing and return the
        seconds until there will be."""
        self.tokens = min(self.burst, self.tokens + max(0.0, now_s - self.updated_s) * self.rate_per_s)
        self.updated_s = now_s
        if self.tokens >= cost:
            self.tokens -= cost
            return 0.0
        if self.rate_per_s <= 0:
            return math.inf
        return (cost - self.tokens) / self.rate_per_s


@dataclass(frozen=True)
class RateLimit:
    """A rate and a burst; a rate of 0 means no limit."""

    rate_per_s: float
    burst: float

    @property
    def unlimited(self) -> bool:
        return self.rate_per_s <= 0


class ClientBuckets:
    """One token bucket per client key, thread-safe, bounded in number."""

    def __init__(self, limit: RateLimit, max_clients: int = 10_000) -> None:
        self.limit = limit
        self.max_clients = max_clients
        self._buckets: OrderedDict[str, TokenBucket] = OrderedDict()
        self._lock = threading.Lock()

    def take(self, client: str, now_s: float, cost: float = 1.0) -> float:
        """0 when `client` may go ahead now, else the seconds it should wait (its Retry-After)."""
        if self.limit.unlimited:
            return 0.0
        with self._lock:
            bucket = self._buckets.get(client)
            if bucket is None:
                bucket = TokenBucket(self.limit.rate_per_s, self.limit.burst, self.limit.burst, now_s)
                self._buckets[client] = bucket
                if len(self._buckets) > self.max_clients:
                    self._buckets.popitem(last=False)
            else:
                self._buckets.move_to_end(client)
            return bucket.take(now_s, cost)

    def __len__(self) -> int:
        return len(self._buckets)
