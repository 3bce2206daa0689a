"""Baseline: moto_server's STS AssumeRole, driven through boto3 by the authz load generator.

Starts ``moto_server`` on 127.0.0.1 (a free port, pinned to core 1 when there are two cores),
runs the ``moto-assume-role`` scenario (boto3 with dummy credentials, endpoint checked to be
loopback; see ``authz/bench/moto.py``) in a closed loop, prints throughput and percentiles,
writes the JSON + summary like any ``authz bench`` run, and stops moto. Issue 6 asks authz's
AssumeRole to reach at least 5x this throughput; ``authz bench --scenario harness-sts,
moto-assume-role`` measures both in one run and prints the ratio.

    python benchmarks/harness/moto_sts.py [--duration 10] [--concurrency 8] [--client-procs 1]

Any other ``authz bench`` option passes through. Needs ``moto[server]`` and ``boto3`` (dev extras).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # run as a script

from authz.bench.cli import main

DEFAULTS = ["--scenario", "moto-assume-role", "--spawn", "moto", "--concurrency", "8"]

if __name__ == "__main__":
    sys.exit(main([*DEFAULTS, *sys.argv[1:]]))
