"""authz and the minimal grpc + cedarpy harness counted in instructions per call, whole
servers (every thread, gRPC's C core included), by callgrind: the ratio issue 15's per-core
target compares (distinct Authorize vs the harness's Decide), without the host's noise.

    python benchmarks/peer_instr.py [--calls 300] [--out DIR]

The two servers are the ones ``peer_bench.py`` starts (``authz``: the bench fixture's server,
authentication, the enforcement-point check, evaluation and the explanation; ``cedar``: the
harness, one cedarpy call per request on a pre-parsed policy set), each started under
``valgrind --tool=callgrind --instr-atstart=no`` and sent the same request files
``peer_bench`` sends, by the C client: per server, ``echo`` (gRPC health Check: the stack
alone) and ``distinct`` (authz: a new Authorize question per call; harness: its 1,000 prepared
Decide requests), ``WARM`` calls each uncounted first, then ``--calls`` calls per segment,
each segment ended by a dump and followed by an idle one of the same length whose rate is
subtracted (background threads wake with wall-clock time, ~50x slower under valgrind).

Instructions are not time: the interpreter, Rust and C code of the two servers may retire
them at different rates; the wall-clock ratios stay ``peer_bench``'s. What this adds is a
figure a busy two-core machine cannot move, and a check on it: a wall-clock ratio far from
the instruction ratio means the run measured the machine.

Writes ``results/peer-instr-<stamp>.json`` and prints the per-call counts and ratios.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from grpc_instr import control, read_parts  # noqa: E402
from peer_bench import authz_distinct, echo, harness_distinct  # noqa: E402

from authz.bench import api_scenarios, authz_server, native, spawn  # noqa: E402
from authz.bench.loadgen import LoadConfig  # noqa: E402
from authz.bench.native import RequestFile  # noqa: E402
from authz.bench.report import write_result  # noqa: E402

WARM = 200
START_TIMEOUT = 900.0
Builder = Callable[[int, int], RequestFile]
# server -> [(segment, request builder)]
PLAN: dict[str, list[tuple[str, Builder]]] = {
    "authz": [("echo", echo), ("distinct", authz_distinct)],
    "cedar": [("echo", echo), ("distinct", harness_distinct)],
}


def under_callgrind(name: str, out: Path) -> str:
    """Register ``<name>-callgrind``: the registered server, started under callgrind."""
    spec = spawn.server_spec(name)
    assert spec is not None, name

    def argv(port: int) -> list[str]:
        return ["valgrind", "--tool=callgrind", "--instr-atstart=no", "--separate-threads=no",
                f"--callgrind-out-file={out}", *spec.argv(port)]  # fmt: skip

    counted = f"{name}-callgrind"
    spawn.register_server(
        spawn.ServerSpec(counted, argv, spec.protocol, spec.announces_port, spec.pin), replace=True
    )
    return counted


def send(work: Path, requests: RequestFile, target: str, calls: int) -> tuple[int, float]:
    """At least ``calls`` calls (closed loop, 4 in flight, messages cycled; the client may
    send one or two more as it stops), every one successful: (calls answered, seconds)."""
    path = native.write_request_file(work / "requests.bin", requests)
    config = LoadConfig(concurrency=4, connections=1, duration_s=600, warmup_s=0,
                        max_requests=calls)  # fmt: skip
    started = time.monotonic()
    result, _raw = native.run_loadc(path, target, config, scenario=path.stem)
    if result.successes < calls or result.errors or result.successes != result.requests:
        raise SystemExit(f"{target}: {result.successes} of {result.requests} succeeded, "
                         f"{result.errors}")  # fmt: skip
    return result.successes, time.monotonic() - started


def count(name: str, work: Path, calls: int) -> dict[str, Any]:
    out = work / f"{name}.cg"
    segments: list[dict[str, Any]] = []
    with spawn.spawn_server(under_callgrind(name, out), pin=False) as server:
        for _segment, build in PLAN[name]:
            send(work, build(900_000_000, WARM), server.target, WARM)
        control(server.pid, "-i", "on")
        control(server.pid, "--dump=start")
        for n, (segment, build) in enumerate(PLAN[name]):
            sent, seconds = send(work, build(901_000_000 + n * 10 * calls, calls), server.target,
                                 calls)  # fmt: skip
            control(server.pid, f"--dump={segment}")
            segments.append({"segment": segment, "calls": sent, "seconds": seconds})
            time.sleep(seconds)
            control(server.pid, f"--dump=idle-{segment}")
            segments.append({"segment": f"idle-{segment}", "calls": 0, "seconds": seconds})
        control(server.pid, "-i", "off")
    parts = read_parts(out)
    for k, entry in enumerate(segments, start=2):  # part 1 ended with --dump=start
        entry["instructions"] = parts.get(k, 0)
    per_call = {}
    for i in range(0, len(segments), 2):
        busy, idle = segments[i], segments[i + 1]
        rate = idle["instructions"] / idle["seconds"]
        per_call[busy["segment"]] = round(
            (busy["instructions"] - rate * busy["seconds"]) / busy["calls"]
        )
    return {"segments": segments, "per_call": per_call}


def _head() -> str:
    done = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                          capture_output=True, text=True, check=False)  # fmt: skip
    return done.stdout.strip()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    args = parser.parse_args(argv)
    native.loadc_path()
    authz_server.fixture()
    assert api_scenarios.AUTHORIZE  # registers the authz servers
    spawn.READY_TIMEOUT_S = START_TIMEOUT  # imports and the first snapshot run ~50x slower
    work = Path(tempfile.mkdtemp(prefix="peer-instr-"))
    servers = {}
    try:
        for name in PLAN:
            servers[name] = count(name, work, args.calls)
            print(json.dumps({name: servers[name]["per_call"]}), flush=True)
    finally:
        with contextlib.suppress(OSError):
            shutil.rmtree(work)
    a, h = servers["authz"]["per_call"], servers["cedar"]["per_call"]
    ratios = {
        "echo_authz_over_harness": round(a["echo"] / h["echo"], 3),
        "distinct_authz_over_harness": round(a["distinct"] / h["distinct"], 3),
        "distinct_harness_over_authz": round(h["distinct"] / a["distinct"], 3),
        "authz_distinct_above_echo": a["distinct"] - a["echo"],
        "harness_distinct_above_echo": h["distinct"] - h["echo"],
    }
    doc = {
        "benchmark": "peer-instr",
        "command": f"python benchmarks/peer_instr.py --calls {args.calls}",
        "servers": servers,
        "ratios": ratios,
        "git": _head(),
    }
    dest = write_result(args.out, "peer-instr", doc)
    print(json.dumps(ratios, indent=2))
    print(f"wrote {dest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
