"""A token bucket: ``rate`` tokens per second, at most ``burst`` saved up.

Owns rate limiting of calls a caller can repeat at will and that cost the server real work
(the Reload RPC). Thread-safe. Imports neither grpc nor cedarpy.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class TokenBucket:
    """``take()`` is True while tokens remain; ``rate <= 0`` means unlimited."""

    def __init__(
        self, rate: float, burst: int, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate = rate
        self.burst = max(1, burst)
        self._clock = clock
        self._tokens = float(self.burst)
        self._at = clock()
        self._lock = threading.Lock()
        self.refused = 0

    @property
    def unlimited(self) -> bool:
        return self.rate <= 0

    def take(self) -> bool:
        if self.unlimited:
            return True
        with self._lock:
            now = self._clock()
            self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate)
            self._at = now
            if self._tokens >= 1.0:
                self._tokens -= 1.0
                return True
            self.refused += 1
            return False
