"""The time a request may still take: ``Deadline`` and the per-call deadline of this thread.

Owns the rule "long work stops when its time is up": the gRPC edge computes each call's
deadline as the earlier of the caller's gRPC deadline and the server-side maximum
(``Settings.max_request_seconds``) and binds it here (``bound``) around the backend call, as a
plain monotonic instant. Long loops (simulation pairs, batch items, statements of a policy
being compiled) call ``check(what)`` between items; past the deadline it raises
``DeadlineExceeded`` (AWS code ``Throttling``, gRPC ``DEADLINE_EXCEEDED``), so the server stops
instead of running on for a caller that has gone. Outside a call (CLI, tests, reloads) there is
no deadline and ``check`` is free.

Imports neither grpc nor cedarpy.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token
from dataclasses import dataclass

from authz.errors import DeadlineExceeded


@dataclass(frozen=True, slots=True)
class Deadline:
    """A monotonic instant (``time.monotonic()`` seconds) and the budget it came from."""

    at: float
    budget: float

    def __init__(self, at: float, budget: float) -> None:
        # explicit: mypyc compiles it (the generated one runs interpreted, ~20x slower)
        object.__setattr__(self, "at", at)
        object.__setattr__(self, "budget", budget)

    @classmethod
    def within(cls, remaining: float | None, maximum: float | None) -> Deadline | None:
        """The earlier of ``remaining`` (the caller's deadline, seconds from now; None: none)
        and ``maximum`` (the server's; None or <= 0: none)."""
        limits = [] if remaining is None else [remaining]
        if maximum is not None and maximum > 0:
            limits.append(maximum)
        if not limits:
            return None
        budget = max(0.0, min(limits))
        return cls(time.monotonic() + budget, budget)

    def remaining(self) -> float:
        return self.at - time.monotonic()

    def expired(self) -> bool:
        return time.monotonic() >= self.at


_current: ContextVar[Deadline | None] = ContextVar("authz_deadline", default=None)


def current() -> Deadline | None:
    """The deadline of the call this thread is serving, if any."""
    return _current.get()


def check(what: str) -> None:
    """Raise ``DeadlineExceeded`` naming ``what`` when the current call's time is up."""
    found = _current.get()
    if found is not None and time.monotonic() >= found.at:
        raise DeadlineExceeded(
            f"request deadline of {found.budget:.3g} s exceeded while {what}: the work was "
            "stopped; retry with a longer deadline or a smaller request (e.g. `MaxItems`)"
        )


def enter(deadline: Deadline | None) -> Token[Deadline | None]:
    """Bind ``deadline`` for the current call; ``leave(token)`` restores the previous one
    (the edge's fast form of ``bound``)."""
    return _current.set(deadline)


def leave(token: Token[Deadline | None]) -> None:
    _current.reset(token)


@contextmanager
def bound(deadline: Deadline | None) -> Iterator[None]:
    """Bind ``deadline`` as the current call's for the duration of the block."""
    token = _current.set(deadline)
    try:
        yield
    finally:
        _current.reset(token)
