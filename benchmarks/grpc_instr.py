"""Instructions per call of a whole ``authz serve`` process, counted by callgrind while the C
load client sends a fixed number of calls: every thread of the server (gRPC's C core, its
Python glue, the edge, authentication, the decision) and nothing of the client, whatever
else the host is doing. Issue 16's signing cost is measured this way because on a shared
two-core machine the server's CPU time per call moved by ±10 % between identical runs
(``sigv4_bench``'s native runs), as much as the thing being measured.

    python benchmarks/grpc_instr.py [--calls 300] [--reps 2] [--out DIR]

One ``authz serve`` (the example repository, Bob's access key, as ``sigv4_bench``) runs under
``valgrind --tool=callgrind --instr-atstart=no``; once it serves, both variants are sent
uncounted (``WARM`` calls each: partitions compiled, memos and connections warm), then
instrumentation is switched on and the segments follow, each ended by a dump
(``callgrind_control --dump``): ``plain`` (``--calls`` distinct Authorize questions with the
plaintext secret metadata), ``signed`` (as many other distinct questions, each SigV4-signed by
the SDK just before its segment) and ``idle`` (no call, as long as the two before it), in
``--reps`` repetitions. The server's background threads wake with wall-clock time, which
valgrind slows ~50x, so each call segment has the idle segment's rate per second times its own
length subtracted. ``client_sign`` is the SDK's signing of one question, counted in-process
the same way (``instr_bench.py --scenario client-sign``) and read from ``--client-sign``.

Writes ``results/grpc-instr-<stamp>.json``: per segment the raw count, seconds and calls, and
per repetition the instructions per call of each variant and the ratios ``signed / plain - 1``
(the server's side of signing) and ``(signed + client_sign) / plain - 1`` (both sides).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from sigv4_bench import AUTHORIZE, BOB, authorize_body, free_port, wait_port  # noqa: E402

from authz.bench import native  # noqa: E402
from authz.bench.loadgen import LoadConfig  # noqa: E402
from authz.bench.report import write_result  # noqa: E402
from authz.client.credentials import AccessKeyCredentials  # noqa: E402
from authz.client.signing import signed_metadata  # noqa: E402
from authz.sts.credentials import open_credentials  # noqa: E402
from authz.sts.keys import KeyRing  # noqa: E402

WARM = 200  # uncounted calls of each variant before the first segment
START_TIMEOUT = 900.0  # seconds: imports and the first snapshot run ~50x slower under valgrind
_PART = re.compile(r"^part:\s+(\d+)", re.M)
_TOTALS = re.compile(r"^(?:totals|summary):\s+(\d+)", re.M)


def start(work: Path, out: Path) -> tuple[subprocess.Popen[bytes], int, AccessKeyCredentials]:
    repo = work / "policies"
    shutil.copytree(ROOT / "policies", repo)
    KeyRing.generate(work / "keys")
    state_url, state_key = f"sqlite:///{work / 'state.db'}", work / "state.key"
    with open_credentials(state_url, state_key) as store:
        key_id, secret = store.create(BOB)
    port = free_port()
    config = work / "authz.toml"  # a watcher ~50x slower must not look stale
    config.write_text("state_stale_seconds = 3600.0\n")
    argv = ["valgrind", "--tool=callgrind", "--instr-atstart=no", "--separate-threads=no",
            f"--callgrind-out-file={out}", sys.executable, "-m", "authz.cli", "serve",
            "--config", str(config), "--repo", str(repo), "--no-watch",
            "--listen", f"127.0.0.1:{port}",
            "--keys-dir", str(work / "keys"), "--state-url", state_url,
            "--state-key-file", str(state_key),
            "--drain-seconds", "0", "--allow-plaintext-secret"]  # fmt: skip
    env = dict(os.environ, PYTHONHASHSEED="0", PYTHONPATH=str(ROOT))
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_port(port, proc, timeout=START_TIMEOUT)
    return proc, port, AccessKeyCredentials(key_id, secret)


def request_file(work: Path, name: str, key: AccessKeyCredentials, first: int, calls: int,
                 signed: bool) -> Path:  # fmt: skip
    """``calls`` distinct Authorize questions from ``first``; signed now, or with the secret."""
    bodies = [authorize_body(first + i) for i in range(calls)]
    if signed:
        own = [signed_metadata(key, AUTHORIZE, b) for b in bodies]
        requests = native.RequestFile(AUTHORIZE, (), bodies, own)
    else:
        plain = (("x-authz-access-key-id", key.key_id), ("x-authz-secret-access-key", key.secret))
        requests = native.RequestFile(AUTHORIZE, plain, bodies)
    return native.write_request_file(work / f"{name}.bin", requests)


def send(path: Path, port: int, calls: int) -> int:
    """At least ``calls`` calls (closed loop, 4 in flight; the client may send one or two
    more as it stops), every one successful; returns how many were answered."""
    config = LoadConfig(concurrency=4, connections=1, duration_s=600, warmup_s=0,
                        max_requests=calls)  # fmt: skip
    result, _raw = native.run_loadc(path, f"127.0.0.1:{port}", config, scenario=path.stem)
    if result.successes < calls or result.errors or result.successes != result.requests:
        raise SystemExit(f"{path.stem}: {result.successes} of {result.requests} succeeded, "
                         f"{result.errors}")  # fmt: skip
    return result.successes


def control(pid: int, *args: str) -> None:
    subprocess.run(["callgrind_control", *args, str(pid)], check=True,
                   stdout=subprocess.DEVNULL)  # fmt: skip


def read_parts(out: Path) -> dict[int, int]:
    """{dump part: instructions} (all threads together)."""
    parts: dict[int, int] = {}
    for path in out.parent.glob(out.name + ".*"):
        text = path.read_text(errors="replace")
        part, totals = _PART.search(text), _TOTALS.search(text)
        if part and totals:
            parts[int(part.group(1))] = parts.get(int(part.group(1)), 0) + int(totals.group(1))
    return parts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--reps", type=int, default=2)
    parser.add_argument(
        "--client-sign",
        type=float,
        required=True,
        help="instructions of one SDK signature (instr_bench client-sign)",
    )
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    parser.add_argument("--keep", type=Path, help="a directory to keep the callgrind dumps in")
    args = parser.parse_args(argv)
    native.loadc_path()  # fails with the build command when loadc is not built
    work = Path(tempfile.mkdtemp(prefix="grpc-instr-"))
    out = work / "cg.out"
    started = time.monotonic()
    proc, port, key = start(work, out)
    print(json.dumps({"serving_after_s": round(time.monotonic() - started, 1)}), flush=True)
    order: list[dict[str, Any]] = []
    try:
        send(request_file(work, "warm-plain", key, 300_000_000, WARM, False), port, WARM)
        send(request_file(work, "warm-signed", key, 300_100_000, WARM, True), port, WARM)
        control(proc.pid, "-i", "on")
        control(proc.pid, "--dump=start")
        for rep in range(args.reps):
            base = 301_000_000 + rep * 10 * args.calls
            lengths = []
            for name, signed, first in (("plain", False, base),
                                        ("signed", True, base + 5 * args.calls)):  # fmt: skip
                path = request_file(work, name, key, first, args.calls, signed)
                t0 = time.monotonic()
                sent = send(path, port, args.calls)
                control(proc.pid, f"--dump={name}-{rep}")
                lengths.append(time.monotonic() - t0)
                order.append({"segment": f"{name}-{rep}", "calls": sent,
                              "seconds": lengths[-1]})  # fmt: skip
            t0 = time.monotonic()
            time.sleep(sum(lengths) / 2)
            control(proc.pid, f"--dump=idle-{rep}")
            order.append({"segment": f"idle-{rep}", "calls": 0, "seconds": time.monotonic() - t0})
            print(json.dumps(order[-3:]), flush=True)
        control(proc.pid, "-i", "off")
    finally:
        proc.terminate()
        try:
            proc.wait(120)
        except subprocess.TimeoutExpired:
            proc.kill()
    parts = read_parts(out)
    for k, entry in enumerate(order, start=2):  # part 1 ended with --dump=start
        entry["instructions"] = parts.get(k, 0)
    reps = []
    for rep in range(args.reps):
        seg = {e["segment"].rsplit("-", 1)[0]: e for e in order if e["segment"].endswith(f"-{rep}")}
        idle_rate = seg["idle"]["instructions"] / seg["idle"]["seconds"]
        per_call = {
            name: (seg[name]["instructions"] - idle_rate * seg[name]["seconds"])
            / seg[name]["calls"]
            for name in ("plain", "signed")
        }
        reps.append({
            "plain_per_call": round(per_call["plain"]),
            "signed_per_call": round(per_call["signed"]),
            "idle_per_second": round(idle_rate),
            "server_signing_cost": round(per_call["signed"] / per_call["plain"] - 1, 3),
            "both_sides_signing_cost": round(
                (per_call["signed"] + args.client_sign) / per_call["plain"] - 1, 3),
        })  # fmt: skip
    doc = {
        "benchmark": "grpc-instr",
        "command": f"python benchmarks/grpc_instr.py --calls {args.calls} --reps {args.reps} "
        f"--client-sign {args.client_sign:g}",
        "client_sign_per_call": args.client_sign,
        "segments": order,
        "reps": reps,
    }
    dest = write_result(args.out, "grpc-instr", doc)
    print(json.dumps(reps, indent=2))
    print(f"wrote {dest}")
    if args.keep is not None:  # e.g. callgrind_annotate --inclusive=yes KEEP/cg.out.2
        args.keep.mkdir(parents=True, exist_ok=True)
        for path in work.glob("cg.out*"):
            shutil.move(path, args.keep / path.name)
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
