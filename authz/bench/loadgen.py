"""The load generator: closed-loop and open-loop request drivers with bounded runs.

Owns load shapes, timing, per-thread recording and the spread over client processes. Knows
nothing of what a request is: a ``ConnectionFactory`` (``scenarios.GrpcConnector``, or
``moto.BotoConnector``) opens connection *c* and its ``request(index)`` performs one call,
raising on failure. ``run_load`` returns a ``LoadResult``; ``report`` turns results into files.

- closed loop: ``concurrency`` threads each keep one request in flight, spread round-robin
  over ``connections`` connections, split over ``client_procs`` processes (spawned, so the
  generator's own GIL is not the bottleneck);
- open loop: requests are due at ``rate`` per second on a fixed schedule; a free thread takes
  the next due slot, and latency is measured from the slot's *intended* send time, so a
  stalled server shows up in the percentiles (no coordinated omission).

Timing: warm-up, then the measured window; a request counts in the window its response lands
in. Every run is bounded: duration, warm-up, thread and connection counts are capped, each
call carries its own deadline, and stragglers are abandoned after a grace period. Progress goes
to stderr once a second. Only loopback targets are accepted (``check_loopback``).
"""

from __future__ import annotations

import ipaddress
import multiprocessing as mp
import os
import queue
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol, TextIO

from authz.bench.driver import ProcDriver, monitor
from authz.bench.histogram import Histogram

__all__ = [
    "Connection",
    "ConnectionFactory",
    "LoadConfig",
    "LoadResult",
    "RequestFn",
    "check_loopback",
    "process_cpu_seconds",
    "run_load",
]

RequestFn = Callable[[int], object]
PERCENTILES = {"p50": 50.0, "p90": 90.0, "p99": 99.0, "p99.9": 99.9}
MAX_DURATION_S = 600.0
MAX_WARMUP_S = 120.0
MAX_CONCURRENCY = 4096
MAX_CONNECTIONS = 1024
MAX_PROCS = 16
GRACE_S = 15.0


class Connection(Protocol):
    """One client connection: ``request`` is called from several threads at once."""

    def request(self, index: int) -> object: ...

    def close(self) -> None: ...


ConnectionFactory = Callable[[int], Connection]


def check_loopback(target: str) -> str:
    """Return the host of ``host:port`` if it is a loopback address; raise ``ValueError``
    otherwise. The load generator sends traffic to this machine only."""
    host, sep, port = target.rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f"target `{target}` is not host:port")
    host = host.strip("[]")
    if host == "localhost":
        return "127.0.0.1"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        raise ValueError(f"refusing target `{target}`: only loopback addresses") from None
    if not address.is_loopback:
        raise ValueError(f"refusing target `{target}`: only loopback addresses")
    return host


@dataclass(frozen=True)
class LoadConfig:
    """The load shape. ``rate`` (requests/s, all processes together) is used in open mode."""

    mode: str = "closed"
    concurrency: int = 16
    connections: int = 4
    rate: float = 0.0
    duration_s: float = 10.0
    warmup_s: float = 2.0
    client_procs: int = 1
    max_requests: int = 50_000_000
    progress: bool = True

    def __post_init__(self) -> None:
        if self.mode not in ("closed", "open"):
            raise ValueError(f"mode `{self.mode}` is not `closed` or `open`")
        if self.mode == "open" and not 0 < self.rate <= 1_000_000:
            raise ValueError("open mode needs 0 < rate <= 1000000")
        if not 0 < self.duration_s <= MAX_DURATION_S:
            raise ValueError(f"duration must be in (0, {MAX_DURATION_S}] seconds")
        if not 0 <= self.warmup_s <= MAX_WARMUP_S:
            raise ValueError(f"warm-up must be in [0, {MAX_WARMUP_S}] seconds")
        if not 1 <= self.client_procs <= MAX_PROCS:
            raise ValueError(f"client procs must be in [1, {MAX_PROCS}]")
        if not self.client_procs <= self.concurrency <= MAX_CONCURRENCY:
            raise ValueError(f"concurrency must be in [client procs, {MAX_CONCURRENCY}]")
        if not self.client_procs <= self.connections <= MAX_CONNECTIONS:
            raise ValueError(f"connections must be in [client procs, {MAX_CONNECTIONS}]")

    def share(self, proc: int) -> tuple[int, int]:
        """This process's (threads, connections) share."""
        n = self.client_procs
        threads = self.concurrency // n + (1 if proc < self.concurrency % n else 0)
        conns = self.connections // n + (1 if proc < self.connections % n else 0)
        return threads, min(conns, threads)


