"""Does admission (how many calls run at once, on how many threads) change authz's distinct
Authorize rate and CPU per call?

    python benchmarks/admission_ab.py 60,16,4 3                  # max_concurrent_rpcs, rounds
    python benchmarks/admission_ab.py t64,t16 3 --in-flight 12   # max_threads (the RPC pool)

Each variant is an ``authz serve`` with ``--config``: ``N`` sets ``max_concurrent_rpcs = N``
(64 threads), ``tN`` sets ``max_threads = N`` (and ``max_concurrent_rpcs`` to at most 60).
Pinned to CPU 1 like ``peer_bench.py`` with the native client on CPU 0, ``--in-flight`` calls
(default 32) over at most 4 connections, 1 s warm-up + 5 s; rounds interleaved, the cedarpy
harness measured in each round, and each server's user and system CPU and context switches
per request read from ``/proc``. Prints one line per run (results/admission-ab-20261207*.txt).
Keep ``--in-flight`` below a variant's thread count: beyond it calls are refused (Throttling),
and refusals are cheap calls that dilute the CPU per call.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import peer_bench as pb

from authz.bench import api_scenarios, authz_server
from authz.bench.native import LoadConfig
from authz.bench.spawn import ServerSpec, register_server, spawn_server


def _proc(pid: int) -> tuple[int, int, int, int]:
    """(user ticks, system ticks, voluntary, involuntary context switches), every thread."""
    user = system = vol = invol = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        fields = Path(f"/proc/{pid}/task/{tid}/stat").read_text().rsplit(")", 1)[1].split()
        user, system = user + int(fields[11]), system + int(fields[12])
        for line in Path(f"/proc/{pid}/task/{tid}/status").read_text().splitlines():
            if line.startswith("voluntary_ctxt_switches"):
                vol += int(line.split()[1])
            elif line.startswith("nonvoluntary_ctxt_switches"):
                invol += int(line.split()[1])
    return user, system, vol, invol


def _settings(variant: str) -> tuple[str, str]:
    """(name, TOML) of one variant: ``N`` (running calls) or ``tN`` (RPC threads)."""
    if variant.startswith("t"):
        n = int(variant[1:])
        return f"t{n}", f"max_threads = {n}\nmax_concurrent_rpcs = {min(n, 60)}\n"
    n = int(variant)
    return f"c{n}", f"max_concurrent_rpcs = {n}\nmax_threads = {max(n, 64)}\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("variants", help="comma-separated: N (max_concurrent_rpcs), tN (threads)")
    parser.add_argument("rounds", type=int)
    parser.add_argument("--in-flight", type=int, default=32, help="calls in flight (closed loop)")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="admission-ab-"))
    authz_server.fixture()
    names = []
    for variant in args.variants.split(","):
        name, toml = _settings(variant)
        cfg = tmp / f"{name}.toml"
        cfg.write_text(toml)
        argv = functools.partial(lambda port, c: [*api_scenarios._argv(port), "--config", str(c)],
                                 c=cfg)  # fmt: skip
        register_server(ServerSpec(f"authz-{name}", argv, announces_port=False), replace=True)
        names.append(name)
    os.sched_setaffinity(0, {pb.CLIENT_CPU})
    closed = functools.partial(LoadConfig, concurrency=args.in_flight,
                               connections=min(4, args.in_flight), duration_s=5, warmup_s=1,
                               progress=False)  # fmt: skip
    tick = 1_000_000 / os.sysconf("SC_CLK_TCK")
    rounds = args.rounds
    with contextlib.ExitStack() as stack:
        sides = [(name, stack.enter_context(spawn_server(f"authz-{name}")), pb.authz_distinct)
                 for name in names]  # fmt: skip
        sides.append(("harness", stack.enter_context(spawn_server("cedar")), pb.harness_distinct))
        for r in range(rounds):
            base = (r + 1) * 10_000_000
            for name, server, builder in sides:
                before = _proc(server.pid)
                row = pb.measure(server, builder(base, pb.PER_ROUND), closed(), 1, pin=True,
                                 lock=None, label=f"distinct/{name}")  # fmt: skip
                after = _proc(server.pid)
                n_req = max(1, row["requests"])
                d = [a - b for a, b in zip(after, before, strict=True)]
                print(
                    f"round {r + 1} {name}: user {d[0] * tick / n_req:.0f} µs/req, system "
                    f"{d[1] * tick / n_req:.0f} µs/req, context switches per request "
                    f"{d[2] / n_req:.2f} voluntary, {d[3] / n_req:.2f} involuntary",
                    flush=True,
                )


if __name__ == "__main__":
    main()
