"""The per-process request driver of the load generator.

Owns the request threads of one client process: opening its share of connections, the
closed-loop and open-loop thread bodies, per-thread recording (no locks on the hot path),
merged snapshots, and the process's CPU time over the measured window. ``loadgen`` runs one
``ProcDriver`` inline or one in each spawned client process, and ``monitor`` to wake up once a
second and exactly at the window's start and end.
"""

from __future__ import annotations

import contextlib
import itertools
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from authz.bench.histogram import Histogram

if TYPE_CHECKING:
    from authz.bench.loadgen import Connection, ConnectionFactory, LoadConfig

__all__ = ["ProcDriver", "error_key", "monitor"]

_clock = time.monotonic  # CLOCK_MONOTONIC: the same clock in every process on Linux


def error_key(exc: BaseException) -> str:
    """How a failed request is counted: the gRPC status name, an AWS error code, or the
    exception type."""
    code = getattr(exc, "code", None)
    if callable(code):
        try:
            status = code()
        except Exception:
            status = None
        if status is not None:
            return str(getattr(status, "name", status))
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        aws_code = response.get("Error", {}).get("Code")
        if aws_code:
            return str(aws_code)
    return type(exc).__name__


class _ThreadStats:
    __slots__ = ("errors", "hist", "lag", "stopped_at", "warm")

    def __init__(self) -> None:
        self.hist = Histogram()
        self.lag = Histogram()
        self.errors: dict[str, int] = {}
        self.warm = 0
        self.stopped_at = 0.0


class ProcDriver:
    """The request threads of one client process."""

    def __init__(self, factory: ConnectionFactory, config: LoadConfig, proc: int) -> None:
        self.factory = factory
        self.config = config
        self.proc = proc
        self.threads_n, self.conns_n = config.share(proc)
        self.connections: list[Connection] = []
        self.stats = [_ThreadStats() for _ in range(self.threads_n)]
        self.threads: list[threading.Thread] = []
        self.limit = max(1, config.max_requests // config.concurrency)
        self.t_start = self.t_measure = self.t_end = 0.0
        self.cpu: dict[str, float] = {}
        self._tickets = itertools.count()

    def connect(self) -> None:
        base = self.proc * MAX_CONNS_PER_PROC
        for c in range(self.conns_n):
            self.connections.append(self.factory(base + c))

    def start(self, t_start: float) -> None:
        cfg = self.config
        self.t_start = t_start
        self.t_measure = t_start + cfg.warmup_s
        self.t_end = self.t_measure + cfg.duration_s
        body = self._open if cfg.mode == "open" else self._closed
        for t in range(self.threads_n):
            conn = self.connections[t % len(self.connections)]
            thread = threading.Thread(
                target=body, args=(self.stats[t], conn, t), name=f"bench-{t}", daemon=True
            )
            self.threads.append(thread)
            thread.start()

    def mark(self, name: str) -> None:
        self.cpu[name] = time.process_time()

    def join(self, timeout: float) -> None:
        deadline = _clock() + timeout
        for thread in self.threads:
            thread.join(timeout=max(deadline - _clock(), 0.0))

    def close(self) -> None:
        for conn in self.connections:
            with contextlib.suppress(Exception):  # closing is best effort
                conn.close()
        self.connections.clear()

    def snapshot(self) -> dict[str, Any]:
        hist, lag = Histogram(), Histogram()
        errors: dict[str, int] = {}
        for stats in self.stats:
            hist.merge(stats.hist)
            lag.merge(stats.lag)
            for key, n in list(stats.errors.items()):
                errors[key] = errors.get(key, 0) + n
        start = self.cpu.get("start")
        end = self.cpu.get("end", time.process_time())
        stopped = [s.stopped_at for s in self.stats]
        last = max(stopped) if stopped and all(stopped) else self.t_end
        return {
            "proc": self.proc,
            "warm": sum(s.warm for s in self.stats),
            "hist": hist.to_dict(),
            "lag": lag.to_dict(),
            "errors": errors,
            "cpu_s": end - start if start is not None else 0.0,
            "window_s": max(min(last, self.t_end) - self.t_measure, 0.0),
        }

    # -- thread bodies ----------------------------------------------------------------------

    def _record(self, stats: _ThreadStats, t_from: float, t_done: float, err: str | None) -> None:
        if t_done < self.t_measure:
            stats.warm += 1
        elif t_done < self.t_end:
            stats.hist.record(int((t_done - t_from) * 1_000_000 + 0.5))
            if err is not None:
                stats.errors[err] = stats.errors.get(err, 0) + 1

    def _closed(self, stats: _ThreadStats, conn: Connection, thread: int) -> None:
        request, t_end = conn.request, self.t_end
        step = self.config.concurrency
        index = self.proc + thread * self.config.client_procs  # distinct across processes
        wait = self.t_start - _clock()
        if wait > 0:
            time.sleep(wait)
        for _ in range(self.limit):
            t0 = _clock()
            if t0 >= t_end:
                break
            err = None
            try:
                request(index)
            except Exception as exc:
                err = error_key(exc)
            self._record(stats, t0, _clock(), err)
            index += step
        stats.stopped_at = _clock()

    def _open(self, stats: _ThreadStats, conn: Connection, _thread: int) -> None:
        cfg = self.config
        request, t_end = conn.request, self.t_end
        interval = cfg.client_procs / cfg.rate
        first = self.t_start + self.proc / cfg.rate  # processes interleave their slots
        tickets = self._tickets
        for _ in range(self.limit):
            k = next(tickets)  # atomic under the GIL
            due = first + k * interval
            if due >= t_end:
                break
            now = _clock()
            if due > now:
                time.sleep(due - now)
            sent = _clock()
            if sent >= self.t_measure:
                stats.lag.record(int((sent - due) * 1_000_000 + 0.5))
            err = None
            try:
                request(k * cfg.client_procs + self.proc)
            except Exception as exc:
                err = error_key(exc)
            self._record(stats, due, _clock(), err)  # from the intended send time
        stats.stopped_at = _clock()


MAX_CONNS_PER_PROC = 1024


def monitor(
    t_measure: float,
    t_end: float,
    tick: Callable[[float], None],
    mark: Callable[[str], None],
) -> None:
    """Call ``tick(now)`` once a second until ``t_end`` and ``mark('start'|'end')`` exactly
    at the window's bounds. Bounded by ``t_end``."""
    marks = [(t_measure, "start"), (t_end, "end")]
    next_tick = _clock() + 1.0
    while marks:
        now = _clock()
        wake = min(next_tick, marks[0][0])
        if wake > now:
            time.sleep(wake - now)
        now = _clock()
        while marks and now >= marks[0][0]:
            mark(marks.pop(0)[1])
        if now >= next_tick:
            tick(now)
            next_tick += 1.0
    tick(_clock())
