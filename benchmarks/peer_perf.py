"""Where authz and the minimal grpc + cedarpy harness spend their CPU time under the same load:
a sampling profile of each whole server (every thread, the kernel's share included) while the
C client drives it, in microseconds per request by shared object and by function.

    python benchmarks/peer_perf.py [--rounds 2] [--seconds 5] [--frequency 999] [--out DIR]

``peer_instr.py`` counts instructions (load-independent), but instructions are not time: on
2026-12-07 authz ran 0.95x the harness's instructions per distinct call and still spent
1.4-1.7x its CPU time per call under load. This script measures the time itself, where it
goes: the same servers ``peer_bench.py`` starts (server pinned to CPU 1, the C client to CPU 0,
4 connections x 8 streams closed loop), and for each scenario and side, rounds interleaved,
``perf record -e cpu-clock -F <frequency> -p <server pid>`` for ``--seconds`` inside the
client's measured window. A row's microseconds per request are its sampled CPU time divided by
the requests the client counted over the same span (its rate x the sampled seconds); the sum
is checked against the client's own measure of the server's CPU per request (``/proc``).

Needs ``perf`` (Debian: ``linux-perf``) and permission to sample the server
(``kernel.perf_event_paranoid`` <= 2 for one's own processes); without them it writes a
result that says why and nothing else. Writes ``results/peer-perf-<stamp>.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from peer_bench import (  # noqa: E402
    BATCH_ITEMS,
    CLIENT_CPU,
    PER_ROUND,
    authz_batch,
    authz_distinct,
    echo,
    harness_batch,
    harness_distinct,
)

from authz.bench import api_scenarios, authz_server, native  # noqa: E402
from authz.bench.api_scenarios import BATCH  # noqa: E402
from authz.bench.loadgen import LoadConfig  # noqa: E402
from authz.bench.native import RequestFile  # noqa: E402
from authz.bench.report import write_result  # noqa: E402
from authz.bench.spawn import spawn_server  # noqa: E402

Builder = Callable[[int, int], RequestFile]
# scenario -> [(side, server, request builder, items per request)]
PLAN: dict[str, list[tuple[str, str, Builder, int]]] = {
    "echo": [("authz", "authz", echo, 1), ("harness", "cedar", echo, 1)],
    "distinct": [("authz", "authz", authz_distinct, 1), ("harness", "cedar", harness_distinct, 1)],
    "batch": [("authz", "authz", authz_batch, BATCH), ("harness", "cedar", harness_batch, BATCH)],
}
TOP_SYMBOLS = 60  # kept per run (the rest summed into their object)

# what each shared object is, for the report (a pattern on its file name)
OBJECTS: tuple[tuple[str, str], ...] = (
    (r"^libpython", "libpython: interpreter and C API"),
    (r"__mypyc\.", "authz, compiled (mypyc)"),
    (r"^_internal\.", "cedarpy: Cedar (Rust)"),
    (r"^cygrpc\.", "grpcio: cygrpc and gRPC's C core"),
    (r"^libc\.so", "libc: malloc, memcpy, locks"),
    (r"kernel", "kernel: syscalls, scheduling, TCP"),
    (r"^_message\.", "protobuf (upb)"),
    (r"^libcrypto|^_hashlib|^_rust\.abi3", "OpenSSL / cryptography"),
    (r"^_json\.", "json (C accelerator)"),
)


def object_label(dso: str) -> str:
    for pattern, label in OBJECTS:
        if re.search(pattern, dso):
            return label
    return "other"


def perf_available() -> str | None:
    """None when ``perf`` can sample one of our own processes, else why not."""
    if shutil.which("perf") is None:
        return "perf is not installed (Debian package linux-perf)"
    probe = subprocess.run(
        ["perf", "record", "-e", "cpu-clock", "-o", os.devnull, "--", "true"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if probe.returncode != 0:
        return f"perf cannot sample here: {probe.stderr.strip().splitlines()[-1:]}"
    return None


def parse_report(text: str) -> dict[tuple[str, str], int]:
    """{(shared object, symbol): sampled nanoseconds} from ``perf report --stdio -F
    period,dso,sym -t TAB``."""
    rows: dict[tuple[str, str], int] = {}
    for line in text.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        fields = line.split("\t")
        if len(fields) < 3 or not fields[0].strip().isdigit():
            continue
        dso = fields[1].strip()
        sym = re.sub(r"^\[[.k]\]\s*", "", fields[2].strip())
        key = (dso, sym)
        rows[key] = rows.get(key, 0) + int(fields[0].strip())
    return rows


def read_samples(data: Path) -> dict[tuple[str, str], int]:
    done = subprocess.run(
        ["perf", "report", "-i", str(data), "--stdio", "--no-children", "-g", "none",
         "--sort", "dso,sym", "-F", "period,dso,sym", "-t", "\t", "--percent-limit", "0"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"perf report failed: {done.stderr.strip()}")
    return parse_report(done.stdout)


def per_request(
    samples: dict[tuple[str, str], int], requests: float
) -> tuple[dict[str, float], dict[str, float]]:
    """(µs per request by object label, by ``label: symbol`` for the top symbols)."""
    by_object: dict[str, float] = {}
    by_symbol: dict[str, float] = {}
    for (dso, sym), ns in samples.items():
        us = ns / 1000 / requests
        label = object_label(dso)
        by_object[label] = by_object.get(label, 0.0) + us
        name = f"{label.split(':')[0]}: {sym}"
        by_symbol[name] = by_symbol.get(name, 0.0) + us
    top = sorted(by_symbol.items(), key=lambda kv: -kv[1])[:TOP_SYMBOLS]
    return (
        {k: round(v, 2) for k, v in sorted(by_object.items(), key=lambda kv: -kv[1])},
        {k: round(v, 2) for k, v in top},
    )


def profile_one(
    server: Any, requests: RequestFile, items: int, args: argparse.Namespace, data: Path
) -> dict[str, Any]:
    """The client drives ``server`` for warm-up + seconds + margin; perf samples the middle."""
    path = native.write_request_file(data.with_suffix(".bin"), requests)
    config = LoadConfig(concurrency=32, connections=4, duration_s=args.seconds + 1.0,
                        warmup_s=args.warmup, progress=False)  # fmt: skip
    out: dict[str, Any] = {}

    def drive() -> None:
        out["result"] = native.run_loadc(path, server.target, config, scenario=data.stem,
                                         items_per_request=items, server_pid=server.pid,
                                         cpu=CLIENT_CPU)  # fmt: skip

    client = threading.Thread(target=drive)
    client.start()
    time.sleep(args.warmup + 0.5)  # inside the client's measured window
    subprocess.run(
        ["perf", "record", "-q", "-e", "cpu-clock", "-F", str(args.frequency),
         "-p", str(server.pid), "-o", str(data), "--", "sleep", str(args.seconds)],
        capture_output=True, check=False,
    )  # fmt: skip
    client.join()
    result = out["result"][0]
    if result.errors:
        raise SystemExit(f"{data.stem}: errors {result.errors}")
    requests_in_window = result.success_rps * args.seconds
    samples = read_samples(data)
    by_object, by_symbol = per_request(samples, requests_in_window)
    return {
        "req_s": round(result.success_rps, 1),
        "items_per_request": items,
        "sampled_cpu_us_per_req": round(sum(samples.values()) / 1000 / requests_in_window, 1),
        "client_measured_cpu_us_per_req": round(result.server_cpu_us_per_request or 0.0, 1),
        "by_object_us_per_req": by_object,
        "top_symbols_us_per_req": by_symbol,
    }


def summarize(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Per scenario and side: the median over rounds of each object's µs per request."""
    out: dict[str, Any] = {}
    for scenario in PLAN:
        out[scenario] = {}
        for side in ("authz", "harness"):
            mine = [r for r in runs if r["scenario"] == scenario and r["side"] == side]
            if not mine:
                continue
            labels = {k for r in mine for k in r["by_object_us_per_req"]}
            symbols = {s for r in mine for s in r["top_symbols_us_per_req"]}
            out[scenario][side] = {
                "sampled_cpu_us_per_req": statistics.median(
                    r["sampled_cpu_us_per_req"] for r in mine
                ),
                "by_object_us_per_req": {
                    k: _median(mine, "by_object_us_per_req", k, 1) for k in sorted(labels)
                },
                "symbols_us_per_req": {
                    k: _median(mine, "top_symbols_us_per_req", k, 2) for k in sorted(symbols)
                },
            }
    return out


