"""Does admission (how many calls run at once) change authz's distinct Authorize rate?

    python benchmarks/admission_ab.py 60,16,4 3     # max_concurrent_rpcs variants, rounds

Each variant is an ``authz serve`` with ``max_concurrent_rpcs = N`` (``--config``), pinned to
CPU 1 like ``peer_bench.py`` with the native client on CPU 0, 32 in flight over 4 connections,
1 s warm-up + 5 s; rounds interleaved, the cedarpy harness measured in each round, and each
server's user and system CPU and context switches per request read from ``/proc``. Prints one
line per run (results/admission-ab-20261207.txt).
"""

from __future__ import annotations

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


def main() -> None:
    variants = [int(v) for v in sys.argv[1].split(",")]
    rounds = int(sys.argv[2])
    tmp = Path(tempfile.mkdtemp(prefix="admission-ab-"))
    authz_server.fixture()
    for n in variants:
        cfg = tmp / f"c{n}.toml"
        cfg.write_text(f"max_concurrent_rpcs = {n}\nmax_threads = {max(n, 64)}\n")
        argv = functools.partial(lambda port, c: [*api_scenarios._argv(port), "--config", str(c)],
                                 c=cfg)  # fmt: skip
        register_server(ServerSpec(f"authz-c{n}", argv, announces_port=False), replace=True)
    os.sched_setaffinity(0, {pb.CLIENT_CPU})
    closed = functools.partial(LoadConfig, concurrency=32, connections=4, duration_s=5,
                               warmup_s=1, progress=False)  # fmt: skip
    tick = 1_000_000 / os.sysconf("SC_CLK_TCK")
    with contextlib.ExitStack() as stack:
        sides = [(f"c{n}", stack.enter_context(spawn_server(f"authz-c{n}")), pb.authz_distinct)
                 for n in variants]  # fmt: skip
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
