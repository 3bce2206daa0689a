"""Running N server processes that share one port (``authz serve --workers N``).

Owns process supervision only. One Python process serves on one core (the GIL), so N worker
processes are spawned (not forked: gRPC must not be initialised before a fork), each calling
the factory to build its own backend (each loads the repository itself) and serving with
``grpc.so_reuseport`` on the same fixed port; the kernel spreads *connections* across them.
Worker ``i`` exposes metrics on the configured metrics port + ``i``. With ``pin=True``
(``--pin-workers``) worker ``i`` is bound to the ``i``-th CPU this process may use (modulo
their number), before it starts any thread: a worker then keeps gRPC's threads on its own core
instead of spreading them over the cores its siblings need (measured: ``benchmarks/README.md``,
"Workers").

The parent supervises (``Supervisor``): a worker that dies (crash, SIGKILL, OOM kill) is
restarted after a back-off while the others keep serving, with a log line and
``authz_worker_restarts_total`` on the new worker's metrics port. Only SIGTERM/SIGINT to the
parent stops the group: it is forwarded to every worker, and each drains gracefully.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from multiprocessing.process import BaseProcess

from authz.server.app import ServerConfig, serve
from authz.server.ports import Backend

_log = logging.getLogger("authz.server.workers")

# Must be picklable (a module-level function): it runs in each spawned worker.
WorkerFactory = Callable[[], tuple[Backend, ServerConfig]]


def _offset_listen(listen: str | None, index: int) -> str | None:
    if not listen:
        return listen
    host, _, port = listen.rpartition(":")
    return f"{host}:{int(port) + index}" if int(port) else listen


def pin_to_cpu(index: int) -> int | None:
    """Bind this process to the ``index``-th CPU it may use (modulo); that CPU, or None
    where affinity is not supported."""
    if not hasattr(os, "sched_getaffinity"):
        return None
    cpus = sorted(os.sched_getaffinity(0))
    cpu = cpus[index % len(cpus)]
    os.sched_setaffinity(0, {cpu})
    return cpu


def worker_main(
    factory: WorkerFactory,
    index: int,
    pin: bool = False,
    restarts: int = 0,
    supervisor: int | None = None,
) -> None:
    """The body of worker ``index``: pin (optionally), build, then serve until SIGTERM/SIGINT.
    ``restarts``: how often the supervisor has restarted this slot (a metric)."""
    if pin:
        pin_to_cpu(index)
    # The supervisor's pid as it knew it: a worker that starts after its supervisor died (and
    # was re-parented already) stops at once instead of watching its new parent.
    stop = _stop_when_orphaned(supervisor if supervisor is not None else os.getppid())
    backend, config = factory()
    config = replace(
        config, reuse_port=True, metrics_listen=_offset_listen(config.metrics_listen, index)
    )
    try:
        serve(
            backend,
            config,
            stop_event=stop,
            on_created=lambda server: server.metrics.worker_restarts.inc(restarts),
        )
    finally:
        close_backend(backend)


def close_backend(backend: Backend) -> None:
    """After serving: stop what the factory started (watchers, the state database), if the
    backend has anything to close."""
    close = getattr(backend, "close", None)
    if callable(close):
        close()


ORPHAN_POLL_SECONDS = 0.5


def _stop_when_orphaned(parent: int) -> threading.Event:
    """An event set once this worker's supervisor is gone (killed with SIGKILL, say): the worker
    then stops as on SIGTERM (drain, finish accepted calls) instead of serving on, unsupervised,
    on a port a new group would share with it (``SO_REUSEPORT``)."""
    stop = threading.Event()

    def watch() -> None:
        while not stop.wait(ORPHAN_POLL_SECONDS):
            if os.getppid() != parent:
                _log.warning("supervisor %d is gone: stopping this worker", parent)
                stop.set()

    threading.Thread(target=watch, name="authz-orphan-watch", daemon=True).start()
    return stop


@dataclass
class _Slot:
    """One worker position: its current process and its restart history."""

    index: int
    proc: BaseProcess | None = None
    started: float = 0.0
    restarts: int = 0
    backoff: float = 0.0
    next_start: float = 0.0


class Supervisor:
    """Keeps ``workers`` processes running: a worker that exits on its own (crash, SIGKILL,
    OOM) is restarted after a back-off (``min_backoff`` doubling to ``max_backoff``; reset
    once a worker has lived ``stable_seconds``) while the others keep serving. Only a stop
    (SIGTERM/SIGINT to this process, or ``stop_event``) stops the group: each worker gets
    SIGTERM and drains; a second signal is forwarded too (workers cut their drain short)."""

    def __init__(
        self,
        factory: WorkerFactory,
        workers: int,
        *,
        pin: bool = False,
        min_backoff: float = 0.5,
        max_backoff: float = 30.0,
        stable_seconds: float = 30.0,
    ) -> None:
        self._factory = factory
        self._pin = pin
        self._min_backoff = min_backoff
        self._max_backoff = max_backoff
        self._stable = stable_seconds
        self._ctx = multiprocessing.get_context("spawn")
        self.slots = [_Slot(i) for i in range(workers)]

    def _start(self, slot: _Slot) -> None:
        proc = self._ctx.Process(
            target=worker_main,
            args=(self._factory, slot.index, self._pin, slot.restarts, os.getpid()),
            name=f"authz-worker-{slot.index}",
        )
        proc.start()
        slot.proc, slot.started = proc, time.monotonic()

    def start(self) -> None:
        for slot in self.slots:
            self._start(slot)
        _log.info("workers started", extra={"pids": [s.proc.pid for s in self.slots if s.proc]})

    def check(self) -> None:
        """Notice dead workers and restart those whose back-off has passed."""
        now = time.monotonic()
        for slot in self.slots:
            proc = slot.proc
            if proc is not None and not proc.is_alive():
                proc.join()
                lived = now - slot.started
                slot.backoff = (
                    self._min_backoff
                    if lived >= self._stable or not slot.backoff
                    else min(slot.backoff * 2, self._max_backoff)
                )
                slot.proc, slot.next_start = None, now + slot.backoff
                _log.warning(
                    "worker %d (pid %s) exited with %s after %.1f s; restarting in %.1f s",
                    slot.index, proc.pid, proc.exitcode, lived, slot.backoff,
                    extra={"worker": slot.index, "exitcode": proc.exitcode,
                           "restarts": slot.restarts + 1},
                )  # fmt: skip
            if slot.proc is None and now >= slot.next_start:
                slot.restarts += 1
                self._start(slot)
                _log.warning(
                    "worker %d restarted (pid %s, restart %d)",
                    slot.index, slot.proc.pid if slot.proc else None, slot.restarts,
                    extra={"worker": slot.index, "restarts": slot.restarts},
                )  # fmt: skip

    def signal_all(self) -> None:
        for slot in self.slots:
            if slot.proc is not None and slot.proc.is_alive():
                slot.proc.terminate()  # SIGTERM: the worker drains and shuts down gracefully

    def alive(self) -> bool:
        return any(s.proc is not None and s.proc.is_alive() for s in self.slots)

    def exit_code(self) -> int:
        # A worker ended by our SIGTERM before its handler was installed still ended cleanly.
        codes = [s.proc.exitcode for s in self.slots if s.proc is not None]
        return max((0 if c == -signal.SIGTERM else abs(c or 0) for c in codes), default=0)


def run_workers(
    factory: WorkerFactory,
    workers: int,
    *,
    stop_event: threading.Event | None = None,
    poll_seconds: float = 0.2,
    pin: bool = False,
    min_backoff: float = 0.5,
) -> int:
    """Run ``workers`` processes until a signal (or ``stop_event``), restarting any that dies;
    returns the worst exit code of the last processes. ``workers == 1`` serves in this process
    (the process supervisor restarts it). ``pin``: see the module docstring."""
    if workers < 1:
        raise ValueError("workers must be at least 1")
    if workers == 1:
        if pin:
            pin_to_cpu(0)
        backend, config = factory()
        try:
            serve(backend, config, stop_event=stop_event)
        finally:
            close_backend(backend)
        return 0
    supervisor = Supervisor(factory, workers, pin=pin, min_backoff=min_backoff)
    stop = stop_event or threading.Event()
    signals = [0]
    if threading.current_thread() is threading.main_thread():

        def on_signal(signum: int, _frame: object) -> None:
            signals[0] += 1
            stop.set()

        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, on_signal)
    supervisor.start()
    while not stop.wait(poll_seconds):
        supervisor.check()
    _log.info("stopping workers")
    supervisor.signal_all()
    forwarded = signals[0]
    while supervisor.alive():
        time.sleep(poll_seconds)
        if signals[0] > forwarded:  # a second signal: pass it on (workers end their drain)
            forwarded = signals[0]
            supervisor.signal_all()
    return supervisor.exit_code()
