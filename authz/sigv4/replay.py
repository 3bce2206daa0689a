"""Replay refusal: each signature is accepted once while its request could still be valid.

Owns a bounded memory of accepted signatures, each kept until the moment its request would
be refused by the time window anyway (``X-Amz-Date`` + window, or + ``X-Amz-Expires`` for a
presigned request), then forgotten. At most ``max_entries`` are kept: when full and nothing
has expired, new signatures are refused (``Throttling``, retryable: a fresh signature gets
in once older ones expire) rather than forgetting one that could still be replayed. Only
signatures that verified are recorded, so filling it takes valid credentials. Per process:
``--workers N`` processes each keep their own (docs/operations.md).
"""

from __future__ import annotations

import heapq
import threading

from authz.errors import RequestExpired, Throttling

DEFAULT_MAX_ENTRIES = 200_000
# The gRPC methods whose signed call is accepted once (it mints credentials: a replayed
# AssumeRole would hand the replayer a fresh session). Their signer adds a random
# ``x-authz-nonce`` so that two equal calls in one second are two signatures; other calls may
# repeat within the window, as in AWS, and carry no nonce.
ONCE_METHODS = frozenset({"/authz.v1.SecurityTokenService/AssumeRole"})


class ReplayGuard:
    """Thread-safe. ``admit(signature, until, now)`` records or refuses."""

    def __init__(self, max_entries: int = DEFAULT_MAX_ENTRIES) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be positive")
        self._max = max_entries
        self._until: dict[str, float] = {}
        self._heap: list[tuple[float, str]] = []
        self._lock = threading.Lock()
        self.replays = 0
        self.full_refusals = 0

    def __len__(self) -> int:
        return len(self._until)

    def admit(self, signature: str, until: float, now: float) -> None:
        """Remember ``signature`` until ``until``; ``RequestExpired`` if it was seen before
        (and is still remembered), ``Throttling`` if the memory is full of live entries."""
        with self._lock:
            self._expire(now)
            if signature in self._until:
                self.replays += 1
                raise RequestExpired(
                    "Request has already been received: a signed request is accepted once "
                    "(sign each request anew)",
                    reason="replay",
                )
            if len(self._until) >= self._max:
                self.full_refusals += 1
                raise Throttling(
                    f"too many signed requests within the replay window (limit {self._max}): "
                    "retry with backoff",
                    reason="replay_memory_full",
                )
            self._until[signature] = until
            heapq.heappush(self._heap, (until, signature))

    def _expire(self, now: float) -> None:
        heap = self._heap
        while heap and heap[0][0] < now:
            _, signature = heapq.heappop(heap)
            self._until.pop(signature, None)
