"""The memory loops of issue 10 item 3, measured: ``authz serve`` in a subprocess, then
SimulateCustomPolicy calls with distinct large policies (default 1,000 calls of 6 x 128 KiB:
AWS caps a policy document at 131,072 characters and the server takes 10 per list) and
Authorize calls with distinct 2 KiB resources (default 1,000). Writes
``benchmarks/results/memory-<time>.json`` with the server's RSS before, after each loop, the
peak and samples along the way.

    python benchmarks/memory_loops.py [--simulate-calls 1000] [--authorize-calls 1000]
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from authz.bench.memory import run_memory_loops  # noqa: E402
from authz.bench.report import write_result  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--simulate-calls", type=int, default=1000)
    parser.add_argument("--authorize-calls", type=int, default=1000)
    parser.add_argument("--documents", type=int, default=6)
    parser.add_argument("--chars", type=int, default=131072)
    parser.add_argument("--sample-every", type=int, default=50)
    parser.add_argument("--repo", type=Path, default=ROOT / "policies")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as workdir:
        figures = run_memory_loops(
            Path(workdir),
            args.repo,
            simulate_calls=args.simulate_calls,
            authorize_calls=args.authorize_calls,
            documents=args.documents,
            chars=args.chars,
            # every request compiled in full (the default 2 s deadline would stop some)
            settings={"max_request_seconds": 120},
            sample_every=args.sample_every,
        )
    figures["machine"] = {"python": platform.python_version(), "cpus": _cpus()}
    figures["command"] = " ".join(["python", *sys.argv])
    path = write_result(args.out, "memory", figures)
    print(json.dumps(figures["rss_kib"]), file=sys.stderr)
    print(path)
    return 0


def _cpus() -> int:
    import os

    return os.cpu_count() or 0


if __name__ == "__main__":
    raise SystemExit(main())