@dataclass
class LoadResult:
    """What one run measured. Latencies in microseconds; throughput counts every completed
    request of the measured window (successes and errors)."""

    scenario: str
    target: str
    mode: str
    concurrency: int
    connections: int
    client_procs: int
    target_rate: float
    warmup_s: float
    duration_s: float
    requests: int
    successes: int
    errors: dict[str, int]
    throughput_rps: float
    success_rps: float
    latency_us: dict[str, float]
    items_per_request: int = 1
    items_per_s: float = 0.0
    client_cpu_us_per_request: float | None = None
    server_cpu_us_per_request: float | None = None
    send_lag_p99_us: float | None = None
    started_at: str = ""
    histogram: dict[str, object] = field(default_factory=dict, repr=False)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def run_load(
    factory: ConnectionFactory,
    config: LoadConfig,
    *,
    scenario: str,
    target: str,
    items_per_request: int = 1,
    server_pid: int | None = None,
    stream: TextIO | None = None,
) -> LoadResult:
    """Drive ``factory``'s connections with ``config``'s load; blocks for warm-up + duration."""
    check_loopback(target)
    out = stream if stream is not None else sys.stderr
    started = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    agg = _Aggregate(config, scenario, out)
    if config.client_procs == 1:
        _run_inline(factory, config, agg, server_pid)
    else:
        _run_procs(factory, config, agg, server_pid)
    return agg.result(scenario, target, items_per_request, started)


class _Aggregate:
    """Latest snapshot of every process, server CPU samples, and the progress line."""

    def __init__(self, config: LoadConfig, scenario: str, out: TextIO) -> None:
        self.config = config
        self.scenario = scenario
        self.out = out
        self.snapshots: dict[int, dict[str, Any]] = {}
        self.server_cpu: dict[str, float] = {}
        self.t_measure = 0.0

    def progress(self, now: float) -> None:
        if not self.config.progress or not self.snapshots:
            return
        snaps = list(self.snapshots.values())
        if now < self.t_measure:
            warm = sum(int(s["warm"]) for s in snaps)
            line = f"[{self.scenario}] warm-up {warm} requests"
        else:
            elapsed = max(now - self.t_measure, 1e-9)
            hist = _merged(snaps)
            errors = sum(sum(s["errors"].values()) for s in snaps)
            line = (
                f"[{self.scenario}] {elapsed:5.1f}s {hist.count / elapsed:9.0f} req/s"
                f"  p99 {hist.percentile(99) / 1000:7.2f} ms  errors {errors}"
            )
        print(line, file=self.out, flush=True)

    def sample_server(self, mark: str, pid: int | None) -> None:
        cpu = process_cpu_seconds(pid) if pid is not None else None
        if cpu is not None:
            self.server_cpu[mark] = cpu

    def result(self, scenario: str, target: str, items: int, started: str) -> LoadResult:
        cfg = self.config
        snaps = list(self.snapshots.values())
        hist = _merged(snaps)
        errors: dict[str, int] = {}
        for snap in snaps:
            for key, n in snap["errors"].items():
                errors[key] = errors.get(key, 0) + int(n)
        lag = Histogram()
        for snap in snaps:
            lag.merge(Histogram.from_dict(snap["lag"]))
        window = max(min(float(s["window_s"]) for s in snaps), 1e-9) if snaps else 1e-9
        requests = hist.count
        successes = requests - sum(errors.values())
        client_cpu = sum(float(s["cpu_s"]) for s in snaps)
        server_cpu = None
        if "start" in self.server_cpu and "end" in self.server_cpu and requests:
            server_cpu = (self.server_cpu["end"] - self.server_cpu["start"]) / requests * 1e6
        latency = {name: hist.percentile(p) for name, p in PERCENTILES.items()}
        latency.update(max=float(hist.max_us), mean=hist.mean_us)
        return LoadResult(
            scenario=scenario,
            target=target,
            mode=cfg.mode,
            concurrency=cfg.concurrency,
            connections=cfg.connections,
            client_procs=cfg.client_procs,
            target_rate=cfg.rate,
            warmup_s=cfg.warmup_s,
            duration_s=round(window, 3),
            requests=requests,
            successes=successes,
            errors=errors,
            throughput_rps=requests / window,
            success_rps=successes / window,
            latency_us=latency,
            items_per_request=items,
            items_per_s=successes * items / window,
            client_cpu_us_per_request=client_cpu / requests * 1e6 if requests else None,
            server_cpu_us_per_request=server_cpu,
            send_lag_p99_us=lag.percentile(99) if cfg.mode == "open" else None,
            started_at=started,
            histogram=hist.to_dict(),
        )


