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

The parent forwards SIGTERM/SIGINT to the workers (each drains gracefully) and, when one worker
exits on its own, stops the others: the process supervisor restarts the whole group.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import threading
from collections.abc import Callable
from dataclasses import replace

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


def worker_main(factory: WorkerFactory, index: int, pin: bool = False) -> None:
    """The body of worker ``index``: pin (optionally), build, then serve until SIGTERM/SIGINT."""
    if pin:
        pin_to_cpu(index)
    backend, config = factory()
    config = replace(
        config, reuse_port=True, metrics_listen=_offset_listen(config.metrics_listen, index)
    )
    serve(backend, config)


def run_workers(
    factory: WorkerFactory,
    workers: int,
    *,
    stop_event: threading.Event | None = None,
    poll_seconds: float = 0.2,
    pin: bool = False,
) -> int:
    """Run ``workers`` processes until a signal (or ``stop_event``); returns the worst exit
    code. ``workers == 1`` serves in this process. ``pin``: see the module docstring."""
    if workers < 1:
        raise ValueError("workers must be at least 1")
    if workers == 1:
        if pin:
            pin_to_cpu(0)
        backend, config = factory()
        serve(backend, config, stop_event=stop_event)
        return 0
    ctx = multiprocessing.get_context("spawn")
    procs = [
        ctx.Process(target=worker_main, args=(factory, i, pin), name=f"authz-worker-{i}")
        for i in range(workers)
    ]
    stop = stop_event or threading.Event()
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda signum, _frame: stop.set())
    for proc in procs:
        proc.start()
    _log.info("workers started", extra={"pids": [p.pid for p in procs]})
    while not stop.wait(poll_seconds):
        if any(not p.is_alive() for p in procs):
            _log.warning("a worker exited; stopping the others")
            break
    for proc in procs:
        if proc.is_alive():
            proc.terminate()  # SIGTERM: the worker shuts down gracefully
    for proc in procs:
        proc.join()
    # A worker ended by our SIGTERM before its handler was installed still ended cleanly.
    return max(0 if p.exitcode == -signal.SIGTERM else abs(p.exitcode or 0) for p in procs)
