"""The edge's thread pool: started whole at once, counting only real calls."""

from __future__ import annotations

import threading

from authz.server.admission import CountingPool


def test_prestart_starts_every_thread_without_counting_calls() -> None:
    pool = CountingPool(4, "prestart-test")
    try:
        assert pool.prestart() == 4
        assert pool.active == 0
        before = threading.active_count()
        gate = threading.Event()
        running = [pool.submit(gate.wait, 5) for _ in range(4)]
        assert pool.active == 4
        assert threading.active_count() == before  # no thread started under the load
        gate.set()
        for future in running:
            future.result(5)
    finally:
        pool.shutdown(wait=True)


def test_stop_waits_for_the_call_in_flight_before_it_stops_accepting() -> None:
    """A closed-loop client sends its next call as one ends: gRPC core cancels a call that
    arrives while it shuts down (CANCELLED, not retried), so the stop must not begin while a
    call runs, nor right after one ended. Old rule (quiet = nothing *arrived* for 0.1 s):
    with a 0.3 s call that arrived before the quiet period, the stop began mid-call."""
    import time
    from types import SimpleNamespace

    from authz.server.app import _QUIESCE_SECONDS, AuthzServer

    pool = CountingPool(2, "quiesce-test")
    try:
        running = pool.submit(time.sleep, 0.3)
        time.sleep(2 * _QUIESCE_SECONDS)  # arrived long enough ago to look quiet by arrivals
        started = time.monotonic()
        AuthzServer._quiesce(SimpleNamespace(_pools=[pool]), 1.0)  # type: ignore[arg-type]
        waited = time.monotonic() - started
        assert running.done() and pool.active == 0
        assert time.monotonic() - pool.last_done >= _QUIESCE_SECONDS  # quiet after it ended
        assert waited < 1.0  # and not the whole limit
        pool.submit(time.sleep, 1.0)  # a call that outlasts the limit: the stop goes ahead
        started = time.monotonic()
        AuthzServer._quiesce(SimpleNamespace(_pools=[pool]), 0.3)  # type: ignore[arg-type]
        assert 0.3 <= time.monotonic() - started < 1.0
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