def _merged(snaps: list[dict[str, Any]]) -> Histogram:
    hist = Histogram()
    for snap in snaps:
        hist.merge(Histogram.from_dict(snap["hist"]))
    return hist


def process_cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of a process (all its threads), from /proc."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def _run_inline(
    factory: ConnectionFactory, config: LoadConfig, agg: _Aggregate, server_pid: int | None
) -> None:
    driver = ProcDriver(factory, config, proc=0)
    try:
        driver.connect()
        t_start = time.monotonic() + 0.05
        agg.t_measure = t_start + config.warmup_s
        t_end = agg.t_measure + config.duration_s
        driver.start(t_start)

        def tick(now: float) -> None:
            agg.snapshots[0] = driver.snapshot()
            agg.progress(now)

        def mark(name: str) -> None:
            driver.mark(name)
            agg.sample_server(name, server_pid)

        monitor(agg.t_measure, t_end, tick, mark)
        driver.join(GRACE_S)
        agg.snapshots[0] = driver.snapshot()
    finally:
        driver.close()


def _run_procs(
    factory: ConnectionFactory, config: LoadConfig, agg: _Aggregate, server_pid: int | None
) -> None:
    ctx = mp.get_context("spawn")
    snaps: mp.Queue[dict[str, Any]] = ctx.Queue()
    go = ctx.Event()
    start_at = ctx.Value("d", 0.0)
    procs = [
        ctx.Process(
            target=_child_main,
            args=(factory, config, p, snaps, go, start_at),
            name=f"authz-bench-client-{p}",
            daemon=True,
        )
        for p in range(config.client_procs)
    ]
    try:
        for proc in procs:
            proc.start()
        ready: set[int] = set()
        deadline = time.monotonic() + 60.0
        while len(ready) < len(procs):
            snap = snaps.get(timeout=max(deadline - time.monotonic(), 0.01))
            if "error" in snap:
                raise RuntimeError(f"client process {snap['proc']}: {snap['error']}")
            ready.add(int(snap["proc"]))
        t_start = time.monotonic() + 0.1
        start_at.value = t_start
        go.set()
        agg.t_measure = t_start + config.warmup_s
        t_end = agg.t_measure + config.duration_s

        def drain(now: float) -> None:
            _drain(snaps, agg.snapshots)
            agg.progress(now)

        monitor(agg.t_measure, t_end, drain, lambda name: agg.sample_server(name, server_pid))
        finals: set[int] = set()
        deadline = time.monotonic() + GRACE_S
        while len(finals) < len(procs) and time.monotonic() < deadline:
            try:
                snap = snaps.get(timeout=0.5)
            except queue.Empty:
                continue
            agg.snapshots[int(snap["proc"])] = snap
            if snap.get("final"):
                finals.add(int(snap["proc"]))
    finally:
        for proc in procs:
            proc.join(timeout=2.0)
            if proc.is_alive():
                proc.kill()
                proc.join(timeout=2.0)
        snaps.close()


def _drain(snaps: mp.Queue[dict[str, Any]], into: dict[int, dict[str, Any]]) -> None:
    for _ in range(10_000):
        try:
            snap = snaps.get_nowait()
        except queue.Empty:
            return
        into[int(snap["proc"])] = snap


def _child_main(
    factory: ConnectionFactory,
    config: LoadConfig,
    proc: int,
    snaps: mp.Queue[dict[str, Any]],
    go: Any,
    start_at: Any,
) -> None:
    """A client process: connect, report ready, wait for the common start, drive, report."""
    driver = ProcDriver(factory, config, proc=proc)
    try:
        try:
            driver.connect()
        except Exception as err:
            snaps.put({"proc": proc, "error": f"{type(err).__name__}: {err}"})
            return
        snaps.put({"proc": proc, "ready": True})
        if not go.wait(timeout=120.0):
            return
        t_start = float(start_at.value)
        t_measure = t_start + config.warmup_s
        driver.start(t_start)
        monitor(
            t_measure,
            t_measure + config.duration_s,
            lambda _n: snaps.put(driver.snapshot()),
            driver.mark,
        )
        driver.join(GRACE_S - 2.0)
        final = driver.snapshot()
        final["final"] = True
        snaps.put(final)
    finally:
        driver.close()
