"""authz and the minimal grpc + cedarpy harness counted in instructions per call, whole
servers (every thread, gRPC's C core included), by callgrind: the ratio issue 15's per-core
target compares (distinct Authorize vs the harness's Decide), without the host's noise.

    python benchmarks/peer_instr.py [--calls 300] [--cache-sim] [--keep DIR] [--out DIR]

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

``--cache-sim`` also runs valgrind's cache simulation and reports first-level instruction and
data cache misses per call (``I1mr``, ``D1mr``, ``D1mw``): instructions equal, the side that
misses more spends more cycles on them, which a wall-clock run shows and an instruction count
does not (2026-12-07: authz at 0.95× the harness's instructions per distinct call, 1.5× its
first-level misses, 1.4-1.7× its CPU time per call under load).

Writes ``results/peer-instr-<stamp>.json`` and prints the per-call counts and ratios.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import re
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

from grpc_instr import control  # noqa: E402
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


def under_callgrind(name: str, out: Path, cache_sim: bool = False) -> str:
    """Register ``<name>-callgrind``: the registered server, started under callgrind (with
    its cache simulation when ``cache_sim``)."""
    spec = spawn.server_spec(name)
    assert spec is not None, name
    extra = ["--cache-sim=yes"] if cache_sim else []

    def argv(port: int) -> list[str]:
        return ["valgrind", "--tool=callgrind", *extra, "--instr-atstart=no",
                "--separate-threads=no", f"--callgrind-out-file={out}",
                *spec.argv(port)]  # fmt: skip

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


def read_events(out: Path) -> dict[int, dict[str, int]]:
    """{dump part: {event: count}} (all threads together): ``Ir`` alone, or with the cache
    simulation also ``I1mr`` / ``D1mr`` / ``D1mw`` (first-level misses) and the ``LL`` ones."""
    parts: dict[int, dict[str, int]] = {}
    for path in out.parent.glob(out.name + ".*"):
        text = path.read_text(errors="replace")
        part = re.search(r"^part:\s*(\d+)", text, re.M)
        names = re.search(r"^events:\s*(.+)$", text, re.M)
        totals = re.search(r"^(?:totals|summary):\s*(.+)$", text, re.M)
        if part and names and totals:
            values = [int(v) for v in totals.group(1).split()]
            found = parts.setdefault(int(part.group(1)), {})
            for event, value in zip(names.group(1).split(), values, strict=False):
                found[event] = found.get(event, 0) + value
    return parts


def count(name: str, work: Path, calls: int, cache_sim: bool = False) -> dict[str, Any]:
    out = work / f"{name}.cg"
    segments: list[dict[str, Any]] = []
    with spawn.spawn_server(under_callgrind(name, out, cache_sim), pin=False) as server:
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
    parts = read_events(out)
    for k, entry in enumerate(segments, start=2):  # part 1 ended with --dump=start
        entry["instructions"] = parts.get(k, {}).get("Ir", 0)
        if cache_sim:
            entry["events"] = parts.get(k, {})
    per_call = {}
    events_per_call: dict[str, dict[str, int]] = {}
    for i in range(0, len(segments), 2):
        busy, idle = segments[i], segments[i + 1]
        rate = idle["instructions"] / idle["seconds"]
        per_call[busy["segment"]] = round(
            (busy["instructions"] - rate * busy["seconds"]) / busy["calls"]
        )
        if cache_sim:  # the idle segment's rate subtracted from every event
            events_per_call[busy["segment"]] = {
                event: round(
                    (value - idle["events"].get(event, 0) / idle["seconds"] * busy["seconds"])
                    / busy["calls"]
                )
                for event, value in busy["events"].items()
            }
    result: dict[str, Any] = {"segments": segments, "per_call": per_call}
    if cache_sim:
        result["events_per_call"] = events_per_call
    return result


def _head() -> str:
    done = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                          capture_output=True, text=True, check=False)  # fmt: skip
    return done.stdout.strip()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    parser.add_argument(
        "--cache-sim",
        action="store_true",
        help="also simulate the caches: first-level instruction and data misses per call",
    )
    parser.add_argument("--keep", type=Path, help="a directory to keep the callgrind dumps in")
    args = parser.parse_args(argv)
    native.loadc_path()
    authz_server.fixture()
    assert api_scenarios.AUTHORIZE  # registers the authz servers
    spawn.READY_TIMEOUT_S = START_TIMEOUT  # imports and the first snapshot run ~50x slower
    work = Path(tempfile.mkdtemp(prefix="peer-instr-"))
    servers = {}
    try:
        for name in PLAN:
            servers[name] = count(name, work, args.calls, args.cache_sim)
            print(json.dumps({name: servers[name]["per_call"]}), flush=True)
    finally:
        if args.keep is not None:
            args.keep.mkdir(parents=True, exist_ok=True)
            for dump in work.glob("*.cg*"):
                shutil.copy(dump, args.keep / dump.name)
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
    if args.cache_sim:
        ea, eh = servers["authz"]["events_per_call"], servers["cedar"]["events_per_call"]
        for event in ("I1mr", "D1mr", "D1mw"):
            ratios[f"distinct_{event}_authz_over_harness"] = round(
                ea["distinct"][event] / max(1, eh["distinct"][event]), 3
            )
    doc = {
        "benchmark": "peer-instr",
        "command": f"python benchmarks/peer_instr.py --calls {args.calls}"
        + (" --cache-sim" if args.cache_sim else ""),
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
