"""The server-side request-read limits: a call whose request message has not arrived in time is
cancelled.

Owns one watchdog thread for a whole server. gRPC's Python server waits for a request message
without a time limit while holding an RPC thread, so a client that opens streams and never sends
the body would hold every thread. The edge reads the request itself (``watch`` before reading,
``done`` after) and this thread cancels:

- every call still unread ``timeout`` seconds after it started (the read timeout), and
- beyond ``max_stalled_per_peer`` calls of one peer address that have been unread for more
  than ``stall_after`` seconds, the newest of them at once. A real client's request arrives
  with its headers (microseconds later), so only streams whose body is withheld are ever
  counted; one address cannot hold more than its share of threads for the whole timeout.

It wakes every ``tick`` seconds while calls arrive and parks once it has found nothing unread for
``park_after`` seconds; the next call wakes it. (Parking at every empty look, as it once did,
meant a thread wake-up and a GIL hand-off on nearly every call of a lightly loaded server.)
``watch`` and ``done`` take the plain lock, not the condition (``threading.Condition``'s
methods run interpreted: issue 15). Must not import grpc (it calls ``cancel()`` on whatever
context it was given).
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable
from typing import Protocol


class Cancellable(Protocol):
    def cancel(self) -> object: ...


# A watched call: (started, the peer as ``context.peer()`` gives it, its context). A plain
# tuple: ``watch`` runs on every call, and a frozen dataclass costs a setattr per field.
_Watched = tuple[float, str, Cancellable]


def peer_address(peer: str) -> str:
    """``ipv4:10.0.0.1:5123`` → ``ipv4:10.0.0.1`` (the connection's address without port)."""
    host, sep, port = peer.rpartition(":")
    return host if sep and port.isdigit() else peer


class ReadWatchdog:
    """Cancels watched calls whose request is still unread (see the module docstring).
    ``on_expire(reason)`` is called per cancelled call: ``read_timeout`` or ``stalled_peer``."""

    def __init__(
        self,
        timeout: float,
        *,
        max_stalled_per_peer: int = 8,
        stall_after: float = 0.2,
        tick: float = 0.05,
        park_after: float = 1.0,
        on_expire: Callable[[str], None] | None = None,
    ) -> None:
        if timeout <= 0 or max_stalled_per_peer < 1:
            raise ValueError("the request read timeout and stalled-call limit must be positive")
        self.timeout = timeout
        self.max_stalled_per_peer = max_stalled_per_peer
        self._stall_after = stall_after
        self._tick = tick
        self._on_expire = on_expire
        self._park_ticks = max(1, round(park_after / tick))
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)  # the watcher parks on it
        self._watched: dict[int, _Watched] = {}
        self._ids = itertools.count()
        self._stopped = False
        self._parked = False  # the watcher waits for a call (set and cleared under the lock)
        self._watcher = threading.Thread(target=self._run, name="authz-read-watchdog", daemon=True)
        self._watcher.start()

    def watch(self, context: Cancellable, peer: str) -> int:
        """Start the clock for one call from ``peer`` (``context.peer()``); returns the token
        for ``done``."""
        token = next(self._ids)
        with self._lock:
            self._watched[token] = (time.monotonic(), peer, context)
            if self._parked:
                self._parked = False
                self._cond.notify()
        return token

    def done(self, token: int) -> bool:
        """The request arrived (or the call ended): stop the clock. False when the call had
        already been cancelled by this watchdog."""
        with self._lock:
            return self._watched.pop(token, None) is not None

    @property
    def parked(self) -> bool:
        """Whether the watcher is waiting for a call (nothing unread for ``park_after``)."""
        with self._lock:
            return self._parked

    def close(self) -> None:
        with self._lock:
            self._stopped = True
            self._parked = False
            self._cond.notify()
        self._watcher.join(timeout=1)

    def _expired(self, now: float) -> list[tuple[str, Cancellable]]:
        """Remove and return the calls to cancel now (under the lock)."""
        out: list[tuple[str, Cancellable]] = []
        stalled: dict[str, list[int]] = {}
        for token, (started, peer, context) in list(self._watched.items()):
            age = now - started
            if age >= self.timeout:
                del self._watched[token]
                out.append(("read_timeout", context))
            elif age >= self._stall_after:
                stalled.setdefault(peer_address(peer), []).append(token)
        for tokens in stalled.values():
            # Tokens grow with time: keep the oldest calls of a peer, cancel the newest.
            for token in sorted(tokens)[self.max_stalled_per_peer :]:
                out.append(("stalled_peer", self._watched.pop(token)[2]))
        return out

    def _run(self) -> None:
        empty_looks = 0
        while True:
            with self._lock:
                empty_looks = 0 if self._watched else empty_looks + 1
                if empty_looks >= self._park_ticks and not self._stopped:
                    self._parked = True
                    while self._parked:
                        self._cond.wait()
                    empty_looks = 0
                if self._stopped:
                    return
                expired = self._expired(time.monotonic())
            for reason, context in expired:
                context.cancel()
                if self._on_expire is not None:
                    self._on_expire(reason)
            time.sleep(self._tick)
