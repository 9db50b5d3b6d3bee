"""Rate limits: a token bucket per client (API key or address), in bounded memory."""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable


class RateLimiter:
    """`rate` requests per second per client, bursts of `rate * burst_s`.

    At most `clients` buckets are kept (least recently used dropped first), so a flood of new
    addresses or key ids costs bounded memory; a dropped client starts again with a full bucket.
    """

    def __init__(
        self,
        rate: float,
        burst_s: float = 2.0,
        clients: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.rate, self.capacity = rate, max(1.0, rate * burst_s)
        self.clients, self.clock = clients, clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._lock = threading.Lock()

    def take(self, client: str) -> float:
        """Spend one token; 0 when allowed, else the seconds until a token is available."""
        t = self.clock()
        with self._lock:
            tokens, last = self._buckets.pop(client, (self.capacity, t))
            tokens = min(self.capacity, tokens + (t - last) * self.rate)
            wait = 0.0
            if tokens >= 1:
                tokens -= 1
            else:
                wait = (1 - tokens) / self.rate
            self._buckets[client] = (tokens, t)
            while len(self._buckets) > self.clients:
                self._buckets.popitem(last=False)
        return wait

    def __len__(self) -> int:
        return len(self._buckets)


def retry_after(wait: float) -> str:
    """The Retry-After header value: whole seconds, at least 1."""
    return str(max(1, math.ceil(wait)))
