"""Admission control at the edge: which calls run, which wait briefly, which are refused.

Owns the decision, not the gRPC plumbing (``interceptors.py`` applies it). Three limits:

- **arrival capacity** (``capacity``): calls that have arrived and hold an RPC thread (reading
  their request, waiting for a slot or running). Counted by ``CountingPool`` from the moment
  gRPC hands the call over; a call arriving beyond it is refused at once, without a thread of
  the admitted pool and without reading its request.
- **running slots** (``max_running``): calls executing at once. A call waits for a slot at most
  ``wait_seconds`` (the short admission queue: at most ``capacity - max_running`` calls wait),
  then is refused. The bound on an admitted call's latency is ``wait_seconds`` + its own time.
- **per caller** (``max_per_caller``): running slots one authenticated caller may hold; beyond
  it that caller is refused while the others keep their share.

``drain()`` is the first step of a graceful stop: calls still waiting for a slot, and calls
arriving from then on, are told ``ServiceUnavailable`` (UNAVAILABLE, retryable); running calls
finish. Must not import grpc.
"""

from __future__ import annotations

import contextlib
import enum
import threading
import time
from collections.abc import Callable
from concurrent import futures
from typing import Any


class Admission(enum.Enum):
    ADMITTED = "admitted"
    BUSY = "busy"  # no slot within the wait: Throttling
    DRAINING = "draining"  # the server is stopping: ServiceUnavailable


class AdmissionGate:
    """Running slots with a short bounded wait, a per-caller cap and a drain switch."""

    def __init__(self, max_running: int, wait_seconds: float, max_per_caller: int) -> None:
        if max_running < 1 or max_per_caller < 1 or wait_seconds < 0:
            raise ValueError("admission limits must be positive")
        self.max_running = max_running
        self.wait_seconds = wait_seconds
        self.max_per_caller = max_per_caller
        # Held directly (``with self._lock``) where nothing waits: ``Condition.__enter__`` is
        # Python code, interpreted on every call even when this module is compiled.
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._running = 0
        self._waiting = 0
        self._per_caller: dict[str, int] = {}
        self._draining = False

    @property
    def running(self) -> int:
        return self._running

    @property
    def waiting(self) -> int:
        return self._waiting

    @property
    def draining(self) -> bool:
        return self._draining

    def acquire(self) -> Admission:
        """Take a running slot, waiting at most ``wait_seconds``."""
        with self._lock:  # ``self._cond.wait`` below works on this same lock
            if self._draining:
                return Admission.DRAINING
            if self._running < self.max_running:
                self._running += 1
                return Admission.ADMITTED
            if self.wait_seconds <= 0:
                return Admission.BUSY
            deadline = time.monotonic() + self.wait_seconds
            self._waiting += 1
            try:
                while True:
                    left = deadline - time.monotonic()
                    if left <= 0 or not self._cond.wait(left):
                        if self._running < self.max_running and not self._draining:
                            break
                        return Admission.DRAINING if self._draining else Admission.BUSY
                    if self._draining:
                        return Admission.DRAINING
                    if self._running < self.max_running:
                        break
            finally:
                self._waiting -= 1
            self._running += 1
            return Admission.ADMITTED

    def release(self) -> None:
        with self._lock:
            self._running -= 1
            if self._waiting:  # ``notify`` is Python code too; nobody to wake most of the time
                self._cond.notify()

    def enter_caller(self, key: str) -> bool:
        """Count one running call of ``key``; False (nothing counted) beyond its share."""
        with self._lock:
            held = self._per_caller.get(key, 0)
            if held >= self.max_per_caller:
                return False
            self._per_caller[key] = held + 1
            return True

    def leave_caller(self, key: str) -> None:
        with self._lock:
            held = self._per_caller.get(key, 0) - 1
            if held > 0:
                self._per_caller[key] = held
            else:
                self._per_caller.pop(key, None)

    def drain(self) -> None:
        """Refuse from now on (retryably); wake every waiting call so it is told at once."""
        with self._cond:
            self._draining = True
            self._cond.notify_all()


class CountingPool(futures.ThreadPoolExecutor):
    """A thread pool that counts the calls submitted to it and not yet finished.

    gRPC submits each call on its serving thread as the call arrives, so ``active`` counts a
    call from its arrival (including the time it spends reading its request) to its end, even
    when the handler never runs (the client went away first)."""

    def __init__(self, max_workers: int, thread_name_prefix: str) -> None:
        super().__init__(max_workers=max_workers, thread_name_prefix=thread_name_prefix)
        self.capacity = max_workers
        self._lock = threading.Lock()
        self._quiet = threading.Condition(self._lock)
        self._quiet_waiters = 0
        self.active = 0
        self.last_arrival = 0.0  # time.monotonic() of the latest submission
        self.last_done = 0.0  # ... and of the latest end of a call

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> futures.Future[Any]:
        with self._lock:
            self.active += 1
        self.last_arrival = time.monotonic()
        try:
            future = super().submit(fn, *args, **kwargs)
        except BaseException:
            self._done(None)
            raise
        future.add_done_callback(self._done)
        return future

    def prestart(self, timeout: float = 5.0) -> int:
        """Start every thread of the pool now (the executor starts them one per submission,
        as concurrency first rises): the process's thread count and the memory their stacks
        take are then fixed from the start, not stepping up later under a burst. Not counted
        in ``active``. Returns the number of threads running."""
        barrier = threading.Barrier(self.capacity + 1)
        submit = super().submit  # uncounted
        waits = [submit(barrier.wait, timeout) for _ in range(self.capacity)]
        with contextlib.suppress(threading.BrokenBarrierError):
            barrier.wait(timeout)
        futures.wait(waits, timeout)
        return len(self._threads)

    def _done(self, _future: object) -> None:
        with self._lock:
            self.active -= 1
            self.last_done = time.monotonic()
            if self._quiet_waiters:
                self._quiet.notify_all()

    def wait_at_most(self, calls: Callable[[], int], timeout: float) -> bool:
        """Block until at most ``calls()`` calls are active, or ``timeout`` seconds; True when
        that many or fewer are. (Background work waits here instead of polling.)"""
        with self._lock:
            self._quiet_waiters += 1
            try:
                return self._quiet.wait_for(lambda: self.active <= calls(), timeout)
            finally:
                self._quiet_waiters -= 1

    def has_room(self) -> bool:
        """True while a newly arriving call would find a free thread at once."""
        return self.active < self.capacity