def _median(runs: list[dict[str, Any]], table: str, key: str, digits: int) -> float:
    values: list[float] = [float(r[table].get(key, 0.0)) for r in runs]
    return round(statistics.median(values), digits)


def markdown(doc: dict[str, Any]) -> str:
    lines = [
        f"# Where the CPU time goes under load: authz vs the harness ({doc['stamp']})",
        "",
        f"`{doc['command']}` (code {doc['git']}). {doc['method']}",
        "",
    ]
    if doc.get("skipped"):
        return "\n".join([*lines, f"Skipped: {doc['skipped']}", ""])
    for scenario, sides in doc["summary"].items():
        if "authz" not in sides or "harness" not in sides:
            continue
        a, h = sides["authz"], sides["harness"]
        unit = "item" if scenario == "batch" else "request"
        div = BATCH if scenario == "batch" else 1
        lines += [
            f"## {scenario}: µs of CPU per {unit} (median of {doc['rounds']} rounds)",
            "",
            "| shared object | authz | harness | authz − harness |",
            "|---|---:|---:|---:|",
        ]
        labels = sorted(
            set(a["by_object_us_per_req"]) | set(h["by_object_us_per_req"]),
            key=lambda k: -(a["by_object_us_per_req"].get(k, 0.0)),
        )
        for k in labels:
            va = a["by_object_us_per_req"].get(k, 0.0) / div
            vh = h["by_object_us_per_req"].get(k, 0.0) / div
            lines.append(f"| {k} | {va:.1f} | {vh:.1f} | {va - vh:+.1f} |")
        ta, th = a["sampled_cpu_us_per_req"] / div, h["sampled_cpu_us_per_req"] / div
        lines += [f"| **all** | **{ta:.1f}** | **{th:.1f}** | **{ta - th:+.1f}** |", ""]
        if scenario == "echo":
            continue
        sa, sh = a["symbols_us_per_req"], h["symbols_us_per_req"]
        diffs = sorted(set(sa) | set(sh), key=lambda k: -(sa.get(k, 0.0) - sh.get(k, 0.0)))
        lines += [
            f"Functions where authz spends the most more than the harness, per {unit} (sampling "
            "noise is about ±1 µs a row):",
            "",
            "| function | authz | harness | difference |",
            "|---|---:|---:|---:|",
        ]
        for k in diffs[:15]:
            va, vh = sa.get(k, 0.0) / div, sh.get(k, 0.0) / div
            lines.append(f"| `{k[:90]}` | {va:.2f} | {vh:.2f} | {va - vh:+.2f} |")
        lines.append("")
    lines += [
        "## Every run",
        "",
        "| round | scenario | side | req/s | sampled CPU µs/req | client-measured CPU µs/req |",
        "|---:|---|---|---:|---:|---:|",
    ]
    for r in doc["runs"]:
        lines.append(
            f"| {r['round']} | {r['scenario']} | {r['side']} | {r['req_s']:.0f} "
            f"| {r['sampled_cpu_us_per_req']} | {r['client_measured_cpu_us_per_req']} |"
        )
    return "\n".join(lines) + "\n"


