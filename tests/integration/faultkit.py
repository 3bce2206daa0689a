"""Tools of the fault tests and of ``benchmarks/faults_bench.py``: a closed-loop load generator
that keeps N calls in flight over several connections and records every outcome (status, AWS
error code, latency, request id), a server process started and probed on 127.0.0.1, the
audit log and metrics readers. Loopback only; every run is bounded in time.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

ROOT = Path(__file__).resolve().parents[2]
LOCALHOST = "127.0.0.1"


@dataclass(frozen=True, slots=True)
class Outcome:
    code: str  # grpc.StatusCode name
    aws_code: str | None
    seconds: float
    request_id: str
    sent_at: float  # time.monotonic() when sent


@dataclass
class LoadResult:
    outcomes: list[Outcome] = field(default_factory=list)
    wall_seconds: float = 0.0

    def codes(self) -> Counter[str]:
        return Counter(o.code for o in self.outcomes)

    def ok(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.code == "OK"]

    def refused(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.code != "OK"]

    def percentile(self, q: float, outcomes: Sequence[Outcome] | None = None) -> float:
        values = sorted(o.seconds for o in (self.ok() if outcomes is None else outcomes))
        if not values:
            return 0.0
        return values[min(len(values) - 1, math.ceil(q * len(values)) - 1)]

    def summary(self) -> dict[str, Any]:
        ok, refused = self.ok(), self.refused()
        return {
            "calls": len(self.outcomes),
            "codes": dict(self.codes()),
            "aws_codes": dict(Counter(o.aws_code for o in refused)),
            "admitted_p50_ms": round(self.percentile(0.50, ok) * 1000, 2),
            "admitted_p99_ms": round(self.percentile(0.99, ok) * 1000, 2),
            "admitted_max_ms": round(max((o.seconds for o in ok), default=0) * 1000, 2),
            "refusal_p99_ms": round(self.percentile(0.99, refused) * 1000, 2),
            "wall_seconds": round(self.wall_seconds, 3),
            "admitted_per_second": round(len(ok) / self.wall_seconds, 1)
            if self.wall_seconds
            else 0.0,
        }


def _aws_code(call: Any) -> str | None:
    try:
        metadata = call.trailing_metadata() or ()
    except Exception:
        return None
    for key, value in metadata:
        if key == "x-authz-error-code":
            return str(value)
    return None


def closed_loop(
    target: str,
    method: str,
    request: Any,
    *,
    concurrency: int,
    duration: float,
    metadata: Sequence[tuple[str, str]] = (),
    connections: int | None = None,
    timeout: float = 10.0,
    stop_on: frozenset[str] = frozenset(),
    prefix: str = "load",
) -> LoadResult:
    """Keep ``concurrency`` calls of ``method`` in flight for ``duration`` seconds over
    ``connections`` separate HTTP/2 connections (default: one per 50 calls in flight). A lane
    whose call ends with a code in ``stop_on`` stops (e.g. UNAVAILABLE once the server is gone).
    Every call carries its own ``x-request-id``; every outcome is recorded."""
    n = connections or max(1, math.ceil(concurrency / 50))
    channels = [
        grpc.insecure_channel(target, options=[("grpc.use_local_subchannel_pool", 1)])
        for _ in range(n)
    ]
    stubs = [
        ch.unary_unary(method, request_serializer=type(request).SerializeToString)
        for ch in channels
    ]
    result = LoadResult()
    lock = threading.Lock()
    lanes = [concurrency]
    done = threading.Event()
    ids = itertools.count()
    start = time.monotonic()
    end = start + duration

    def fire(lane: int) -> None:
        rid = f"{prefix}-{next(ids)}"
        sent = time.monotonic()
        t0 = time.perf_counter()
        future = stubs[lane % n].future(
            request, metadata=(*metadata, ("x-request-id", rid)), timeout=timeout
        )
        future.add_done_callback(lambda f: finish(lane, f, rid, sent, t0))

    def finish(lane: int, f: Any, rid: str, sent: float, t0: float) -> None:
        elapsed = time.perf_counter() - t0
        code = f.code().name
        outcome = Outcome(code, _aws_code(f) if code != "OK" else None, elapsed, rid, sent)
        with lock:
            result.outcomes.append(outcome)
        if time.monotonic() < end and code not in stop_on:
            fire(lane)
            return
        with lock:
            lanes[0] -= 1
            if lanes[0] == 0:
                done.set()

    for lane in range(concurrency):
        fire(lane)
    done.wait(duration + timeout + 10)
    result.wall_seconds = time.monotonic() - start
    for ch in channels:
        ch.close()
    return result


def free_port() -> int:
    with socket.socket() as s:
        s.bind((LOCALHOST, 0))
        return int(s.getsockname()[1])


def healthy(target: str, timeout: float = 1.0) -> int | None:
    """The overall health status, or None when the server does not answer."""
    try:
        with grpc.insecure_channel(target) as ch:
            stub = health_pb2_grpc.HealthStub(ch)
            return int(stub.Check(health_pb2.HealthCheckRequest(), timeout=timeout).status)
    except grpc.RpcError:
        return None


def wait_until(check: Callable[[], bool], timeout: float, step: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(step)
    return check()


@dataclass
class ServerProcess:
    """A server process (``python -m <module> ...``) on 127.0.0.1; stopped at ``close``."""

    proc: subprocess.Popen[bytes]
    target: str
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def signal(self, signum: int) -> None:
        self.proc.send_signal(signum)

    def wait(self, timeout: float) -> int:
        return self.proc.wait(timeout)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


def start_process(
    args: Sequence[str], port: int, log_path: Path, *, ready_timeout: float = 60.0
) -> ServerProcess:
    """Start ``python args...`` (cwd: the repository) and wait until health answers SERVING."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, *args], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
        )
    server = ServerProcess(proc, f"{LOCALHOST}:{port}", log_path)
    serving = health_pb2.HealthCheckResponse.SERVING
    if (
        not wait_until(
            lambda: proc.poll() is not None or healthy(server.target) == serving, ready_timeout, 0.1
        )
        or proc.poll() is not None
    ):
        server.close()
        raise AssertionError(f"server did not start:\n{server.log()}")
    return server


