"""Background work that gives way to serving: ``Courtesy`` and the courtesy bound to this thread.

A reload of a large repository is pure-Python work (stat and hash every file, rebuild what
changed, check references, run the repository's tests): ~0.15 s of CPU for one changed file in
a 10,000-role repository, ~3 s for a first build. It holds the interpreter lock in
half-millisecond turns, so every call being served meanwhile waits for it again and again
(Authorize p99 went from 5 ms to 35 ms during back-to-back reloads). CPython has no thread
priorities; this module is the cooperative substitute.

The server binds a ``Courtesy`` around a build (``bound``), with ``busy``: "are calls in flight
that this build would delay?" (the edge's count of calls that have arrived and not finished).
Long loops of the build call ``pause()`` between items. While calls are in flight the build
sleeps (the lock is free for them) until they are done or ``max_wait`` has passed; after a
full ``max_wait`` it runs at least ``min_run`` before giving way again, so a build under
constant load still finishes (it gets at least ``min_run / (min_run + max_wait)`` of a core).

A call that has just arrived is not yet "in flight": it first needs the interpreter lock the
build holds. So while no call is in flight the build also ends each ``slice`` (1 ms) with a
short sleep (``YIELD``, 50 µs) that lets any thread waiting for the lock take it (see
``_slice_over``): a few percent of build time for a bounded wait of a newly arrived call.

Outside a bound build (the CLI, tests, ``authz validate``) ``pause`` is one context-variable
read. Imports neither grpc nor cedarpy.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

Busy = Callable[[], bool]
Quiet = Callable[[float], bool]  # wait up to that many seconds for no calls; True when quiet

DEFAULT_MAX_WAIT = 0.02  # seconds a build waits for in-flight calls before it runs on anyway
DEFAULT_MIN_RUN = 0.002  # seconds a build then runs before it gives way again
NAP = 0.0005  # the sleep between two looks at ``busy``
DEFAULT_SLICE = 0.001  # seconds a build runs, while no call is in flight, between two yields
YIELD = 0.00005  # the yield's sleep: long enough for a thread waiting for the GIL to take it


class Courtesy:
    """Gives way to in-flight calls at ``pause()``; counts the time it gave (``waited``)."""

    __slots__ = (
        "_run_until",
        "_yielded",
        "busy",
        "max_wait",
        "min_run",
        "naps",
        "quiet",
        "slice",
        "waited",
        "yields",
    )

    def __init__(
        self,
        busy: Busy,
        *,
        max_wait: float = DEFAULT_MAX_WAIT,
        min_run: float = DEFAULT_MIN_RUN,
        quiet: Quiet | None = None,
        slice: float = DEFAULT_SLICE,
    ) -> None:
        if max_wait < 0 or min_run < 0 or slice < 0:
            raise ValueError("courtesy times must not be negative")
        self.busy = busy
        self.quiet = quiet  # blocks until no calls are in flight (no polling): preferred
        self.max_wait = max_wait
        self.min_run = min_run
        self.waited = 0.0  # seconds spent giving way, for logs and tests
        self.naps = 0
        self.slice = slice
        self.yields = 0  # slices ended with a yield while no call was in flight
        self._run_until = 0.0
        self._yielded = time.perf_counter()

    def pause(self) -> None:
        if not self.busy():
            self._slice_over()
            return
        now = time.perf_counter()
        if now < self._run_until:
            return
        end = now + self.max_wait
        if self.quiet is not None:  # sleep until the calls are done: no wake-ups in between
            self.naps += 1
            if not self.quiet(self.max_wait):
                self._run_until = time.perf_counter() + self.min_run
            self.waited += time.perf_counter() - now
            return
        while True:
            time.sleep(NAP)
            self.naps += 1
            after = time.perf_counter()
            if not self.busy():
                break
            if after >= end:  # constant load: run a while before giving way again
                self._run_until = after + self.min_run
                break
        self.waited += after - now

    def _slice_over(self) -> None:
        """No call is in flight *that has got the interpreter lock yet*: one that has just
        arrived is still waiting for it, and CPython hands it over only after the switch
        interval — or later, since a build's file I/O releases and retakes the lock between
        syscalls, which restarts the waiter's clock (the "convoy effect"). So every ``slice``
        of running the build sleeps ``YIELD``, off the CPU: whoever waits for the lock takes it,
        marks its call in flight, and the next ``pause`` gives way to it."""
        now = time.perf_counter()
        if now - self._yielded >= self.slice:
            time.sleep(YIELD)
            self.yields += 1
            self._yielded = time.perf_counter()


_current: ContextVar[Courtesy | None] = ContextVar("authz_courtesy", default=None)


def pause() -> None:
    """Give way to in-flight calls if this thread's work is bound to a ``Courtesy``."""
    courtesy = _current.get()
    if courtesy is not None:
        courtesy.pause()


@contextmanager
def bound(courtesy: Courtesy | None) -> Iterator[Courtesy | None]:
    """Run the block with ``courtesy`` bound to this thread (None: no courtesy)."""
    token = _current.set(courtesy)
    try:
        yield courtesy
    finally:
        _current.reset(token)
