"""The load generator's own cost: the same echo load from h2load (C, nghttp2) and from
``authz bench``, against the same harness server, in the same run.

h2load drives grpc.health.v1 Health/Check as a raw HTTP/2 POST with a pre-encoded gRPC frame
(5 bytes: no compression, length 0 = an empty HealthCheckRequest). Both clients are pinned to
core 0 and the server to core 1 (when there are two cores), with the same connections and
requests in flight. The ratio ``authz bench / h2load`` says how much of a measured throughput
is the Python generator's limit rather than the server's; the server CPU per request (from
/proc, the same for both clients if the server is the bottleneck) is reported beside it.

    python benchmarks/harness/h2load_compare.py [--duration 10] [--connections 4] [--streams 4]

Needs ``h2load`` (Debian: ``apt-get install nghttp2-client``). Loopback only; bounded runs.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # run as a script

from authz.bench.loadgen import LoadConfig, check_loopback, process_cpu_seconds, run_load
from authz.bench.report import write_result
from authz.bench.scenarios import get_scenario
from authz.bench.spawn import pin_prefix, spawn_server

GRPC_EMPTY_MESSAGE = b"\x00\x00\x00\x00\x00"


def run_h2load(target: str, pid: int, args: argparse.Namespace) -> dict[str, float]:
    check_loopback(target)
    with tempfile.NamedTemporaryFile(suffix=".bin", delete=False) as body:
        body.write(GRPC_EMPTY_MESSAGE)
    try:
        cmd = [
            *pin_prefix(0),
            "h2load",
            f"--duration={args.duration:g}",
            f"--warm-up-time={args.warmup:g}",
            f"--clients={args.connections}",
            f"--max-concurrent-streams={args.streams}",
            "-H", "content-type: application/grpc",
            "-H", "te: trailers",
            f"--data={body.name}",
            f"http://{target}/grpc.health.v1.Health/Check",
        ]  # fmt: skip
        cpu0 = process_cpu_seconds(pid)
        kids0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        done_run = subprocess.run(
            cmd, capture_output=True, text=True, timeout=args.duration + args.warmup + 30
        )
        out = done_run.stdout
        cpu1 = process_cpu_seconds(pid)
        kids1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    finally:
        os.unlink(body.name)
    finished = re.search(r"finished in [\d.]+s, ([\d.]+) req/s", out)
    if finished is None:
        raise RuntimeError(f"h2load failed: {done_run.stderr.strip() or out.strip()}")
    rps = float(finished.group(1))
    done = re.search(r"requests: (\d+) total, \d+ started, (\d+) done, (\d+) succeeded", out)
    mean = re.search(r"time for request:\s+\S+\s+\S+\s+(\S+)", out)
    requests = float(done.group(2)) if done else 0.0
    # CPU is sampled over warm-up + duration; requests are counted over the duration only.
    share = args.duration / (args.duration + args.warmup)
    h2load_cpu = (kids1.ru_utime + kids1.ru_stime) - (kids0.ru_utime + kids0.ru_stime)
    return {
        "throughput_rps": rps,
        "requests": requests,
        "succeeded": float(done.group(3)) if done else 0.0,
        "mean_latency_us": _to_us(mean.group(1)) if mean else 0.0,
        "server_cpu_us_per_request": ((cpu1 or 0.0) - (cpu0 or 0.0))
        * share
        / max(requests, 1.0)
        * 1e6,
        "client_cpu_us_per_request": h2load_cpu * share / max(requests, 1.0) * 1e6,
    }


def _to_us(text: str) -> float:
    value = float(re.sub(r"[a-z]+$", "", text))
    unit = re.search(r"[a-z]+$", text)
    scale = {"us": 1.0, "ms": 1e3, "s": 1e6}.get(unit.group(0) if unit else "us", 1.0)
    return value * scale


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--streams", type=int, default=4, help="in flight per connection")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    args = parser.parse_args()
    if shutil.which("h2load") is None:
        print("error: h2load not found (apt-get install nghttp2-client)", file=sys.stderr)
        return 2
    if (os.cpu_count() or 1) >= 2:
        os.sched_setaffinity(0, {0})
    config = LoadConfig(
        concurrency=args.connections * args.streams,
        connections=args.connections,
        duration_s=args.duration,
        warmup_s=args.warmup,
    )
    results: dict[str, object] = {"config": vars(args) | {"out": str(args.out)}}
    with spawn_server("cedar") as server:
        results["h2load"] = run_h2load(server.target, server.pid, args)
        ours = run_load(
            get_scenario("echo").connection_factory(server.target),
            config,
            scenario="echo",
            target=server.target,
            server_pid=server.pid,
        )
        results["authz_bench"] = {k: v for k, v in ours.to_dict().items() if k != "histogram"}
        results["h2load_again"] = run_h2load(server.target, server.pid, args)
    h2 = [results["h2load"], results["h2load_again"]]
    h2_rps = sum(float(r["throughput_rps"]) for r in h2) / 2  # type: ignore[index]
    results["ratio_authz_bench_over_h2load"] = ours.throughput_rps / h2_rps
    results["loadavg"] = list(os.getloadavg())
    path = write_result(args.out, "h2load-compare", results)
    print(json.dumps(results, indent=2))
    print(f"wrote {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
