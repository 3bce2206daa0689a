"""``authz serve --workers 2`` against ``--workers 1``, driven by h2load (C, nghttp2) instead
of the Python generator, whose own CPU (~0.3 ms per request) takes a third of this 2-core
machine once both workers are busy.

Both servers (``authz-w1``, ``authz-w2`` of ``authz.bench.api_scenarios``: a temporary copy
of the benchmark repository, the bench user's access key; not pinned by the generator; with
``--pin-workers`` both run ``authz serve --pin-workers``) are started together, and for
``--rounds`` rounds h2load drives w1 then w2 (the idle one waits), each for ``--duration`` s
after ``--warmup`` s; the ratio is the median of the rounds' w2 / w1 ratios, so drift in the
machine's speed hits both alike:

- **echo**: grpc.health.v1 Health/Check (an empty request), and
- **authorize**: Authorize of one fixed request (``authorize_request(0)``, with the access
  key in ``x-authz-access-key-id`` / ``x-authz-secret-access-key``). h2load sends one body
  file, so every request is the same question: after the first, each is a **decision-cache
  hit** (the ``authorize-repeated`` path), measured on both servers alike.

Each body is the 5-byte gRPC prefix + the serialized request, with
``content-type: application/grpc`` and ``te: trailers``; ``--connections`` (16) connections ×
``--streams`` (2) in flight, so SO_REUSEPORT spreads the connections over both workers. Before
the load, one request of each kind is checked with a gRPC client (h2load counts HTTP 200 as
success and cannot see ``grpc-status``). Writes ``benchmarks/results/workers-h2load-<ts>.json``
with req/s and server CPU per request (the whole process tree) per round, and the ratios.

    python benchmarks/harness/h2load_workers.py [--duration 5] [--rounds 3] [--pin-workers]

Needs ``h2load`` (Debian: ``apt-get install nghttp2-client``). Loopback only; every run bounded.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # run as a script

import grpc

from authz.bench import api_scenarios, authz_server
from authz.bench.loadgen import check_loopback
from authz.bench.report import write_result
from authz.bench.spawn import spawn_server

HEALTH = "/grpc.health.v1.Health/Check"
SERVERS = {1: "authz-w1", 2: "authz-w2"}


def grpc_frame(message: bytes) -> bytes:
    """The gRPC length-prefixed message: not compressed, 4-byte big-endian length."""
    return b"\x00" + struct.pack(">I", len(message)) + message


def tree_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of ``pid`` and all its descendants (the workers), from /proc."""
    ticks = os.sysconf("SC_CLK_TCK")
    parents: dict[int, int] = {}
    cpu: dict[int, float] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(entry)] = int(fields[1])
        cpu[int(entry)] = (int(fields[11]) + int(fields[12])) / ticks
    tree, frontier = {pid}, [pid]
    while frontier:
        parent = frontier.pop()
        for child, ppid in parents.items():
            if ppid == parent and child not in tree:
                tree.add(child)
                frontier.append(child)
    return sum(cpu.get(p, 0.0) for p in tree)


def check_calls(target: str, metadata: tuple[tuple[str, str], ...], body: bytes) -> None:
    """One Health/Check and one Authorize through a gRPC client: the bodies and headers h2load
    will send are accepted (raises otherwise)."""
    with grpc.insecure_channel(target) as channel:
        channel.unary_unary(HEALTH)(b"", timeout=10)
        reply = channel.unary_unary(api_scenarios.AUTHORIZE)(body, metadata=metadata, timeout=10)
        if not reply:
            raise RuntimeError("Authorize returned an empty response")


