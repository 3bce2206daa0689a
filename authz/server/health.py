"""Health: the standard ``grpc.health.v1`` service, driven by ``Backend.ready()``.

Owns the health servicer and a small monitor thread that polls ``backend.ready()`` and sets
every service (and the overall ``""`` entry) to SERVING once a snapshot is loaded, NOT_SERVING
before (and again if the backend reports not ready). ``refresh()`` re-reads at once (after a
Reload RPC); ``shutdown()`` marks everything NOT_SERVING for a graceful stop.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable

from grpc_health.v1 import health, health_pb2

_log = logging.getLogger("authz.server.health")


class HealthMonitor:
    def __init__(
        self, ready: Callable[[], bool], services: Iterable[str], interval: float = 1.0
    ) -> None:
        self.servicer = health.HealthServicer()
        self._ready = ready
        self._services = ("", *services)
        self._interval = interval
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._serving: bool | None = None
        self._thread: threading.Thread | None = None
        self._set(False)

    def start(self) -> None:
        self.refresh()
        self._thread = threading.Thread(target=self._run, name="authz-health", daemon=True)
        self._thread.start()

    def refresh(self) -> None:
        """Re-read ``backend.ready()`` now; an exception counts as not ready."""
        try:
            ready = bool(self._ready())
        except Exception:
            _log.warning("backend.ready() failed", exc_info=True)
            ready = False
        self._set(ready)

    def _set(self, serving: bool) -> None:
        with self._lock:
            if serving == self._serving:
                return
            self._serving = serving
            status = (
                health_pb2.HealthCheckResponse.SERVING
                if serving
                else health_pb2.HealthCheckResponse.NOT_SERVING
            )
            for name in self._services:
                self.servicer.set(name, status)
        _log.info("health status changed", extra={"serving": serving})

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self.refresh()

    def shutdown(self) -> None:
        """Stop polling and report NOT_SERVING everywhere (no further changes)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self._interval + 1)
        self.servicer.enter_graceful_shutdown()
