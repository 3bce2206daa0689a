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