def run_h2load(
    target: str, pid: int, path: str, body: bytes, headers: list[str], args: argparse.Namespace
) -> dict[str, float]:
    check_loopback(target)
    with tempfile.NamedTemporaryFile(suffix=".bin", delete=False) as fh:
        fh.write(grpc_frame(body))
    try:
        cmd = [
            "h2load",
            f"--duration={args.duration:g}",
            f"--warm-up-time={args.warmup:g}",
            f"--clients={args.connections}",
            f"--max-concurrent-streams={args.streams}",
            "-H", "content-type: application/grpc",
            "-H", "te: trailers",
            *[part for h in headers for part in ("-H", h)],
            f"--data={fh.name}",
            f"http://{target}{path}",
        ]  # fmt: skip
        cpu0 = tree_cpu_seconds(pid)
        done_run = subprocess.run(
            cmd, capture_output=True, text=True, timeout=args.duration + args.warmup + 15
        )
        cpu1 = tree_cpu_seconds(pid)
    finally:
        os.unlink(fh.name)
    out = done_run.stdout
    finished = re.search(r"finished in [\d.]+s, ([\d.]+) req/s", out)
    if finished is None:
        raise RuntimeError(f"h2load failed: {done_run.stderr.strip() or out.strip()}")
    done = re.search(r"requests: (\d+) total, \d+ started, (\d+) done, (\d+) succeeded", out)
    requests = float(done.group(2)) if done else 0.0
    share = args.duration / (args.duration + args.warmup)  # CPU spans warm-up + duration
    return {
        "throughput_rps": float(finished.group(1)),
        "requests": requests,
        "succeeded": float(done.group(3)) if done else 0.0,
        "server_cpu_us_per_request": (cpu1 - cpu0) * share / max(requests, 1.0) * 1e6,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=5.0, help="measured seconds per run")
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--rounds", type=int, default=3, help="w1 / w2 alternations")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--streams", type=int, default=2, help="in flight per connection")
    parser.add_argument("--pin-workers", action="store_true",
                        help="both servers with --pin-workers (worker i on CPU i)")  # fmt: skip
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    args = parser.parse_args()
    if shutil.which("h2load") is None:
        print("error: h2load not found (apt-get install nghttp2-client)", file=sys.stderr)
        return 2
    if args.duration + args.warmup > 15 or not 1 <= args.rounds <= 5:
        parser.error("--duration + --warmup must be at most 15 s, --rounds 1..5")
    authz_server.fixture()  # the temporary repository, keys and access key (removed at exit)
    fx = authz_server.read_fixture()
    metadata = (
        ("x-authz-access-key-id", fx["access_key_id"]),
        ("x-authz-secret-access-key", fx["secret_access_key"]),
    )
    headers = [f"{k}: {v}" for k, v in metadata]
    authorize = api_scenarios.authorize_request(0).SerializeToString()
    results: dict[str, object] = {
        "config": vars(args) | {"out": str(args.out)},
        "authorize_request": "one fixed Authorize (decision-cache hits after the first)",
        "cpus": os.cpu_count(),
        "loadavg_start": list(os.getloadavg()),
    }
    suffix = "-pinned" if args.pin_workers else ""
    rounds: list[dict[str, dict[str, dict[str, float]]]] = []
    with contextlib.ExitStack() as stack:  # both servers up; the idle one waits
        servers = {
            w: stack.enter_context(spawn_server(f"{name}{suffix}", pin=False))
            for w, name in SERVERS.items()
        }
        for server in servers.values():
            check_calls(server.target, metadata, authorize)
        for _ in range(args.rounds):  # alternate, so drift hits both alike
            one: dict[str, dict[str, dict[str, float]]] = {}
            for workers, server in servers.items():
                one[f"w{workers}"] = {
                    "echo": run_h2load(server.target, server.pid, HEALTH, b"", [], args),
                    "authorize": run_h2load(
                        server.target,
                        server.pid,
                        api_scenarios.AUTHORIZE,
                        authorize,
                        headers,
                        args,
                    ),
                }
            rounds.append(one)
    results["rounds"] = rounds
    ratios: dict[str, object] = {}
    for kind in ("echo", "authorize"):
        per_round = [
            round(r["w2"][kind]["throughput_rps"] / r["w1"][kind]["throughput_rps"], 3)
            for r in rounds
            if r["w1"][kind]["throughput_rps"]
        ]
        ratios[f"{kind}_w2_over_w1_per_round"] = per_round
        ratios[f"{kind}_w2_over_w1"] = statistics.median(per_round) if per_round else 0.0
    results["ratios"] = ratios
    results["loadavg_end"] = list(os.getloadavg())
    path = write_result(args.out, f"workers-h2load{suffix}", results)
    print(json.dumps(ratios, indent=2))
    print(f"wrote {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