def audit_events(path: Path) -> list[dict[str, Any]]:
    """Every line of an audit log, parsed (a line that is not JSON fails the caller's test)."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def metric(port: int, name: str, labels: dict[str, str] | None = None) -> float:
    """One sample from a Prometheus endpoint on 127.0.0.1 (0 when absent)."""
    with urllib.request.urlopen(f"http://{LOCALHOST}:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    want = ",".join(f'{k}="{v}"' for k, v in sorted((labels or {}).items()))
    key = f"{name}{{{want}}}" if want else name
    total = 0.0
    for line in text.splitlines():
        if line.startswith(key + " "):
            total += float(line.rsplit(" ", 1)[1])
    return total


def histogram(port: int, name: str, labels: dict[str, str]) -> dict[float, float]:
    """The cumulative buckets (``le`` → count) of one Prometheus histogram series."""
    with urllib.request.urlopen(f"http://{LOCALHOST}:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    want = [f'{k}="{v}"' for k, v in sorted(labels.items())]
    out: dict[float, float] = {}
    for line in text.splitlines():
        if not line.startswith(f"{name}_bucket{{") or not all(w in line for w in want):
            continue
        le = line.split('le="', 1)[1].split('"', 1)[0]
        out[float("inf") if le == "+Inf" else float(le)] = float(line.rsplit(" ", 1)[1])
    return out


def bucket_quantile(before: dict[float, float], after: dict[float, float], q: float) -> float:
    """The upper bound of the bucket holding quantile ``q`` of the samples between two reads."""
    diff = {le: after.get(le, 0.0) - before.get(le, 0.0) for le in after}
    total = diff.get(float("inf"), 0.0)
    for le in sorted(diff):
        if total and diff[le] >= q * total:
            return le
    return float("inf")