def _head() -> str:
    done = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                          capture_output=True, text=True, check=False)  # fmt: skip
    return done.stdout.strip()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=5.0, help="sampled per run")
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--frequency", type=int, default=999, help="samples per CPU second")
    parser.add_argument("--scenario", nargs="+", choices=sorted(PLAN), default=list(PLAN))
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    args = parser.parse_args(argv)
    command = "python benchmarks/peer_perf.py " + " ".join(
        [f"--rounds {args.rounds}", f"--seconds {args.seconds:g}", f"--frequency {args.frequency}"]
    )
    doc: dict[str, Any] = {
        "benchmark": "peer-perf",
        "command": command,
        "git": _head(),
        "stamp": time.strftime("%Y%m%d-%H%M%S"),
        "rounds": args.rounds,
        "method": (
            "Servers as `peer_bench.py` starts them (server pinned to CPU 1, the C client to "
            "CPU 0, 4 connections x 8 streams closed loop); `perf record -e cpu-clock` on the "
            "server's process for the sampled seconds inside the client's window; µs per "
            "request = sampled CPU time ÷ (client's rate × sampled seconds)."
        ),
    }
    why = perf_available()
    if why is not None:
        doc["skipped"] = why
        print(f"peer_perf: skipped: {why}", file=sys.stderr)
    else:
        native.loadc_path()
        authz_server.fixture()
        assert api_scenarios.AUTHORIZE  # registers the authz servers
        os.sched_setaffinity(0, {CLIENT_CPU})
        work = Path(tempfile.mkdtemp(prefix="peer-perf-"))
        runs: list[dict[str, Any]] = []
        try:
            with contextlib.ExitStack() as stack:
                servers = {
                    "authz": stack.enter_context(spawn_server("authz")),
                    "cedar": stack.enter_context(spawn_server("cedar")),
                }
                for n in range(args.rounds):
                    base = (n + 1) * 10_000_000  # questions never asked in an earlier round
                    for scenario in args.scenario:
                        for side, server, build, items in PLAN[scenario]:
                            count = PER_ROUND if items == 1 else BATCH_ITEMS
                            run = profile_one(servers[server], build(base, count), items, args,
                                              work / f"{scenario}-{side}-{n}.data")  # fmt: skip
                            run.update(round=n + 1, scenario=scenario, side=side)
                            runs.append(run)
                            print(f"  round {n + 1} {scenario:8s} {side:8s} "
                                  f"{run['req_s']:8.0f} req/s  sampled "
                                  f"{run['sampled_cpu_us_per_req']:8.1f} µs/req  client-measured "
                                  f"{run['client_measured_cpu_us_per_req']:8.1f}",
                                  file=sys.stderr, flush=True)  # fmt: skip
        finally:
            shutil.rmtree(work, ignore_errors=True)
        doc["runs"] = runs
        doc["summary"] = summarize(runs)
    dest = write_result(args.out, "peer-perf", doc)
    md = dest.with_suffix(".md")
    md.write_text(markdown(doc))
    print(f"wrote {dest} and {md.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
